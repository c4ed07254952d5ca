"""Bad input fails early: exit 2, one paragraph naming file and key, and out/ left as it was."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.cli import main

REPO = Path(__file__).resolve().parents[1]
SECURE = (REPO / "config" / "secure-api.toml").read_text()
CATALOG = (REPO / "config" / "catalog-api.toml").read_text()


def sub(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


CASES = [
    # (id, base, transform, key named in the message, words in the message)
    ("missing-table-says-table", SECURE, lambda t: t.split("[project]")[0],     # only the header comments
     "project", "Fix: add a [project] table ("),
    ("unknown-key", SECURE, lambda t: sub(t, 'region = "us-west-2"', 'region = "us-west-2"\ncolour = "blue"'),
     "project.colour", "unknown key"),
    ("typo-suggests-key", SECURE, lambda t: sub(t, "memory = 512", "memroy = 512"),
     "functions.api.memroy", "did you mean 'memory'"),
    ("unknown-section", SECURE, lambda t: t + "\n[databases]\nsize = 1\n", "databases", "unknown key"),
    ("wrong-type", SECURE, lambda t: sub(t, "memory = 512", 'memory = "512"'),
     "functions.api.memory", "expected an integer"),
    ("bool-is-not-int", SECURE, lambda t: sub(t, "memory = 512", "memory = true"),
     "functions.api.memory", "expected an integer"),
    ("bad-cidr", SECURE, lambda t: sub(t, 'cidr = "10.0.0.0/16"', 'cidr = "10.0.0.1/16"'),
     "network.cidr", "not a valid IPv4 network"),
    ("route-to-unknown-function", SECURE, lambda t: sub(t, 'function = "api"', 'function = "apii"'),
     "api.routes[0].function", "no function named 'apii'"),
    ("duplicate-route", SECURE,
     lambda t: t + '\n[[api.routes]]\nmethod = "GET"\npath = "/api/v1"\nfunction = "api"\n',
     "api.routes[2]", "duplicate route GET /api/v1"),
    ("deprecated-runtime", SECURE, lambda t: sub(t, 'runtime = "python3.14"', 'runtime = "nodejs18.x"'),
     "functions.api.runtime", "deprecated"),
    ("unknown-runtime", SECURE, lambda t: sub(t, 'runtime = "python3.14"', 'runtime = "python3.99"'),
     "functions.api.runtime", "not a Lambda runtime"),
    ("capacity-zero", SECURE, lambda t: sub(t, "read_capacity = 500", "read_capacity = 0"),
     "tables.data.read_capacity", "out of range"),
    ("domain-without-hosted-zone", SECURE, lambda t: sub(t, 'price_class = "PriceClass_100"',
                                                         'price_class = "PriceClass_100"\ndomain = "example.com"'),
     "edge.hosted_zone_id", "needs the Route 53 hosted zone"),
    ("missing-handler-directory", SECURE, lambda t: sub(t, 'source = "handlers/api"', 'source = "handlers/nope"'),
     "functions.api.source", "does not exist"),
    ("missing-handler-file", SECURE, lambda t: sub(t, 'handler = "app.handler"', 'handler = "main.handler"'),
     "functions.api.handler", "main.py"),
    ("illegal-stage-name", SECURE, lambda t: sub(t, 'stage = "dev"', 'stage = "Dev_1"'),
     "project.stage", "not valid"),
    ("dangling-env-reference", SECURE, lambda t: sub(t, "${tables.data.name}", "${tables.nope.name}"),
     "functions.api.environment.TABLE_NAME", "does not refer to anything"),
    ("reserved-env-var", SECURE, lambda t: sub(t, "TABLE_NAME = ", "AWS_REGION = "),
     "functions.api.environment.AWS_REGION", "reserved"),
    ("nat-more-than-azs", SECURE, lambda t: sub(t, "nat_gateways = 1 ", "nat_gateways = 4 "),
     "network.nat_gateways", "at most one NAT gateway per availability zone"),
    ("toml-syntax", SECURE, lambda t: sub(t, "[network]", "[network"), "(syntax)", "not valid TOML"),
    ("missing-required", SECURE, lambda t: sub(t, 'runtime = "python3.14"\nsource = "handlers/api"',
                                               'source = "handlers/api"'),
     "functions.api.runtime", "is required"),
    ("unknown-rotation-function", SECURE, lambda t: sub(t, 'rotation_function = "rotation"',
                                                        'rotation_function = "rotator"'),
     "secret.rotation_function", "no function named 'rotator'"),
    ("vpc-without-network", CATALOG, lambda t: sub(t, 'runtime = "nodejs24.x"', 'runtime = "nodejs24.x"\nvpc = true'),
     "functions.users.vpc", "has no [network]"),
    ("model-on-get", CATALOG, lambda t: sub(t, 'path = "/users"\nfunction = "users"\n',
                                            'path = "/users"\nfunction = "users"\nmodel = "UserPost"\n'),
     "api.routes[0].model", "GET requests have no body"),
    ("unknown-table-access", CATALOG, lambda t: sub(t, "tables = { users = ", "tables = { userz = "),
     "functions.users.access.tables.userz", "no table named 'userz'"),
    ("autoscaling-on-demand", CATALOG, lambda t: sub(t, '[tables.products]', '[tables.users.autoscaling]\n\n[tables.products]'),
     "tables.users.autoscaling", "provisioned tables only"),
    ("conflicting-path-variables", CATALOG,
     lambda t: t + '\n[[api.routes]]\nmethod = "PATCH"\npath = "/users/{userId}"\nfunction = "users"\n',
     "api.routes[8].path", "conflicts with '{id}'"),
    ("bucket-name-too-long", CATALOG, lambda t: sub(t, "[buckets.failed-events]", "[buckets.failed-events-of-every-kind-kept]")
     .replace('"failed-events"', '"failed-events-of-every-kind-kept"'),
     "buckets.failed-events-of-every-kind-kept", "S3 allows 63"),
    ("two-cors-origins", CATALOG, lambda t: sub(t, 'origins = ["*"]', 'origins = ["https://a.example", "https://b.example"]'),
     "api.cors.origins", "exactly one origin"),
    ("one-letter-env-var", CATALOG, lambda t: sub(t, 'ENVIRONMENT = "prod"', 'X = "prod"'),
     "functions.users.environment.X", "at least two letters, digits and _, starting with a letter"),
    ("underscore-env-var", CATALOG, lambda t: sub(t, 'ENVIRONMENT = "prod"', '_XY = "prod"'),
     "functions.users.environment._XY", "starting with a letter"),
    ("rotation-function-that-may-not-rotate", SECURE,
     lambda t: sub(t, '[functions.rotation.access]\nsecret = "rotate"\n', ''),
     "functions.rotation.access.secret", 'its access is not set: its role could not store the new password'),
    ("rotation-function-that-serves-the-api", SECURE,
     lambda t: sub(t, 'rotation_function = "rotation"', 'rotation_function = "api"'),
     "secret.rotation_function", "'api' serves the API (GET /api/v1, POST /api/v1)"),
    ("tag-the-tool-sets", CATALOG, lambda t: sub(t, "production = true", 'production = true\ntags = { Project = "x" }'),
     "project.tags.Project", "every resource is tagged Project from project.name"),
    ("tag-with-aws-prefix", CATALOG, lambda t: sub(t, "production = true", 'production = true\ntags = { "aws:team" = "x" }'),
     'project.tags."aws:team"', "reserved for AWS"),
    ("tag-value-with-semicolon", CATALOG, lambda t: sub(t, "production = true", 'production = true\ntags = { team = "a;b" }'),
     "project.tags.team", "not a valid tag value"),
    ("retention-suggests-nearest", CATALOG, lambda t: sub(t, "log_retention_days = 7", "log_retention_days = 31"),
     "functions.users.log_retention_days", "use 30 or 60, the nearest allowed"),
    ("name-too-long-says-32", CATALOG, lambda t: t.replace("[functions.products]", "[functions.products-of-the-catalog-of-things]")
     .replace('function = "products"', 'function = "products-of-the-catalog-of-things"'),
     "functions.products-of-the-catalog-of-things", "at most 32 lowercase letters"),
    ("secret-reference-without-secret", CATALOG, lambda t: sub(t, 'ENVIRONMENT = "prod"', 'SEC = "${secret.arn}"'),
     "functions.users.environment.SEC", "the config has no [secret]. Fix: add a [secret] table"),
    ("tag-our-config-key", CATALOG,
     lambda t: sub(t, "production = true", 'production = true\ntags = { "serverless-infra:config" = "x" }'),
     'project.tags."serverless-infra:config"', "under this key"),
    ("too-many-tags", CATALOG, lambda t: sub(t, "production = true", "production = true\ntags = { "
                                             + ", ".join(f't{i} = "v"' for i in range(47)) + " }"),
     "project.tags", "47 tags, and every resource gets 4 more"),
    ("source-the-file-system-refuses", CATALOG, lambda t: sub(t, 'source = "handlers/users"',
                                                               f'source = "handlers/{"x" * 300}"'),
     "functions.users.source", "cannot be a directory here (File name too long)"),
    ("rule-group-in-the-wrong-case", CATALOG, lambda t: sub(t, '"AWSManagedRulesSQLiRuleSet"', '"AWSManagedRulesSQLIRuleSet"'),
     "firewall.managed_rule_groups[2]", "did you mean 'AWSManagedRulesSQLiRuleSet'?"),
    ("index-key-of-another-type", SECURE, lambda t: sub(t, 'partition_key = "feed:S"\nsort_key = "timestamp:N"',
                                                        'partition_key = "feed:S"\nsort_key = "timestamp:S"'),
     "tables.data.indexes.by-time.sort_key", "says 'timestamp:S', but 'timestamp:N' is declared elsewhere"),
    ("index-sort-key-is-its-partition-key", SECURE, lambda t: sub(t, 'partition_key = "feed:S"\nsort_key = "timestamp:N"',
                                                                  'partition_key = "feed:S"\nsort_key = "feed:S"'),
     "tables.data.indexes.by-time.sort_key", "same attribute as the index's partition key"),
    ("index-capacity-on-demand", CATALOG, lambda t: sub(t, '[tables.users]', '[tables.users.indexes.by-email]\n'
                                                        'partition_key = "email:S"\nread_capacity = 5\n\n[tables.users]'),
     "tables.users.indexes.by-email.read_capacity", "provisioned tables only"),
    ("too-many-indexes", CATALOG, lambda t: t + "".join(f'\n[tables.users.indexes.index-{i}]\npartition_key = "k{i}:S"\n'
                                                        for i in range(21)),
     "tables.users.indexes", "declares 21 indexes; a table may have at most 20"),
    ("index-name-too-short", SECURE, lambda t: sub(t, "[tables.data.indexes.by-time]", "[tables.data.indexes.bt]"),
     "tables.data.indexes.bt", "3 to 32 lowercase letters"),
    ("dangling-index-reference", SECURE, lambda t: sub(t, "indexes.by-time.name}", "indexes.by-tim.name}"),
     "functions.api.environment.ITEMS_INDEX", "${tables.data.indexes.by-time.name}"),
    ("capacity-on-demand", CATALOG, lambda t: sub(t, 'billing = "on-demand"', 'billing = "on-demand"\nwrite_capacity = 5'),
     "tables.users.write_capacity", "capacity applies to provisioned tables only"),
    ("unclosed-env-reference", SECURE, lambda t: sub(t, '"${tables.data.name}"', '"${tables.data.name"'),
     "functions.api.environment.TABLE_NAME", "opens a '${' reference it does not close"),
    ("index-ids-of-another-table", SECURE, lambda t: t + '\n[tables.data-by-time-index]\npartition_key = "id:S"\n',
     "tables.data.indexes.by-time", "would be those of table 'data-by-time-index'"),
    ("index-ids-of-another-index", SECURE, lambda t: t + '\n[tables.data-by]\npartition_key = "id:S"\n'
                                                     '[tables.data-by.indexes.time]\npartition_key = "k:S"\n',
     "tables.data-by.indexes.time", "would be those of tables.data.indexes.by-time"),
    ("name-the-system-gives-its-own", SECURE, lambda t: t + '\n[buckets.access-logs]\n',
     "buckets.access-logs", "a name the system gives its own S3 bucket (project.name). Fix: rename buckets.access-logs."),
    ("function-alarm-of-an-api-alarm", SECURE, lambda t: sub(t, "[functions.rotation]", "[functions.api-5xx]\n"
                                                           'runtime = "python3.14"\nsource = "handlers/api"\n'
                                                           'handler = "app.handler"\n\n[functions.rotation]'),
     "functions.api-5xx", "a name the system gives its own CloudWatch alarm (monitoring.alarms.api_5xx)"),
    ("bad-access-level", CATALOG, lambda t: sub(t, 'tables = { users = "read-write" }', 'tables = { users = "admin" }'),
     "functions.users.access.tables.users", "'admin' is not allowed"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch directory with an out/ already holding a previous generation's file."""
    monkeypatch.chdir(tmp_path)
    previous = tmp_path / "out" / "bad" / "root.json"
    previous.parent.mkdir(parents=True)
    previous.write_text("previous generation\n")
    return tmp_path


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_config_exits_2_naming_file_and_key(case, workdir):
    _, base, transform, key, words = case
    config = workdir / "bad.toml"
    config.write_text(transform(base))
    before = snapshot(workdir / "out")
    # Also a good config in the same run: nothing at all may be written.
    result = CliRunner().invoke(main, ["templates", "--config", str(REPO / "config" / "catalog-api.toml"),
                                       "--config", str(config), "--out", str(workdir / "out")])
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("Error: bad.toml: "), message
    assert f": {key}:" in message or f": {key} " in message, message
    assert words in message, message
    assert "Traceback" not in message and "\n" not in message
    assert snapshot(workdir / "out") == before


def test_at_least_15_distinct_cases():
    assert len({c[0] for c in CASES}) >= 15


def test_a_byte_order_mark_is_named(workdir):
    (workdir / "bom.toml").write_bytes(b"\xef\xbb\xbf" + CATALOG.encode())
    result = CliRunner().invoke(main, ["templates", "--config", "bom.toml", "--out", "out"])
    assert result.exit_code == 2
    assert "bom.toml: (file): starts with a byte-order mark (BOM)" in result.output
    assert "Fix: save it as UTF-8 without a BOM." in result.output


def test_missing_config_file(workdir):
    result = CliRunner().invoke(main, ["templates", "--config", "nope.toml", "--out", "out"])
    assert result.exit_code == 2
    assert "nope.toml: (file): the config file does not exist." in result.output


def test_every_error_says_how_to_fix(workdir):
    for _, base, transform, _, _ in CASES:
        (workdir / "bad.toml").write_text(transform(base))
        result = CliRunner().invoke(main, ["templates", "--config", "bad.toml", "--out", "out"])
        assert re.search(r"(Fix: |did you mean)", result.output), result.output


# Configs are parsed with tomli (tomllib's compiled upstream, pinned to its TOML 1.0 releases):
# what it accepts and how it words an error must be what Python's own tomllib does.
TOML_CASES = ["a = ", "a = 1\na = 2", "[x\n", 'a = "\\q"', "a = {x = 1,\n y = 2}", 'a = "\\e"',
              "a = 1979-05-27T07:32Z", "[[t]]\nb = 1\n[t]\n"]


@pytest.mark.parametrize("text", TOML_CASES + [(REPO / "config" / f"{n}.toml").read_text()
                                              for n in ("secure-api", "secure-api-prod", "catalog-api")])
def test_configs_parse_as_pythons_tomllib_parses_them(text):
    import tomllib

    import tomli

    def parsed(module):
        try:
            return module.loads(text)
        except module.TOMLDecodeError as exc:
            return f"error: {exc}"

    assert parsed(tomli) == parsed(tomllib)


def test_text_with_a_dollar_brace_that_is_no_reference_is_the_value(workdir):
    text = sub(CATALOG, 'ENVIRONMENT = "prod"', 'ENVIRONMENT = "prod"\nGREETING = "Welcome, ${"\nSECRET_HINT = "p4ss${w0rd"')
    (workdir / "ok.toml").write_text(text)
    result = CliRunner().invoke(main, ["templates", "--config", "ok.toml", "--out", "out"])
    assert result.exit_code == 0, result.output
