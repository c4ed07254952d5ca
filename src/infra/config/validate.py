"""Cross-field checks: everything the types alone cannot say (references, CIDRs, lengths)."""
from __future__ import annotations

import datetime
import importlib.machinery
import ipaddress
import json
import re
from functools import lru_cache
from pathlib import Path

from infra.config import release, traffic
from infra.config.schema import CONFIG_TAG, OWN_TAGS, Config, Function, Table
from infra.config.names import logical_id
from infra.config.typed import Loader, key_path
from infra.errors import first_few

JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array")
# Lambda reserves these names; setting one fails at deploy time.
RESERVED_ENV = {"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION",
                "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
                "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}
ENV_REF = re.compile(r"\$\{([^}]*)\}")
# The start of a reference that never closes; other text with "${" (a password, a message
# template) is the value itself.
UNCLOSED_REF = re.compile(r"\$\{(?:tables|buckets|secret|key)\.")


@lru_cache(maxsize=1)
def runtime_lifecycle() -> dict:
    """Lambda runtime deprecation dates, from the data cfn-lint ships (rule W2531)."""
    # The path finder itself (loaded with the interpreter): importlib.util would import more, a
    # millisecond of every generator start. It asks the other finders (an editable install's) after.
    spec = importlib.machinery.PathFinder.find_spec("cfnlint")
    if spec is None:
        from importlib.util import find_spec

        spec = find_spec("cfnlint")
    base = Path(next(iter(spec.submodule_search_locations)))
    return json.loads((base / "data" / "AdditionalSpecs" / "LmbdRuntimeLifecycle.json").read_text())


RUNTIME_FAMILY = re.compile(r"(python|nodejs)(\d+)(?:\.(\d+)|\.x)$")


def newest_runtime(family: str, on: datetime.date) -> str:
    """The newest runtime of `family` ('python' or 'nodejs') that cfn-lint's lifecycle data lists
    as not yet deprecated on the date `on` (a parameter, so callers and tests pin it)."""
    best: tuple[tuple[int, int], str] | None = None
    for name, life in runtime_lifecycle().items():
        m = RUNTIME_FAMILY.match(name)
        if not m or m.group(1) != family:
            continue
        deprecated = life.get("deprecated")
        if deprecated and datetime.date.fromisoformat(deprecated) <= on:
            continue
        version = (int(m.group(2)), int(m.group(3) or 0))
        if best is None or version > best[0]:
            best = (version, name)
    if best is None:
        raise ValueError(f"cfn-lint lists no current {family} runtime on {on}")
    return best[1]


def validate(cfg: Config, ld: Loader, today: datetime.date) -> None:
    """Raise ConfigError on the first cross-field problem, in file order.

    `today` decides which runtimes are deprecated (an input, so tests can pin it)."""
    _tags(cfg, ld)
    _network(cfg, ld)
    _secret(cfg, ld)
    _tables(cfg, ld)
    _functions(cfg, ld, today)
    _api(cfg, ld)
    _features(cfg, ld)
    _releases(cfg, ld)
    _names(cfg, ld)


# AWS's tag rules ("Tag naming limits and requirements",
# https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html): keys of 1-128 and values
# of 0-256 characters, letters, digits, spaces and _ . : / = + - @; the aws: prefix is AWS's own;
# at most 50 tags on a resource.
_TAG_TEXT = re.compile(r"[\w .:/=+\-@]*")


def _tags(cfg: Config, ld: Loader) -> None:
    tags = cfg.project.tags
    for name, value in tags.items():
        key = key_path("project.tags", name)
        if name in OWN_TAGS:
            ld.fail(key, f"every resource is tagged {name} from {OWN_TAGS[name]}, which this tag would contradict.",
                    f"remove it{' and set project.managed_by' if name == 'ManagedBy' else ''}.")
        if name.lower().startswith("aws:"):
            ld.fail(key, "tag keys that start with 'aws:' are reserved for AWS.", "use another prefix.")
        if name == CONFIG_TAG:
            ld.fail(key, "deploy tags the stage's stacks with the config file that owns them under this key.",
                    "use another key.")
        if not 1 <= len(name) <= 128 or not _TAG_TEXT.fullmatch(name):
            ld.fail(key, "is not a valid tag key.", "use 1-128 letters, digits, spaces and _ . : / = + - @.")
        if len(value) > 256 or not _TAG_TEXT.fullmatch(value):
            ld.fail(key, "is not a valid tag value.", "use at most 256 letters, digits, spaces and _ . : / = + - @.")
    managed_by = cfg.project.managed_by
    if not 1 <= len(managed_by) <= 256 or not _TAG_TEXT.fullmatch(managed_by):
        ld.fail("project.managed_by", "is the ManagedBy tag's value, and not a valid one.",
                "use 1-256 letters, digits, spaces and _ . : / = + - @.")
    ours = len(OWN_TAGS) + 1   # and the stack's CONFIG_TAG, which CloudFormation passes on to resources
    if len(tags) + ours > 50:
        ld.fail("project.tags", f"{len(tags)} tags, and every resource gets {ours} more ({', '.join(OWN_TAGS)} "
                f"and {CONFIG_TAG}); AWS allows 50.", f"keep at most {50 - ours}.")


def _network(cfg: Config, ld: Loader) -> None:
    net = cfg.network
    if not net:
        return
    try:
        cidr = ipaddress.IPv4Network(net.cidr, strict=True)
    except ValueError as exc:
        ld.fail("network.cidr", f"'{net.cidr}' is not a valid IPv4 network ({exc}).",
                "write a network address with its prefix, e.g. '10.0.0.0/16'.")
    if not 16 <= cidr.prefixlen <= 24:
        ld.fail("network.cidr", f"a /{cidr.prefixlen} VPC is not allowed.", "use a prefix from /16 to /24.")
    if net.subnet_prefix <= cidr.prefixlen:
        ld.fail("network.subnet_prefix", f"/{net.subnet_prefix} subnets do not fit in {net.cidr}.",
                f"use a prefix longer than /{cidr.prefixlen}.")
    needed = 2 * net.availability_zones
    if 2 ** (net.subnet_prefix - cidr.prefixlen) < needed:
        ld.fail("network.subnet_prefix", f"{net.cidr} holds fewer than the {needed} /{net.subnet_prefix} "
                "subnets needed (public + private per AZ).", "use longer subnet prefixes or a larger VPC.")
    if net.nat_gateways > net.availability_zones:
        ld.fail("network.nat_gateways", f"{net.nat_gateways} NAT gateways for {net.availability_zones} AZs.",
                "use at most one NAT gateway per availability zone.")


def _secret(cfg: Config, ld: Loader) -> None:
    if not cfg.secret:
        return
    rotation = cfg.secret.rotation_function
    if rotation not in cfg.functions:
        ld.fail("secret.rotation_function", f"no function named '{rotation}'.", _known("functions", cfg.functions))
    _not_serving_api(cfg, ld, "secret.rotation_function", rotation,
                     "Secrets Manager invokes a rotation function with its rotation steps, by its own ARN",
                     'declare a function of its own for the rotation (source = "handlers/rotation").')
    granted = cfg.functions[rotation].access.secret
    if granted != "rotate":
        ld.fail(f"functions.{rotation}.access.secret",
                f"'{rotation}' rotates the secret (secret.rotation_function), but its access is "
                f"{repr(granted) if granted else 'not set'}: its role could not store the new password.",
                f'set secret = "rotate" under [functions.{rotation}.access].')


def _not_serving_api(cfg: Config, ld: Loader, key: str, name: str, invoked: str, fix: str) -> None:
    """A function AWS invokes for its own purpose (a rotation, a release hook) is not an API
    function too: it would get those events beside the API's, and it is never released through
    an alias, so its routes would silently lose their gradual release."""
    served = release.serves_api(cfg, name)
    if served:
        ld.fail(key, f"'{name}' serves the API ({first_few(served, 3)}); {invoked}, so it would get those events beside the "
                "API's, and it is never released through an alias: its API traffic would skip the gradual "
                "releases of production stages.", fix)


def _key_name(spec: str) -> str:
    return spec.split(":")[0]


def _tables(cfg: Config, ld: Loader) -> None:
    # The logical-ID prefix of each table's resources and of each index's (scaling, alarm): one
    # resource per ID in a stack, so two parts that would share one are refused here.
    prefixes = {logical_id(name): f"table '{name}'" for name in cfg.tables}
    for name, t in cfg.tables.items():
        key = f"tables.{name}"
        if t.sort_key and _key_name(t.sort_key) == _key_name(t.partition_key):
            ld.fail(f"{key}.sort_key", "is the same attribute as the partition key.",
                    "use a different attribute name, or leave sort_key out.")
        if t.billing == "on-demand" and t.autoscaling:
            ld.fail(f"{key}.autoscaling", "auto scaling applies to provisioned tables only.",
                    "remove [autoscaling] or set billing = \"provisioned\".")
        _indexes(t, key, ld, name, prefixes)


# A table has at most 20 global secondary indexes (DynamoDB's default quota):
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#gsi-limits
MAX_INDEXES = 20


def _indexes(t: Table, key: str, ld: Loader, table_name: str, prefixes: dict[str, str]) -> None:
    """Each index's keys are attributes of one type across the table (CloudFormation defines each
    attribute once, in AttributeDefinitions), and capacity belongs to provisioned tables only."""
    if len(t.indexes) > MAX_INDEXES:
        ld.fail(f"{key}.indexes", f"declares {len(t.indexes)} indexes; a table may have at most {MAX_INDEXES}.",
                "remove some, or ask AWS for a higher quota and split the table meanwhile.")
    types = {_key_name(k): k for k in (t.partition_key, t.sort_key) if k}
    for name, index in t.indexes.items():
        where = f"{key}.indexes.{name}"
        if index.sort_key and _key_name(index.sort_key) == _key_name(index.partition_key):
            ld.fail(f"{where}.sort_key", "is the same attribute as the index's partition key.",
                    "use a different attribute name, or leave sort_key out.")
        for field, spec in (("partition_key", index.partition_key), ("sort_key", index.sort_key)):
            if not spec:
                continue
            known = types.setdefault(_key_name(spec), spec)
            if known != spec:
                ld.fail(f"{where}.{field}", f"says '{spec}', but '{known}' is declared elsewhere on this table.",
                        f"use '{known}': an attribute has one type across a table and its indexes.")
        prefix = logical_id(table_name, name, "Index")
        clash = prefixes.setdefault(prefix, where)
        if clash != where:
            ld.fail(where, f"its resources' logical IDs ({prefix}...) would be those of {clash}.",
                    f"rename the index or {clash}.")
        if t.billing == "on-demand" and (index.read_capacity or index.write_capacity):
            ld.fail(f"{where}.read_capacity" if index.read_capacity else f"{where}.write_capacity",
                    "capacity applies to indexes of provisioned tables only.",
                    "remove it (an on-demand table's indexes are on demand too) or set billing = \"provisioned\".")


def _names(cfg: Config, ld: Loader) -> None:
    """Every generated name (buckets, functions, log groups, parameters, ...) within AWS's limits."""
    from infra.config.names import problems

    for key, problem, fix in problems(cfg):
        ld.fail(key, problem, fix)


def _functions(cfg: Config, ld: Loader, today: datetime.date) -> None:
    root = Path(cfg.root)
    for name, fn in cfg.functions.items():
        key = f"functions.{name}"
        _runtime(fn.runtime, f"{key}.runtime", ld, today)
        if fn.vpc and not cfg.network:
            ld.fail(f"{key}.vpc", "the function runs in the VPC but the config has no [network].",
                    "add a [network] table or set vpc = false.")
        src = root / fn.source
        try:
            found = src.is_dir()
        except OSError as exc:   # a name the file system refuses (too long, ...): the config's value
            ld.fail(f"{key}.source", f"'{fn.source[:80]}' cannot be a directory here ({exc.strerror or exc}).",
                    "point source at an existing directory.")
        if not found:
            ld.fail(f"{key}.source", f"handler directory '{fn.source}' does not exist.",
                    f"create it or point source at an existing directory (relative to {root}).")
        module = fn.handler.rsplit(".", 1)[0]
        exts = (".py",) if fn.runtime.startswith("python") else (".mjs", ".js", ".cjs")
        if not any((src / f"{module}{ext}").is_file() for ext in exts):
            ld.fail(f"{key}.handler", f"'{fn.handler}' needs {module}{exts[0]} in '{fn.source}', which is missing.",
                    "fix the handler name or add the file.")
        _dependencies(fn, key, ld)
        for table in fn.access.tables:
            if table not in cfg.tables:
                ld.fail(f"{key}.access.tables.{table}", f"no table named '{table}'.", _known("tables", cfg.tables))
        for bucket in fn.access.buckets:
            if bucket not in cfg.buckets:
                ld.fail(f"{key}.access.buckets.{bucket}", f"no bucket named '{bucket}'.", _known("buckets", cfg.buckets))
        if fn.access.secret and not cfg.secret:
            ld.fail(f"{key}.access.secret", "the config has no [secret].", "add [secret] or remove this access.")
        if fn.on_failure_bucket and fn.on_failure_bucket not in cfg.buckets:
            ld.fail(f"{key}.on_failure_bucket", f"no bucket named '{fn.on_failure_bucket}'.",
                    _known("buckets", cfg.buckets))
        for var, value in fn.environment.items():
            if var in RESERVED_ENV:
                ld.fail(f"{key}.environment.{var}", "is reserved by the Lambda runtime.", "choose another name.")
            for ref in ENV_REF.findall(value):
                _env_ref(cfg, ref, f"{key}.environment.{var}", ld)
            if UNCLOSED_REF.search(ENV_REF.sub("", value)):  # it would reach the function as literal text
                ld.fail(f"{key}.environment.{var}", f"'{value}' opens a '${{' reference it does not close.",
                        "end the reference with '}', e.g. ${tables.NAME.name}.")


def _dependencies(fn: Function, key: str, ld: Loader) -> None:
    """The dependency options fit the function's language. (Whether its source folder declares
    dependencies, and declares them buildably, is checked where they are built: infra.bundle.)"""
    python = fn.runtime.startswith("python")
    if fn.layer and not python:
        ld.fail(f"{key}.layer", "applies to Python functions: a Node.js function's dependencies are bundled "
                "into one tree-shaken file with its code.", "remove layer.")
    if fn.source_map and python:
        ld.fail(f"{key}.source_map", "applies to Node.js functions with dependencies (bundled by esbuild); "
                "Python functions ship their sources as they are.", "remove source_map.")


def _runtime(runtime: str, key: str, ld: Loader, today: datetime.date) -> None:
    life = runtime_lifecycle().get(runtime)
    if life is None:
        ld.fail(key, f"'{runtime}' is not a Lambda runtime.", "use e.g. 'python3.14' or 'nodejs24.x'.")
    deprecated = life.get("deprecated")
    if deprecated and datetime.date.fromisoformat(deprecated) <= today:
        successor = life.get("successor")
        ld.fail(key, f"'{runtime}' is deprecated since {deprecated}.",
                f"use '{successor}'." if successor else "use a current runtime.")


def static_reference(cfg: Config, ref: str) -> str | None:
    """The value of a reference the config alone decides (`tables.X.indexes.Y.name`: the index's
    name), None for one that only a deployed stage can say (a table's name, a key's ID)."""
    parts = ref.split(".")
    if (len(parts) == 5 and parts[0] == "tables" and parts[1] in cfg.tables and parts[2] == "indexes"
            and parts[3] in cfg.tables[parts[1]].indexes and parts[4] == "name"):
        return parts[3]
    return None


def _env_ref(cfg: Config, ref: str, key: str, ld: Loader) -> None:
    parts = ref.split(".")
    ok = (
        static_reference(cfg, ref) is not None
        or (len(parts) == 3 and parts[0] == "tables" and parts[1] in cfg.tables and parts[2] in ("name", "arn"))
        or (len(parts) == 3 and parts[0] == "buckets" and parts[1] in cfg.buckets and parts[2] in ("name", "arn"))
        or (parts[0] == "secret" and cfg.secret is not None and parts[1:] == ["arn"])
        or (parts[0] == "key" and parts[1:] in (["id"], ["arn"]))
    )
    if not ok:
        if parts[0] == "secret" and cfg.secret is None:
            ld.fail(key, f"'${{{ref}}}' refers to the secret, but the config has no [secret].",
                    "add a [secret] table, or remove the variable.")
        indexed = next(((t, i) for t, spec in cfg.tables.items() for i in spec.indexes), None)
        forms = ([f"${{tables.{next(iter(cfg.tables))}.name|arn}}"] if cfg.tables else []) \
            + ([f"${{tables.{indexed[0]}.indexes.{indexed[1]}.name}}"] if indexed else []) \
            + ([f"${{buckets.{next(iter(cfg.buckets))}.name|arn}}"] if cfg.buckets else []) \
            + (["${secret.arn}"] if cfg.secret else []) + ["${key.id}", "${key.arn}"]
        ld.fail(key, f"'${{{ref}}}' does not refer to anything this config declares.",
                f"use {', '.join(forms[:-1])} or {forms[-1]}"
                + (f" (tables: {', '.join(cfg.tables)})" if len(cfg.tables) > 1 else "")
                + (f" (buckets: {', '.join(cfg.buckets)})" if len(cfg.buckets) > 1 else "") + ".")


def _api(cfg: Config, ld: Loader) -> None:
    api = cfg.api
    if not api:
        return
    if api.cors and len(api.cors.origins) != 1:
        ld.fail("api.cors.origins", f"{len(api.cors.origins)} origins given; a static CORS answer names one.",
                "give exactly one origin, or [\"*\"].")
    if not api.routes:
        ld.fail("api.routes", "the API has no routes.", "add at least one [[api.routes]] entry.")
    for mname, model in api.models.items():
        for prop, jtype in model.properties.items():
            if jtype not in JSON_TYPES:
                ld.fail(f"api.models.{mname}.properties.{prop}", f"'{jtype}' is not a JSON type.",
                        f"use one of {', '.join(JSON_TYPES)}.")
        for req in model.required:
            if req not in model.properties:
                ld.fail(f"api.models.{mname}.required", f"'{req}' is required but not a property.",
                        "add it under properties or remove it from required.")
    seen: dict[tuple[str, str], int] = {}
    variables: dict[str, str] = {}
    for i, route in enumerate(api.routes):
        key = f"api.routes[{i}]"
        if route.function not in cfg.functions:
            ld.fail(f"{key}.function", f"no function named '{route.function}'.", _known("functions", cfg.functions))
        if route.model and route.model not in api.models:
            ld.fail(f"{key}.model", f"no model named '{route.model}'.", _known("api.models", api.models))
        if route.model and route.method in ("GET", "DELETE", "HEAD"):
            ld.fail(f"{key}.model", f"{route.method} requests have no body to validate.",
                    "remove model from this route.")
        if route.api_key and not api.usage_plan:
            ld.fail(f"{key}.api_key", "an API key needs a usage plan.", "add [api.usage_plan].")
        ident = (route.method, route.path)
        if ident in seen:
            ld.fail(f"{key}", f"duplicate route {route.method} {route.path} (also api.routes[{seen[ident]}]).",
                    "remove one of them.")
        seen[ident] = i
        # API Gateway allows one path variable name per level under a parent.
        segments = route.path.strip("/").split("/")
        for depth, seg in enumerate(segments):
            if seg.startswith("{"):
                parent = "/".join(segments[:depth])
                other = variables.setdefault(parent, seg)
                if other != seg:
                    ld.fail(f"{key}.path", f"'{seg}' conflicts with '{other}' under '/{parent}'.",
                            "use one variable name per path level.")
    _auth(cfg, ld)
    _api_size(cfg, ld)


WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _auth(cfg: Config, ld: Loader) -> None:
    """Each route's authorizer is configured; an API key alone never silently guards a write."""
    api, auth = cfg.api, cfg.api.auth
    for i, route in enumerate(api.routes):
        key = f"api.routes[{i}]"
        if route.auth == "COGNITO" and not auth.cognito:
            ld.fail(f"{key}.auth", "COGNITO routes need a user pool.",
                    "add [api.auth.cognito] (empty to create a pool, or user_pool_arn = \"...\").")
        if route.auth == "JWT" and not auth.jwt:
            ld.fail(f"{key}.auth", "JWT routes need an issuer.",
                    "add [api.auth.jwt] with issuer, audience and function.")
        if route.scopes and route.auth not in ("COGNITO", "JWT"):
            ld.fail(f"{key}.scopes", f"scopes are checked on COGNITO and JWT routes, not {route.auth}.",
                    "remove scopes or set auth = \"COGNITO\" or \"JWT\".")
        if route.method in WRITE_METHODS and route.auth == "NONE" and route.api_key and not route.api_key_only_reason.strip():
            ld.fail(f"{key}.api_key", f"{route.method} {route.path} is protected by an API key alone: a key identifies "
                    "a caller's plan, it authenticates nobody.",
                    "set auth to \"IAM\", \"COGNITO\" or \"JWT\", or write why the key suffices in api_key_only_reason.")
        if route.api_key_only_reason and not (route.auth == "NONE" and route.api_key):
            ld.fail(f"{key}.api_key_only_reason", "applies only to routes with auth = \"NONE\" and api_key = true.",
                    "remove it.")
    pool = auth.cognito
    if pool and pool.user_pool_arn and (pool.callback_urls or pool.domain_prefix):
        ld.fail("api.auth.cognito.user_pool_arn", "callback_urls and domain_prefix configure a created pool.",
                "set them on the existing pool itself, or remove user_pool_arn.")
    scoped = any(r.scopes for r in api.routes if r.auth == "COGNITO")
    if pool and not pool.user_pool_arn and scoped and not (pool.callback_urls and pool.domain_prefix):
        ld.fail("api.auth.cognito", "routes require scopes, which Cognito puts only in tokens from its OAuth "
                "endpoints (the managed login domain).", "add callback_urls and domain_prefix.")
    jwt = auth.jwt
    if jwt:
        if jwt.function not in cfg.functions:
            ld.fail("api.auth.jwt.function", f"no function named '{jwt.function}'.", _known("functions", cfg.functions))
        if not jwt.function or not cfg.functions[jwt.function].runtime.startswith("nodejs"):
            ld.fail("api.auth.jwt.function", "the JWT authorizer is a Node.js handler.",
                    "use a nodejsNN.x function with source = \"handlers/authorizer\".")
        if not jwt.audience:
            ld.fail("api.auth.jwt.audience", "is empty: tokens issued for any client would be accepted.",
                    "list the client IDs or audiences this API accepts.")


def _api_size(cfg: Config, ld: Loader) -> None:
    from infra.openapi import resource_paths

    count = len(resource_paths(cfg.api))
    if count > cfg.api.resource_quota:
        ld.fail("api.routes", f"the routes need {count} API Gateway resources (every path and each of its "
                f"prefixes, the root included); this API's quota is {cfg.api.resource_quota}.",
                "use fewer distinct paths, or ask AWS to raise 'Resources per API' for this API and set "
                "api.resource_quota to the new value.")


# AWS's managed rule groups without a required configuration ("AWS Managed Rules rule groups list",
# https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html). WAF
# matches names exactly; a name that differs from one of these in case only is a typo.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet", "AWSManagedRulesAdminProtectionRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet", "AWSManagedRulesLinuxRuleSet", "AWSManagedRulesUnixRuleSet",
    "AWSManagedRulesWindowsRuleSet", "AWSManagedRulesPHPRuleSet", "AWSManagedRulesWordPressRuleSet",
    "AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList")


def _features(cfg: Config, ld: Loader) -> None:
    if cfg.firewall and not cfg.api:
        ld.fail("firewall", "a firewall protects the API, but the config has no [api].", "add [api] or remove [firewall].")
    for i, group in enumerate(cfg.firewall.managed_rule_groups if cfg.firewall else ()):
        spelled = {g.lower(): g for g in MANAGED_RULE_GROUPS}.get(group.lower())
        if spelled and spelled != group:
            ld.fail(f"firewall.managed_rule_groups[{i}]", f"'{group}' is not a rule group name (WAF matches names "
                    "exactly).", f"did you mean '{spelled}'?")
    if cfg.edge:
        edge = cfg.edge
        if not cfg.api:
            ld.fail("edge", "CloudFront fronts the API, but the config has no [api].", "add [api] or remove [edge].")
        if edge.domain and not edge.hosted_zone_id:
            ld.fail("edge.hosted_zone_id", f"domain '{edge.domain}' needs the Route 53 hosted zone that serves it.",
                    "add hosted_zone_id = \"Z...\" or remove domain.")
        if edge.hosted_zone_id and not edge.domain:
            ld.fail("edge.domain", "hosted_zone_id is set but domain is not.", "add domain = \"example.com\".")
        if edge.certificate_arn and not edge.domain:
            ld.fail("edge.certificate_arn", "a certificate is only used with a custom domain.", "add domain or remove it.")
        rotation = edge.origin_verify_rotation_function
        if rotation and rotation not in cfg.functions:
            ld.fail("edge.origin_verify_rotation_function", f"no function named '{rotation}'.",
                    _known("functions", cfg.functions))
        if rotation and not cfg.firewall:
            ld.fail("edge.origin_verify_rotation_function", "there is no origin-verification secret without [firewall].",
                    "add [firewall] or remove it.")
        if rotation:
            _not_serving_api(cfg, ld, "edge.origin_verify_rotation_function", rotation,
                             "Secrets Manager invokes a rotation function with its rotation steps, by its own ARN",
                             'declare a function of its own for the rotation (source = "handlers/origin_verify").')
        if rotation and cfg.secret and cfg.secret.rotation_function == rotation:
            ld.fail("edge.origin_verify_rotation_function", "the app secret's rotation function cannot also rotate "
                    "the origin-verification secret.", "declare a function with source = \"handlers/origin_verify\".")
    params = cfg.parameters
    if params:
        if params.api_url and not cfg.api:
            ld.fail("parameters.api_url", "the config has no [api].", "remove it or add [api].")
        if params.web_acl_arn and not cfg.firewall:
            ld.fail("parameters.web_acl_arn", "the config has no [firewall].", "remove it or add [firewall].")
    mon = cfg.monitoring
    if mon:
        for key in ("emails", "https_endpoints"):
            if getattr(mon, key) and not mon.topic:
                ld.fail(f"monitoring.{key}", "subscribes to the alarm topic, but topic = false.",
                        "set topic = true or remove the subscriptions.")
        if mon.dashboard and not cfg.api:
            ld.fail("monitoring.dashboard", "the dashboard charts the API, but the config has no [api].",
                    "add [api] or set dashboard = false.")
        if (mon.alarms.api_4xx or mon.alarms.api_5xx or mon.alarms.api_latency_ms) and not cfg.api:
            ld.fail("monitoring.alarms", "API alarms need an [api].", "set the api_* thresholds to 0 or add [api].")


def _releases(cfg: Config, ld: Loader) -> None:
    """[functions.X.release]: custom traffic complete, hooks that exist, no release where nothing
    could shift (rotation functions, hooks), provisioned concurrency on an alias that exists."""
    for name, fn in cfg.functions.items():
        rel = fn.release
        if rel is None:
            continue
        key = f"functions.{name}.release"
        if rel.traffic in traffic.CUSTOM:
            for field in ("percent", "interval_minutes"):
                if getattr(rel, field) is None:
                    ld.fail(f"{key}.{field}", f"custom traffic '{rel.traffic}' needs {field}.",
                            f"set {field} (percent 1-99, interval_minutes 1-1440), or use a named traffic such "
                            f"as '{traffic.PRODUCTION_DEFAULT}'.")
        else:
            for field in ("percent", "interval_minutes"):
                if getattr(rel, field) is not None:
                    ld.fail(f"{key}.{field}", f"applies to custom traffic ('canary' or 'linear'), not '{rel.traffic}'.",
                            f"remove {field}, or set traffic = \"canary\" or \"linear\".")
        for field in ("before_traffic", "after_traffic"):
            hook = getattr(rel, field)
            if not hook:
                continue
            if hook not in cfg.functions:
                ld.fail(f"{key}.{field}", f"no function named '{hook}'.", _known("functions", cfg.functions))
            if hook == name:
                ld.fail(f"{key}.{field}", "a function cannot be its own release hook.",
                        "declare a separate function that tests this one.")
            _not_serving_api(cfg, ld, f"{key}.{field}", hook,
                             "CodeDeploy invokes a release hook with its lifecycle events, by name",
                             "declare a function of its own as the hook: one that tests the new version and "
                             "reports the result to CodeDeploy.")
            hook_rel = cfg.functions[hook].release
            if hook_rel is not None and hook_rel.traffic != traffic.ALL_AT_ONCE:
                ld.fail(f"functions.{hook}.release.traffic", f"'{hook}' is a release hook of '{name}'; CodeDeploy "
                        "invokes hooks by name, so a hook has no traffic to shift.", "remove its [release].")
            if hook_rel is not None and (hook_rel.before_traffic or hook_rel.after_traffic):
                ld.fail(f"functions.{hook}.release", f"'{hook}' is a release hook of '{name}' and has hooks itself.",
                        "remove the hooks of the hook function.")
        why = release.never_gradual(cfg, name)
        strat = release.strategy(cfg, name)
        if why and strat.gradual:
            ld.fail(key, f"'{name}' cannot release gradually: {why}.", "remove its [release] (it releases all at once).")
        if rel.provisioned_concurrency and not strat.gradual:
            ld.fail(f"{key}.provisioned_concurrency", "provisioned concurrency is set on the function's alias, which "
                    "only functions released through CodeDeploy have.",
                    "use a canary or linear traffic, or remove provisioned_concurrency.")
        if rel.provisioned_concurrency and fn.reserved_concurrency is not None \
                and rel.provisioned_concurrency > fn.reserved_concurrency:
            ld.fail(f"{key}.provisioned_concurrency", f"{rel.provisioned_concurrency} is more than the function's "
                    f"reserved_concurrency ({fn.reserved_concurrency}); Lambda refuses that.",
                    "lower it, or raise reserved_concurrency.")


def _known(section: str, names) -> str:
    return f"known {section}: {', '.join(sorted(names))}." if names else f"declare it under [{section}] first."
