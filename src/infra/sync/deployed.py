"""The deployed side of a stage, read through its nested stacks and cached (thin I/O).

What one sync costs on AWS, whatever the size of the stage:
- DescribeStacks on the root (state, termination protection, parameters, LastUpdatedTime);
- the root's deployed template, read once per root update (cached by stack id and update time):
  each nested stack's TemplateURL ends in the SHA-256 of the template `package` uploaded, so a
  child whose generated template has the same hash is unchanged, with no call at all;
- for a changed child only: its deployed template (cached by that hash, which never goes stale),
  the physical ids of the nested stack and of the resources sync touches (DescribeStackResource,
  cached until the root is updated again), and its parameters when a value refers to one.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.deploy.manifest import Build
from infra.deploy.session import Aws, error_code
from infra.deploy.stack_state import StackInfo
from infra.deploy.sync_ledger import body
from infra.digest import sha256
from infra.errors import DeployError
from infra.render import compact_json, replace_file

DEFAULT_CACHE = Path(".cache/sync")


def template_key(template: dict[str, Any]) -> str:
    """The S3 key `package` uploads a child template under (templates/<sha256 of compact JSON>.json)."""
    return f"templates/{sha256(compact_json(template)).hexdigest()}.json"


class DeployedStage:
    """One deployed stage, as sync needs it; `save()` keeps what was learnt for the next run."""

    def __init__(self, aws: Aws, build: Build, root: StackInfo, cache_dir: Path = DEFAULT_CACHE):
        self.aws, self.build, self.root = aws, build, root
        self.cfn = aws.client("cloudformation")
        self.cache_dir = cache_dir
        self._file = cache_dir / f"{build.stack_name}.{aws.region}.json"
        stamp = f"{root.stack_id}@{root.last_updated.isoformat() if root.last_updated else ''}"
        data = self._read(self._file)
        if data.get("stamp") != stamp:
            data = {"stamp": stamp}
        self._data = data
        self._dirty = False
        self._parameters: dict[str, dict[str, str]] = {}

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def save(self) -> None:
        if not self._dirty:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            replace_file(self._file, json.dumps(self._data, sort_keys=True).encode())
        except OSError:
            pass  # a cache that cannot be written only costs time
        self._dirty = False

    # -- templates --------------------------------------------------------------------------------
    def root_template(self) -> dict[str, Any]:
        if "root_template" not in self._data:
            self._data["root_template"] = body(self.cfn.get_template(StackName=self.root.stack_id,
                                                                     TemplateStage="Original"))
            self._dirty = True
        return self._data["root_template"]

    def child_url(self, child: str) -> str | None:
        res = (self.root_template().get("Resources") or {}).get(child) or {}
        url = (res.get("Properties") or {}).get("TemplateURL")
        return url if isinstance(url, str) else None

    def generated_key(self, path: Path) -> tuple[str, dict[str, Any] | None]:
        """`template_key` of a generated template file, and the template when it had to be parsed:
        keys are remembered by the SHA-256 of the file's bytes, so an unchanged file costs a hash
        (large templates take far longer to parse and serialise again)."""
        data = path.read_bytes()
        digest = sha256(data).hexdigest()
        keys = self._data.setdefault("generated_keys", {})
        if digest in keys:
            return str(keys[digest]), None
        template = json.loads(data)
        if len(keys) > 1000:   # one entry per save of a changed template: keep the file small
            keys.clear()
        keys[digest] = template_key(template)
        self._dirty = True
        return str(keys[digest]), template

    def child_key(self, child: str) -> str | None:
        """The content key of the child's deployed template, when `package` uploaded it."""
        url = self.child_url(child) or ""
        key = "templates/" + url.rsplit("/templates/", 1)[-1] if "/templates/" in url else ""
        return key or None

    def child_template(self, child: str) -> dict[str, Any]:
        key = self.child_key(child)
        cached = self.cache_dir / key if key else None
        if cached is not None:
            data = self._read(cached)
            if data:
                return data
        template = body(self.cfn.get_template(StackName=self.physical_id("", child), TemplateStage="Original"))
        if cached is not None and template_key(template) == key:
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                replace_file(cached, json.dumps(template).encode())
            except OSError:
                pass
        return template

    # -- physical ids -----------------------------------------------------------------------------
    def physical_id(self, child: str, logical_id: str) -> str:
        """Physical id of `logical_id` in the nested stack `child` ("" = the root)."""
        names = self._data.setdefault("names", {})
        key = f"{child}/{logical_id}" if child else logical_id
        if key not in names:
            stack = self.physical_id("", child) if child else self.root.stack_id
            where = f"{self.build.stack_name}/{child}" if child else self.build.stack_name
            try:
                answer = self.cfn.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
            except Exception as exc:
                if error_code(exc) == "ValidationError":
                    raise DeployError(f"{where} has no resource {logical_id}: it was deployed from other "
                                      f"templates; run deploy.") from None
                raise
            detail = answer["StackResourceDetail"]
            physical = detail.get("PhysicalResourceId")
            if not physical or detail.get("ResourceStatus", "").startswith("DELETE"):
                raise DeployError(f"{where} > {logical_id} does not exist in CloudFormation "
                                  f"({detail.get('ResourceStatus', 'no physical id')}); run deploy.")
            names[key] = physical
            self._dirty = True
        return str(names[key])

    def forget(self, child: str, logical_id: str) -> None:
        self._data.get("names", {}).pop(f"{child}/{logical_id}", None)
        self._dirty = True

    def parameters(self, child: str) -> dict[str, str]:
        """The deployed nested stack's parameter values (DescribeStacks)."""
        if child not in self._parameters:
            stack = self.cfn.describe_stacks(StackName=self.physical_id("", child))["Stacks"][0]
            self._parameters[child] = {p["ParameterKey"]: p.get("ParameterValue", "")
                                       for p in stack.get("Parameters") or []}
        return self._parameters[child]

    def account(self) -> str:
        """The account, from the root stack's ARN (no STS call)."""
        parts = self.root.stack_id.split(":")
        return parts[4] if len(parts) > 5 else self.aws.account_id()
