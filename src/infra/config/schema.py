"""The stage config schema: one dataclass per TOML table.

A stage config declares the whole system: what it contains and how each part is set. Names
under [tables], [buckets], [functions], [api.models] become logical IDs and physical names, so
they are a contract: renaming one replaces the resource.
"""
# No `from __future__ import annotations` here: the loader reads every field's type
# (typed._shape), and real types cost nothing to read, where strings are compiled and evaluated
# one by one on every cold start.
from typing import Optional

from infra.config import traffic
from infra.config.typed import dataclass, internal, spec  # dataclasses.dataclass, cheaper to define

NAME = r"[a-z][a-z0-9-]{0,30}[a-z0-9]|[a-z]"
NAME_HINT = ("use at most 32 lowercase letters, digits and dashes, starting with a letter and not ending with a "
             "dash (e.g. 'data').")
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                  2192, 2557, 2922, 3288, 3653)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
# The tags every taggable resource gets, and the key of [project] each one's value comes from.
OWN_TAGS = {"Project": "project.name", "Environment": "project.stage", "ManagedBy": "project.managed_by"}
# The stack tag naming the config file that owns a stage's stacks (deploy refuses another config's);
# CloudFormation passes stack tags on to the resources, so it counts toward their 50 too.
CONFIG_TAG = "serverless-infra:config"


@dataclass(frozen=True, kw_only=True)
class Project:
    name: str = spec(doc="project name, first part of every physical name", pattern=r"[a-z][a-z0-9]{0,15}",
                     hint="use 1-16 lowercase letters and digits, starting with a letter.")
    stage: str = spec(doc="stage (environment) name: API stage and second part of every name",
                      pattern=r"[a-z][a-z0-9]{0,11}",
                      hint="use 1-12 lowercase letters and digits, starting with a letter (e.g. 'dev', 'prod').")
    region: str = spec(doc="AWS region", pattern=r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d",
                       hint="give a region code such as 'us-west-2'.")
    production: bool = spec(False, doc="production stage: stateful resources are retained, "
                                       "deploys get termination protection and a stack policy")
    managed_by: str = spec("serverless-infra", doc="value of the ManagedBy tag")
    tags: dict[str, str] = spec(factory=dict, doc="extra tags for every taggable resource")


@dataclass(frozen=True, kw_only=True)
class Network:
    cidr: str = spec("10.0.0.0/16", doc="VPC CIDR block (a /16 to /24 IPv4 network)")
    availability_zones: int = spec(3, min=2, max=6, doc="AZs to spread subnets over")
    nat_gateways: int = spec(1, min=1, max=6, doc="NAT gateways: 1 for dev, one per AZ for prod")
    subnet_prefix: int = spec(24, min=16, max=28, doc="prefix length of every subnet")
    flow_log_retention_days: int = spec(90, choices=RETENTION_DAYS, doc="VPC flow log retention")


@dataclass(frozen=True, kw_only=True)
class Key:
    alias: str = spec("key", pattern=NAME, hint=NAME_HINT,
                      doc="alias suffix: alias/<project>-<stage>-<alias>")
    description: str = spec("", doc="key description")


@dataclass(frozen=True, kw_only=True)
class Secret:
    name: str = spec("app-secrets", pattern=NAME, hint=NAME_HINT, doc="secret name suffix")
    username: str = spec("admin", doc="username stored beside the generated password")
    password_length: int = spec(32, min=16, max=128, doc="generated password length")
    exclude_characters: str = spec("\"@/\\", doc="characters never used in the password")
    rotation_days: int = spec(30, min=1, max=1000, doc="rotate every N days")
    rotation_function: str = spec(doc="name of the function under [functions] that rotates it")


@dataclass(frozen=True, kw_only=True)
class Autoscaling:
    max_multiplier: int = spec(10, min=1, max=100, doc="max capacity = base capacity x this")
    target_utilization: int = spec(70, min=20, max=90, doc="target utilization percent")


_KEY = r"[A-Za-z0-9_.-]+:[SNB]"


def _partition_key(example: str) -> str:
    """A table's or an index's partition key field."""
    return spec(doc="'name:S', 'name:N' or 'name:B'", pattern=_KEY,
                hint=f"write 'name:TYPE' with TYPE one of S, N, B (e.g. '{example}').")


def _sort_key() -> str:
    """A table's or an index's sort key field (optional)."""
    return spec("", doc="sort key 'name:TYPE' (TYPE S, N or B); empty = none", pattern=f"({_KEY})?",
                hint="write 'name:TYPE' with TYPE one of S, N, B (e.g. 'timestamp:N').")


INDEX_NAME = r"[a-z][a-z0-9-]{1,30}[a-z0-9]"
INDEX_HINT = ("use 3 to 32 lowercase letters, digits and dashes, starting with a letter and not ending with a "
              "dash (e.g. 'by-time').")


@dataclass(frozen=True, kw_only=True)
class Index:
    partition_key: str = _partition_key("feed:S")
    sort_key: str = _sort_key()
    projection: str = spec("all", choices=("all", "keys-only"),
                           doc="'all' (the index holds whole items: a Query needs no second read) or "
                               "'keys-only' (the keys of the table and of the index)")
    read_capacity: int = spec(0, min=0, max=40000, doc="base read capacity (provisioned); 0 = the table's")
    write_capacity: int = spec(0, min=0, max=40000, doc="base write capacity (provisioned); 0 = the table's")


@dataclass(frozen=True, kw_only=True)
class Table:
    partition_key: str = _partition_key("id:S")
    sort_key: str = _sort_key()
    billing: str = spec("on-demand", choices=("on-demand", "provisioned"),
                        doc="'on-demand' (pay per request) or 'provisioned' (read/write capacity)")
    read_capacity: int = spec(5, min=1, max=40000, doc="base read capacity (provisioned)")
    write_capacity: int = spec(5, min=1, max=40000, doc="base write capacity (provisioned)")
    autoscaling: Optional[Autoscaling] = spec(None, doc="target tracking (provisioned only)")
    stream: str = spec("", choices=("", "NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"),
                       doc="DynamoDB stream view type; empty = no stream")
    point_in_time_recovery: bool = spec(True, doc="continuous backups (point-in-time recovery)")
    indexes: dict[str, Index] = spec(factory=dict, pattern=INDEX_NAME, hint=INDEX_HINT,
                                     doc="global secondary indexes by name (at most 20); with provisioned billing "
                                         "each has its own capacity and follows the table's [autoscaling]")
    group: str = spec("", pattern=f"(?:{NAME})?", hint=NAME_HINT,
                      doc="nested stack group: bundles with the same group share the stack data-<group>; "
                          "default: placed automatically (see the lock file)")


# CloudFormation's and DynamoDB's names of an index's projection.
PROJECTIONS = {"all": "ALL", "keys-only": "KEYS_ONLY"}


def key_roles(partition_key: str, sort_key: str) -> list[tuple[str, str]]:
    """(attribute, HASH or RANGE) of a table's or an index's keys."""
    return [(key.split(":")[0], role) for key, role in ((partition_key, "HASH"), (sort_key, "RANGE")) if key]


def key_attributes(table: Table) -> dict[str, str]:
    """Each key attribute of a table and of its indexes, once, with its type (S, N or B): what
    AttributeDefinitions holds (validation makes an attribute's type agree everywhere)."""
    found: dict[str, str] = {}
    for key in (table.partition_key, table.sort_key,
                *(k for i in table.indexes.values() for k in (i.partition_key, i.sort_key))):
        if key:
            name, kind = key.split(":")
            found.setdefault(name, kind)
    return found


@dataclass(frozen=True, kw_only=True)
class Bucket:
    versioned: bool = spec(True, doc="keep every version of every object")
    encryption: str = spec("kms", choices=("kms", "s3"), doc="'kms' (the system key) or 's3' (SSE-S3)")
    noncurrent_version_expiry_days: int = spec(0, min=0, max=3650, doc="0 = keep")
    expiry_days: int = spec(0, min=0, max=3650, doc="expire current objects after N days; 0 = keep")
    group: str = spec("", pattern=f"(?:{NAME})?", hint=NAME_HINT,
                      doc="nested stack group: bundles with the same group share the stack data-<group>; "
                          "default: placed automatically (see the lock file)")


@dataclass(frozen=True, kw_only=True)
class Access:
    tables: dict[str, str] = spec(factory=dict, choices=("read", "write", "read-write"),
                                  doc="table name -> 'read', 'write' or 'read-write'")
    buckets: dict[str, str] = spec(factory=dict, choices=("read", "write", "read-write"),
                                   doc="bucket name -> 'read', 'write' or 'read-write'")
    secret: str = spec("", choices=("", "read", "rotate"), doc="'read' or 'rotate'")
    key: str = spec("", choices=("", "decrypt", "encrypt-decrypt"), doc="use of the system key")


@dataclass(frozen=True, kw_only=True)
class Release:
    traffic: str = spec(choices=traffic.CHOICES,
                        doc="how a new version reaches traffic through CodeDeploy: 'all-at-once', "
                            "'canary-10-percent-5|10|15|30-minutes', 'linear-10-percent-every-1-minute', "
                            "'linear-10-percent-every-2|3|10-minutes', or a custom 'canary' / 'linear' "
                            "(with percent and interval_minutes)")
    percent: Optional[int] = spec(None, min=1, max=99, doc="custom 'canary' / 'linear': percent of traffic moved "
                                                          "first (canary) or at every step (linear)")
    interval_minutes: Optional[int] = spec(None, min=1, max=1440, doc="custom 'canary' / 'linear': minutes before "
                                                                      "the rest moves (canary) or between steps (linear)")
    before_traffic: str = spec("", doc="function under [functions] CodeDeploy runs before any traffic moves "
                                       "(a smoke test); it reports Succeeded or Failed, and Failed rolls back")
    after_traffic: str = spec("", doc="function under [functions] CodeDeploy runs once all traffic has moved")
    provisioned_concurrency: int = spec(0, min=0, max=1000,
                                        doc="provisioned concurrency on the function's alias (each new version "
                                            "is warmed before it takes traffic); 0 = none")


@dataclass(frozen=True, kw_only=True)
class Function:
    runtime: str = spec(doc="Lambda runtime (a current python3.x or nodejsNN.x)",
                        pattern=r"(python3\.\d+|nodejs\d+\.x)",
                        hint="use a current Python or Node.js runtime, e.g. 'python3.14' or 'nodejs24.x'.")
    source: str = spec(doc="handler source directory, relative to the repository")
    handler: str = spec(doc="handler entry point, e.g. 'app.handler'", pattern=r"[A-Za-z0-9_./-]+\.[A-Za-z_][A-Za-z0-9_]*",
                        hint="write 'module.function', e.g. 'app.handler' or 'index.handler'.")
    architecture: str = spec("x86_64", choices=("x86_64", "arm64"),
                             doc="instruction set (Lambda Architectures): 'x86_64' or 'arm64' (Graviton); "
                                 "dependencies are installed for it")
    layer: bool = spec(False, doc="Python with dependencies: put them in a Lambda layer shared by every function "
                                  "with the same source, runtime and architecture, so that a code change uploads "
                                  "only the function's own files")
    source_map: bool = spec(False, doc="Node.js with dependencies: ship the bundle's source map and turn it on "
                                       "(NODE_OPTIONS=--enable-source-maps), so stack traces name the sources")
    description: str = spec("", doc="function description; default its name")
    memory: int = spec(256, min=128, max=10240, doc="memory in MB")
    timeout: int = spec(30, min=1, max=900, doc="timeout in seconds")
    reserved_concurrency: Optional[int] = spec(
        None, min=1, max=1000, doc="concurrency reserved for (and capping) the function; unset by default, "
                                   "as reserving fails in accounts with a low concurrency quota")
    retry_attempts: int = spec(2, min=0, max=2, doc="async retry attempts")
    vpc: bool = spec(False, doc="run in the private subnets (needs [network])")
    log_retention_days: int = spec(30, choices=RETENTION_DAYS, doc="days the function's log group keeps events")
    on_failure_bucket: str = spec("", doc="bucket under [buckets] receiving failed async events")
    access: Access = spec(factory=Access, doc="what the function may touch")
    # Lambda's pattern for a variable's name: [a-zA-Z]([a-zA-Z0-9_])+
    # (https://docs.aws.amazon.com/lambda/latest/api/API_Environment.html).
    environment: dict[str, str] = spec(factory=dict, pattern=r"[A-Za-z][A-Za-z0-9_]+",
                                       hint="an environment variable's name is at least two letters, digits and _, "
                                            "starting with a letter (Lambda's rule).",
                                       doc="variables; values may reference ${tables.X.name}, "
                                           "${buckets.X.name}, ${secret.arn}, ${key.id}, ${key.arn}")
    group: str = spec("", pattern=f"(?:{NAME})?", hint=NAME_HINT,
                      doc="nested stack group: bundles with the same group share the stack compute-<group>; "
                          "default: placed automatically (see the lock file)")
    release: Optional[Release] = spec(None, doc="how new versions reach traffic (CodeDeploy, alias 'live'); default: "
                                                f"'{traffic.PRODUCTION_DEFAULT}' in production stages, all at once "
                                                "(CloudFormation updates the function in place) elsewhere")

    @property
    def dead_letter_queue(self) -> bool:
        """Whether failed asynchronous events go to the system's SQS dead-letter queue: only when
        no on-failure bucket takes them. Lambda presents the two as alternatives; with both, every
        failed event would be kept twice."""
        return not self.on_failure_bucket


@dataclass(frozen=True, kw_only=True)
class Cors:
    origins: list[str] = spec(factory=lambda: ["*"], doc="allowed origin: exactly one, or [\"*\"]")
    methods: list[str] = spec(factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                              doc="methods the preflight answer allows")
    headers: list[str] = spec(factory=lambda: ["Content-Type", "X-Amz-Date", "Authorization",
                                               "X-Api-Key", "X-Amz-Security-Token"],
                              doc="request headers the preflight answer allows")
    max_age: int = spec(600, min=0, max=86400, doc="seconds browsers cache the preflight")


@dataclass(frozen=True, kw_only=True)
class UsagePlan:
    rate: int = spec(1000, min=1, max=100000, doc="steady requests per second per key")
    burst: int = spec(2000, min=1, max=200000, doc="burst requests per key")
    quota: int = spec(1000000, min=1, doc="requests per key per period")
    period: str = spec("MONTH", choices=("DAY", "WEEK", "MONTH"), doc="quota period")


@dataclass(frozen=True, kw_only=True)
class Model:
    required: list[str] = spec(factory=list, doc="properties a request body must have")
    properties: dict[str, str] = spec(factory=dict, doc="property -> JSON type",
                                      pattern=r"[A-Za-z_][A-Za-z0-9_]*")
    description: str = spec("", doc="model description; default its name")


@dataclass(frozen=True, kw_only=True)
class Route:
    method: str = spec(choices=HTTP_METHODS, doc="HTTP method")
    path: str = spec(doc="resource path, e.g. '/users/{id}'", pattern=r"/|(/([A-Za-z0-9._-]+|\{[A-Za-z_][A-Za-z0-9_]*\}))+",
                     hint="write an absolute path such as '/users/{id}' (no trailing slash).")
    function: str = spec(doc="function under [functions] that serves it")
    auth: str = spec("IAM", choices=("IAM", "NONE", "COGNITO", "JWT"),
                     doc="'IAM' (SigV4), 'COGNITO' (user pool tokens, [api.auth.cognito]), 'JWT' (another "
                         "OIDC issuer's tokens, [api.auth.jwt]) or 'NONE'")
    scopes: list[str] = spec(factory=list, pattern=r"[\x21\x23-\x5b\x5d-\x7e]+",
                             hint="a scope is printable ASCII without spaces, quotes or backslashes.",
                             doc="OAuth scopes the caller's access token must carry (COGNITO and JWT routes)")
    api_key: bool = spec(False, doc="require an API key (usage plan): a rate-limit token, not authentication")
    api_key_only_reason: str = spec("", doc="why a write route with auth = 'NONE' is protected by its API key "
                                            "alone (required for such routes)")
    model: str = spec("", doc="request model under [api.models] to validate the body")


@dataclass(frozen=True, kw_only=True)
class Cognito:
    user_pool_arn: str = spec("", pattern=r"arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool/[\w-]+_[0-9a-zA-Z]+|",
                              hint="write arn:aws:cognito-idp:<region>:<account>:userpool/<pool id>.",
                              doc="existing user pool; empty = create one in the security stack")
    mfa: str = spec("OPTIONAL", choices=("OPTIONAL", "ON"), doc="MFA (TOTP) of the created pool: optional or required")
    self_sign_up: bool = spec(False, doc="let anyone create an account (created pool); default: admins create users")
    password_min_length: int = spec(14, min=8, max=99, doc="created pool: minimum password length")
    threat_protection: str = spec("ENFORCED", choices=("OFF", "AUDIT", "ENFORCED"),
                                  doc="created pool: Cognito threat protection (needs the Plus feature plan "
                                      "unless OFF)")
    callback_urls: list[str] = spec(factory=list, pattern=r"https://[^\s]+|http://localhost(:\d+)?(/[^\s]*)?",
                                    hint="use https URLs (http only for localhost).",
                                    doc="created pool: OAuth redirect URLs of the app client (needed for scopes)")
    domain_prefix: str = spec("", pattern=r"[a-z0-9](-?[a-z0-9])*|", hint="lowercase letters, digits and dashes.",
                              doc="created pool: prefix of the managed login domain (needed for scopes)")


@dataclass(frozen=True, kw_only=True)
class Jwt:
    issuer: str = spec(pattern=r"https://[^\s]+", hint="the issuer is an https URL, the tokens' 'iss' claim.",
                       doc="OIDC issuer: the exact 'iss' claim of accepted tokens")
    audience: list[str] = spec(doc="accepted 'aud' (or 'client_id') values; at least one")
    jwks_url: str = spec("", pattern=r"https://[^\s]+|", hint="an https URL.",
                         doc="the issuer's key set; default <issuer>/.well-known/jwks.json")
    function: str = spec(doc="function under [functions] running the JWT authorizer (handlers/authorizer)")
    cache_seconds: int = spec(300, min=0, max=3600,
                              doc="API Gateway caches the answer for each token and route this long, "
                                  "whatever the token's exp: a token stays accepted up to this long after it expires or is revoked; "
                                  "0 = no cache")


@dataclass(frozen=True, kw_only=True)
class Auth:
    cognito: Optional[Cognito] = spec(None, doc="user pool for auth = 'COGNITO' routes")
    jwt: Optional[Jwt] = spec(None, doc="issuer for auth = 'JWT' routes")


@dataclass(frozen=True, kw_only=True)
class Api:
    name: str = spec("", doc="REST API name; default <project>-<stage>-api")
    description: str = spec("", doc="REST API description; default its name")
    endpoint: str = spec("REGIONAL", choices=("REGIONAL", "EDGE"), doc="API endpoint type")
    logging_level: str = spec("INFO", choices=("INFO", "ERROR", "OFF"), doc="execution log level")
    data_trace: bool = spec(False, doc="log full request/response bodies (never in production)")
    tracing: bool = spec(True, doc="X-Ray tracing of the stage")
    metrics: bool = spec(True, doc="detailed CloudWatch metrics per method")
    access_log_retention_days: int = spec(30, choices=RETENTION_DAYS, doc="days the JSON access log keeps events")
    execution_log_retention_days: int = spec(30, choices=RETENTION_DAYS,
                                             doc="retention of the execution log group (when logging_level is not OFF)")
    throttle_rate: int = spec(1000, min=1, max=100000, doc="stage steady-state requests per second")
    throttle_burst: int = spec(2000, min=1, max=200000, doc="stage burst requests")
    request_validation: bool = spec(True, doc="validate bodies and parameters")
    cloudwatch_role: bool = spec(False, doc="deprecated, no effect: the deployer's bootstrap stack owns API Gateway's "
                                            "CloudWatch Logs role once per account and region")
    cors: Optional[Cors] = spec(None, doc="CORS preflight answers and headers; none = no CORS")
    auth: Auth = spec(factory=Auth, doc="user-facing authorization: Cognito user pool, JWT issuer")
    usage_plan: Optional[UsagePlan] = spec(None, doc="usage plan (throttle and quota per API key)")
    models: dict[str, Model] = spec(factory=dict, pattern=r"[A-Z][A-Za-z0-9]{0,63}",
                                    hint="model names are CamelCase letters and digits, e.g. 'UserPost'.",
                                    doc="request body models (JSON schema) by name")
    routes: list[Route] = spec(factory=list, doc="[[api.routes]]: method, path and function of each route")
    resource_quota: int = spec(300, min=1, max=100000,
                               doc="API Gateway resources (paths, root included) allowed in this API: "
                                   "300 unless AWS raised this API's quota")


@dataclass(frozen=True, kw_only=True)
class Firewall:
    rate_limit: int = spec(2000, min=10, max=2000000000, doc="requests per 5 minutes per IP")
    managed_rule_groups: list[str] = spec(
        factory=lambda: ["AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"],
        pattern=r"AWSManagedRules[A-Za-z0-9]+", hint="AWS managed rule group names, e.g. 'AWSManagedRulesSQLiRuleSet'.",
        doc="AWS managed rule groups, in priority order")
    log_retention_days: int = spec(90, choices=RETENTION_DAYS, doc="days the WAF log keeps requests")


@dataclass(frozen=True, kw_only=True)
class Edge:
    price_class: str = spec("PriceClass_100", choices=("PriceClass_100", "PriceClass_200", "PriceClass_All"),
                            doc="CloudFront price class (edge locations used)")
    domain: str = spec("", doc="custom domain (needs hosted_zone_id); empty = CloudFront's own",
                       pattern=r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}|",
                       hint="give a domain such as 'example.com'.")
    subdomain: str = spec("api", doc="the API is served at <subdomain>.<domain>",
                          pattern=r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
    hosted_zone_id: str = spec("", doc="Route 53 hosted zone of domain", pattern=r"Z[A-Z0-9]{1,31}|",
                               hint="a Route 53 zone id starts with 'Z'.")
    log_retention_days: int = spec(90, min=1, max=3650, doc="days CloudFront access logs are kept (S3 lifecycle)")
    origin_verify_rotation_function: str = spec(
        "", doc="function under [functions] (source handlers/origin_verify) rotating the origin-verification "
                "secret shared by CloudFront and the firewall; empty = the deploy-time value is kept")
    origin_verify_rotation_days: int = spec(30, min=1, max=365, doc="rotate the origin-verification secret every N days")
    certificate_arn: str = spec("", doc="existing us-east-1 certificate; empty = issue one",
                                pattern=r"arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]+|",
                                hint="CloudFront only accepts certificates from us-east-1: "
                                     "arn:aws:acm:us-east-1:<account>:certificate/<id>.")


@dataclass(frozen=True, kw_only=True)
class Alarms:
    api_4xx: int = spec(0, min=0, doc="4XXError sum per 5 min above which to alarm; 0 = no alarm")
    api_5xx: int = spec(10, min=0, doc="5XXError sum per 5 min above which to alarm; 0 = no alarm")
    api_latency_ms: int = spec(0, min=0, doc="average latency (ms) above which to alarm; 0 = no alarm")
    function_errors: int = spec(5, min=0, doc="errors per function per 5 min above which to alarm; 0 = no alarm")
    table_throttles: int = spec(0, min=0, doc="throttled table requests per 5 min above which to alarm; 0 = no alarm")
    evaluation_periods: int = spec(2, min=1, max=100, doc="5-minute periods over the threshold before alarming")


@dataclass(frozen=True, kw_only=True)
class Monitoring:
    topic: bool = spec(True, doc="SNS topic that every alarm notifies")
    emails: list[str] = spec(factory=list, pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+",
                             hint="give an email address such as 'oncall@example.org'.",
                             doc="email addresses subscribed to the alarm topic (each confirms once)")
    https_endpoints: list[str] = spec(factory=list, pattern=r"https://[^\s]+",
                                      hint="give an https:// URL.",
                                      doc="HTTPS endpoints subscribed to the alarm topic (each confirms once)")
    alarms: Alarms = spec(factory=Alarms, doc="alarm thresholds")
    dashboard: bool = spec(False, doc="CloudWatch dashboard of the API and functions")
    sampling_rate: float = spec(0.0, min=0.0, max=1.0, doc="X-Ray sampling rule fixed rate; 0 = none")
    sampling_reservoir: int = spec(1, min=0, doc="X-Ray traces per second before the fixed rate applies")
    config_rule: bool = spec(False, doc="AWS Config LAMBDA_FUNCTION_SETTINGS_CHECK rule")


@dataclass(frozen=True, kw_only=True)
class Parameters:
    function_arns: bool = spec(False, doc="SSM parameter per function ARN")
    api_url: bool = spec(False, doc="SSM parameter holding the API URL")
    web_acl_arn: bool = spec(False, doc="SSM parameter holding the web ACL ARN")
    prefix: str = spec("", doc="parameter path prefix; default /<project>/<stage>",
                       pattern=r"(/[A-Za-z0-9_.-]+)*", hint="write a path such as '/catalog/prod'.")


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    repository: str = spec(doc="GitHub 'owner/repo'", pattern=r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+",
                           hint="write 'owner/repo'.")
    branch: str = spec("main", doc="branch that triggers the pipeline")
    connection_arn: str = spec("", doc="existing CodeConnections connection; empty = create one "
                                       "(approve it once in the console)",
                               pattern=r"arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]+|")
    build_image: str = spec("aws/codebuild/standard:7.0", doc="CodeBuild image")
    compute_type: str = spec("BUILD_GENERAL1_SMALL",
                             choices=("BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"),
                             doc="CodeBuild compute type")


@dataclass(frozen=True, kw_only=True)
class Config:
    project: Project = spec(doc="project, stage and region: the names everything derives from")
    network: Optional[Network] = spec(None, doc="VPC with public and private subnets; none = no VPC")
    key: Key = spec(factory=Key, doc="the system's customer-managed KMS key")
    secret: Optional[Secret] = spec(None, doc="Secrets Manager secret with a generated, rotated password")
    tables: dict[str, Table] = spec(factory=dict, pattern=NAME, hint=NAME_HINT, doc="DynamoDB tables by name")
    buckets: dict[str, Bucket] = spec(factory=dict, pattern=NAME, hint=NAME_HINT, doc="S3 buckets by name")
    functions: dict[str, Function] = spec(factory=dict, pattern=NAME, hint=NAME_HINT, doc="Lambda functions by name")
    api: Optional[Api] = spec(None, doc="REST API (API Gateway) and its routes")
    firewall: Optional[Firewall] = spec(None, doc="WAF web ACL in front of the API")
    edge: Optional[Edge] = spec(None, doc="CloudFront distribution in front of the API")
    monitoring: Optional[Monitoring] = spec(None, doc="alarms, alarm topic, dashboard, X-Ray sampling, Config rule")
    parameters: Optional[Parameters] = spec(None, doc="SSM parameters publishing the stage's ARNs and URL")
    pipeline: Optional[Pipeline] = spec(None, doc="CI/CD: CodeConnections source, CodeBuild, CodePipeline")

    # Set by the loader, not by TOML: where the config came from and its short name.
    file: str = internal("")
    name: str = internal("")
    root: str = internal("")

    @property
    def dead_letter_queue(self) -> bool:
        """Whether any function sends failed asynchronous events to the dead-letter queue."""
        return any(f.dead_letter_queue for f in self.functions.values())
