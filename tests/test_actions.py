"""infra.actions names IAM actions without importing awacs's service modules; this checks every
name the code uses against those modules, as importing them would have (a misspelt action fails here)."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from awacs.aws import Action
from support.shipped import REPO

from infra import actions
from infra.render import plain

SOURCES = sorted([*(REPO / "src" / "infra").rglob("*.py"), *(REPO / "templates").glob("*.py")])


def used_actions(source: str) -> list[tuple[str, str, int]]:
    """(service name in infra.actions, action, line) for each `<service>.<Action>` and
    `<service>.Action("<name>")` in `source`: a service imported from any module under any name
    (`from infra.actions import s3 as as3`, `from infra.grants import s3`), or reached through the
    module (`from infra import actions`, then `actions.s3.GetObject`)."""
    tree = ast.parse(source)
    services: dict[str, str] = {}   # local name -> service's name in infra.actions
    modules: set[str] = set()       # local names of infra.actions itself
    by_object = {id(service): service.module for service in actions.SERVICES}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("infra", "templates")):
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is actions:
                    modules.add(alias.asname or alias.name)
                elif id(value) in by_object:
                    services[alias.asname or alias.name] = by_object[id(value)]
        elif isinstance(node, ast.Import):
            modules.update(alias.asname for alias in node.names if alias.name == "infra.actions" and alias.asname)

    def service_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return services.get(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            return node.attr if id(getattr(actions, node.attr, None)) in by_object else None
        return None

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr != "Action" and service_of(node.value):
            found.append((service_of(node.value), node.attr, node.lineno))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Action" \
                and service_of(node.func.value):
            arg = node.args[0] if node.args else None
            name = arg.value if isinstance(arg, ast.Constant) else f"<not a literal: {ast.unparse(arg) if arg else ''}>"
            found.append((service_of(node.func.value), str(name), node.lineno))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and node.args and service_of(node.args[0]):
            arg = node.args[1] if len(node.args) > 1 else None
            name = arg.value if isinstance(arg, ast.Constant) else f"<not a literal: {ast.unparse(arg) if arg else ''}>"
            found.append((service_of(node.args[0]), str(name), node.lineno))
    return found


def unknown(service: str, action: str) -> bool:
    """Not an action awacs's module of `service` names ("*" is the service's every action)."""
    if action == "*":
        return False
    module = importlib.import_module(f"awacs.{getattr(actions, service).module}")
    return not isinstance(getattr(module, action, None), Action)


def test_every_action_the_code_names_is_one_awacs_knows():
    uses = [(path.relative_to(REPO), *use) for path in SOURCES for use in used_actions(path.read_text())]
    assert len(uses) > 80   # the grants, the key and bucket policies, the pipeline: the check reads them all
    assert [u for u in uses if unknown(u[1], u[2])] == []


def test_a_misspelt_action_is_found():
    source = ("from infra.actions import s3 as as3, kms\n"
              "A = [as3.GetObject, kms.Decrypt, as3.GetObjet, kms.Action('Decrypt'), kms.Action('Decrpyt'), as3.Action('*')]\n")
    assert [u for u in used_actions(source) if unknown(u[0], u[1])] == [("s3", "GetObjet", 2), ("kms", "Decrpyt", 2)]


@pytest.mark.parametrize("source", [
    "from infra.grants import s3\nX = [s3.GetObjet]",                      # re-exported by another module
    "from infra import actions\nX = [actions.s3.GetObjet]",                # through the module
    "import infra.actions as act\nX = [act.s3.GetObjet]",
    "from infra.actions import s3\nX = [getattr(s3, 'GetObjet')]",         # by name
])
def test_a_misspelt_action_is_found_however_the_service_is_reached(source):
    assert [u for u in used_actions(source) if unknown(u[0], u[1])] == [("s3", "GetObjet", 2)]


def test_the_tests_check_every_action_made_at_run_time():
    """tests/conftest.py checks each action made while the tests run, so a name the static check
    cannot read (computed) is caught when a test generates it."""
    name = "".join(["Get", "Objet"])
    with pytest.raises(AssertionError, match="s3:GetObjet is not an action awacs knows"):
        getattr(actions.s3, name)
    with pytest.raises(AssertionError, match="kms:Decrpyt"):
        actions.kms.Action("Decrpyt")
    assert plain(actions.s3.GetObject) == "s3:GetObject"


@pytest.mark.parametrize("service", actions.SERVICES, ids=lambda s: s.prefix)
def test_each_service_has_awacs_prefix_and_gives_its_json(service):
    module = importlib.import_module(f"awacs.{service.module}")
    assert service.prefix == module.prefix
    assert getattr(actions, service.module) is service
    name = next(n for n, v in vars(module).items() if isinstance(v, Action) and v.action)
    assert plain(getattr(service, name)) == plain(getattr(module, name)) == f"{service.prefix}:{name}"
    assert plain(service.Action("*")) == plain(module.Action("*")) == f"{service.prefix}:*"
    assert getattr(service, name) is getattr(service, name)   # made once per name


def test_private_names_are_not_actions():
    with pytest.raises(AttributeError):
        actions.s3.__wrapped__  # noqa: B018 - what copy, pickle and inspect probe for


def test_a_generation_imports_no_awacs_service_module(tmp_path):
    import json
    import subprocess
    import sys

    code = ("import json, sys; sys.path[:0] = ['src', '.']; from infra.cli import main\n"
            f"try:\n    main(['templates', '--out', {str(tmp_path)!r}])\n"
            "except SystemExit:\n    pass\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('awacs.'))))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["awacs.aws"]
    assert Path(tmp_path / "secure-api-prod" / "pipeline.json").is_file()
