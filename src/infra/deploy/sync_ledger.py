"""What sync applied outside CloudFormation, kept beside the stage's artifacts.

In the deploy layer, beside `drift` and `diff`, which show it: `infra.sync` writes it.

One JSON object in the artifact bucket (the root's AssetBucket parameter), `sync/<stack>.json`:
the root stack's id, and an entry per synced resource, with the key of the nested template that
was deployed when it was synced (its `base`). Entries count for that stack only: a stage destroyed
and deployed again has another id (and its templates may well have the same keys), so what was
synced into the old one is nothing to the new one; `destroy` deletes the object too. An entry
counts while that nested stack still has that template: the next deploy that updates the stack
records the change in CloudFormation, and the entry is over.
Whoever runs `diff` or `drift` (another machine, CI) reads the same object, and each entry is
checked against the live resource, so what is shown as synced is what is live.
"""
from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.deploy.session import Aws, aws_exceptions, error_code
from infra.deploy.stack_state import NESTED_STACK_TYPE, StackInfo
from infra.deploy.ui import Ui
from infra.resource_types import FUNCTION, REST_API, STAGE

ASSET_BUCKET = "AssetBucket"


def body(answer: dict[str, Any]) -> dict[str, Any]:
    """GetTemplate's TemplateBody (botocore parses JSON bodies; emulators may give a string)."""
    raw = answer.get("TemplateBody")
    return json.loads(raw) if isinstance(raw, str) else dict(raw or {})


def ledger_key(stack_name: str) -> str:
    return f"sync/{stack_name}.json"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Synced:
    """One resource that is live as sync left it, not as CloudFormation last deployed it."""

    label: str                 # catalog-dev/Compute > UsersFunction
    stack_label: str           # catalog-dev/Compute
    logical_id: str
    resource_type: str
    physical_id: str
    what: tuple[str, ...]      # code, environment, memory, timeout, API definition
    at: str
    still_live: bool = True    # False: changed again since the sync (an API: its stage serves another deployment)

    def line(self) -> str:
        state = ""
        if not self.still_live:   # an API is live through its stage, which a deploy may point elsewhere
            state = ("; its stage no longer serves the synced deployment" if self.resource_type in (REST_API, STAGE)
                     else "; changed again since (not by sync)")
        return f"{self.label} ({self.physical_id}): {', '.join(self.what)} (synced {self.at}{state})"


class Ledger:
    def __init__(self, aws: Aws, root: StackInfo, stack_name: str | None = None):
        bucket = root.parameters.get(ASSET_BUCKET)
        self.s3 = aws.client("s3") if bucket else None
        self.bucket, self.key, self.stack_id = bucket, ledger_key(stack_name or root.name), root.stack_id

    def read(self) -> dict[str, dict[str, Any]]:
        """The entries of this root stack; none when the object is another stack's (an earlier
        stage of the same name, destroyed since). One written before ledgers named their stack
        (the entries alone) is read as this stack's: what it says is live is checked against the
        live resources before it counts, and the next write names the stack."""
        if self.s3 is None:
            return {}
        try:
            data = json.loads(self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read())
        except aws_exceptions() as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NoSuchBucket", "AccessDenied", "403"):
                return {}
            raise
        except ValueError:
            return {}
        if not isinstance(data, dict):
            return {}
        if "stack_id" not in data and all(isinstance(e, dict) and "base" in e for e in data.values()):
            return data   # the earlier format
        if data.get("stack_id") != self.stack_id:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def write(self, entries: dict[str, dict[str, Any]]) -> None:
        if self.s3 is None:
            return
        self.s3.put_object(Bucket=self.bucket, Key=self.key, ContentType="application/json",
                           Body=json.dumps({"stack_id": self.stack_id, "entries": entries}, indent=1,
                                           sort_keys=True).encode())

    def delete(self) -> None:
        """Forget everything (the stage is destroyed); best effort: a stale object is ignored anyway."""
        if self.s3 is None:
            return
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)
        except aws_exceptions():
            pass


def record(entries: dict[str, dict[str, Any]], key: str, entry: dict[str, Any]) -> None:
    """Add `entry`; an earlier one over the same deployed template accumulates what was synced."""
    old = entries.get(key)
    if old and old.get("base") == entry.get("base"):
        entry = {**entry, "what": sorted(set(old.get("what", [])) | set(entry["what"]))}
    entries[key] = entry


def current(entries: dict[str, dict[str, Any]], child_keys: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    """Entries whose nested stack still has the template they were synced over."""
    return {k: e for k, e in entries.items()
            if child_keys.get(str(e.get("stack", ""))) is not None and child_keys[str(e["stack"])] == e.get("base")}


def outstanding(aws: Aws, stack_name: str, root: StackInfo) -> list[Synced]:
    """What sync changed that CloudFormation has not recorded yet, each checked against the live resource.

    Costs one S3 read when nothing was ever synced; else also the root's template and one call
    per synced resource."""
    entries = Ledger(aws, root, stack_name).read()
    if not entries:
        return []
    found = []
    for _, entry in sorted(current(entries, child_keys(aws, root)).items()):
        found.append(Synced(entry["label"], f"{stack_name}/{entry['stack']}", entry["logical_id"], entry["type"],
                            entry["physical_id"], tuple(entry.get("what", [])), entry.get("at", "?"),
                            still_live(aws, entry)))
    return found


def child_keys(aws: Aws, root: StackInfo) -> dict[str, str | None]:
    """Each nested stack's logical id -> the S3 key of the template the root deploys it from."""
    root_template = body(aws.client("cloudformation").get_template(StackName=root.stack_id, TemplateStage="Original"))
    keys: dict[str, str | None] = {}
    for lid, res in (root_template.get("Resources") or {}).items():
        if isinstance(res, dict) and res.get("Type") == NESTED_STACK_TYPE:
            url = str((res.get("Properties") or {}).get("TemplateURL", ""))
            keys[lid] = "templates/" + url.rsplit("/templates/", 1)[-1] if "/templates/" in url else None
    return keys


def keys_before(aws: Aws, stack_name: str, root: StackInfo | None) -> dict[str, str | None] | None:
    """Before a deploy: each nested stack's template key, when the ledger holds anything (else
    None, after one S3 read): `prune` carries over only what was current then."""
    if root is None or not Ledger(aws, root, stack_name).read():
        return None
    return child_keys(aws, root)


def prune(aws: Aws, stack_name: str, root: StackInfo,
          before: dict[str, str | None] | None = None) -> list[dict[str, Any]]:
    """After a deploy: forget the entries it made CloudFormation record (their stack got another
    template), and carry over, onto the new template, those of resources it left alone; return
    those. `before` (`keys_before`): the templates before the deploy; only entries current then
    are carried over. Forgotten entries would count again if a later deploy brought back the template they
    were synced over (an edit deployed, then undone), and show as synced what CloudFormation had
    long replaced. A resource whose definition is the same in both templates (an edit synced, then
    undone, while another resource of its stack changed) is not touched by CloudFormation: it still
    runs what sync put there, which only sync puts back. Costs one S3 read when nothing was ever
    synced."""
    book = Ledger(aws, root, stack_name)
    entries = book.read()
    if not entries:
        return []
    templates: dict[str, dict[str, Any] | None] = {}
    kept, carried = carry_over(entries, child_keys(aws, root), before,
                               lambda key, lid: _resource(book, templates, key, lid),
                               lambda entry: still_live(aws, entry))
    if kept != entries:
        book.write(kept)
    return carried


def carry_over(entries: dict[str, dict[str, Any]], keys: dict[str, str | None],
               before: dict[str, str | None] | None,
               definition: Callable[[str, str], dict[str, Any] | None],
               live: Callable[[dict[str, Any]], bool]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The ledger after a deploy (`prune`'s decision, without I/O): the entries still current
    (`keys`: each nested stack's template now), and those current before it (`before`) whose
    resource it left alone (`untouched`, from `definition(template key, logical id)`) and that are
    still `live`, moved onto the new template; and the list of the latter."""
    kept = current(entries, keys)
    carried: list[dict[str, Any]] = []
    for name, entry in sorted(entries.items()):
        stack = str(entry.get("stack", ""))
        new = keys.get(stack)
        if name in kept or new is None or not isinstance(entry.get("base"), str):
            continue
        if before is None or before.get(stack) != entry["base"]:   # not live through sync before this deploy
            continue
        lid = str(entry.get("logical_id", ""))
        left = untouched(entry, definition(entry["base"], lid), definition(new, lid))
        # And still live: a definition that reads a nested-stack parameter the deploy changed (a
        # layer's new ARN) looks the same, yet CloudFormation updated the resource.
        if left is not None and live(left):
            kept[name] = left | {"base": new}
            carried.append(kept[name])
    return kept, carried


def untouched(entry: dict[str, Any], before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """What of a ledger entry a deploy from the template holding `before` to the one holding
    `after` (the resource's definitions) leaves live: all of it when the definition did not
    change (CloudFormation does not touch the resource); of a function whose definition changed
    but not its Code, the synced code alone (CloudFormation sets its configuration from the
    template, its code only when Code changed); of a stage whose other settings changed (its
    throttling, its logging) but not its DeploymentId, the synced deployment (CloudFormation's
    UpdateStage has no new deployment to point it at); else nothing (None). `prune` then keeps
    only what is still live, so a CloudFormation that did reset the stage drops the entry."""
    if before is None or after is None:
        return None
    if before == after:
        return entry
    old, new = before.get("Properties") or {}, after.get("Properties") or {}
    same = before.get("Type") == after.get("Type")
    if entry.get("type") == FUNCTION and entry.get("code_sha256") and same \
            and all(old.get(p) == new.get(p) for p in CODE_PROPERTIES):
        return {**entry, "config": {}, "what": ["code"]}
    if entry.get("type") == STAGE and entry.get("deployment") and same \
            and all(old.get(p) == new.get(p) for p in DEPLOYMENT_PROPERTIES):
        return entry
    return None


# What makes CloudFormation send a function's code again (UpdateFunctionCode takes Architectures
# too) or replace the function.
CODE_PROPERTIES = ("Code", "Architectures", "PackageType", "FunctionName")
# What points a stage at another deployment (DeploymentId) or replaces it (RestApiId, StageName: "Update
# requires: Replacement" in https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-apigateway-stage.html).
DEPLOYMENT_PROPERTIES = ("DeploymentId", "RestApiId", "StageName")


def _resource(book: Ledger, cache: dict[str, dict[str, Any] | None], key: str, logical_id: str) -> dict[str, Any] | None:
    """The definition of `logical_id` in the nested template stored at `key` in the artifact bucket
    (None when it is not there: a template removed since, or no such resource)."""
    if key not in cache:
        try:
            cache[key] = None if book.s3 is None else json.loads(
                book.s3.get_object(Bucket=book.bucket, Key=key)["Body"].read())
        except aws_exceptions():
            cache[key] = None
        except ValueError:   # not JSON
            cache[key] = None
    template = cache[key]
    resources = (template or {}).get("Resources") if isinstance(template, dict) else None
    found = resources.get(logical_id) if isinstance(resources, dict) else None
    return found if isinstance(found, dict) else None


def live_value(live: dict[str, Any], prop: str) -> Any:
    """A setting of a function's live configuration (GetFunctionConfiguration) in its template
    form: Environment as {"Variables": {...}}, which Lambda leaves out when there are none."""
    if prop == "Environment":
        return {"Variables": (live.get("Environment") or {}).get("Variables") or {}}
    return live.get(prop)


def still_live(aws: Aws, entry: dict[str, Any]) -> bool:
    """The live resource still has what the sync applied (its code, its settings, its deployment)."""
    try:
        if entry["type"] == FUNCTION and (entry.get("code_sha256") or entry.get("config")):
            live = aws.client("lambda").get_function_configuration(FunctionName=entry["physical_id"])
            if entry.get("code_sha256") and live.get("CodeSha256") != entry["code_sha256"]:
                return False
            return all(live_value(live, prop) == value for prop, value in (entry.get("config") or {}).items())
        if entry.get("deployment") and entry.get("stage"):
            stage = aws.client("apigateway").get_stage(restApiId=entry.get("rest_api_id", entry["physical_id"]),
                                                       stageName=entry["stage"])
            return bool(stage.get("deploymentId") == entry["deployment"])
    except aws_exceptions():
        return False
    return True


def show(ui: Ui, items: list[Synced], *, heading: str) -> None:
    if not items:
        return
    ui.say(heading, style="bold yellow")
    for item in items:
        ui.say(f"  SYNCED {item.line()}", style=None if item.still_live else "bold red")


SYNCED_PROPERTIES = {"Code", "Environment", "MemorySize", "Timeout", "Body", "DeploymentId"}
DIFF_HEADING = "Already live through sync (in the diff above; this deploy records them in CloudFormation):"
DRIFT_HEADING = ("Synced outside CloudFormation by sync (not unexplained drift; the next deploy records them in "
                 "CloudFormation):")


def report(aws: Aws, stack_name: str, root: StackInfo | None, ui: Ui, heading: str) -> list[Synced]:
    """Show what is live through sync (for diff and drift); the items shown."""
    from infra.deploy.session import aws_errors

    with aws_errors(f"reading what sync changed in {stack_name}"):
        items = synced_for(aws, stack_name, root)
    show(ui, items, heading=heading)
    return items


def explains(items: list[Synced], stack_label: str, logical_id: str, paths: list[str]) -> bool:
    """True when drift of `logical_id` in `stack_label` (its property `paths`) is what sync did."""
    tops = {p.strip("/").split("/")[0] for p in paths}
    return any(i.still_live and i.stack_label == stack_label and i.logical_id == logical_id for i in items) \
        and tops <= SYNCED_PROPERTIES


def synced_for(aws: Aws, stack_name: str, root: StackInfo | None) -> list[Synced]:
    """`outstanding` for a stage whose root may not exist."""
    return [] if root is None else outstanding(aws, stack_name, root)
