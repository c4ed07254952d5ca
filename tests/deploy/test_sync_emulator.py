"""sync on the emulator: a development copy of catalog-api (Node.js users, Python products).

One story, in order: deploy -> a handler edit is synced (code updated, no stack updated) -> an
environment change is applied -> a new route's OpenAPI document is put and deployed to the stage
-> diff and drift show what was synced -> a table change falls back to a deploy and says why ->
that deploy reconciles (nothing synced any more, diff clean). Then the refusals: production,
a stage not deployed, a function deleted outside CloudFormation, an endpoint that does not answer.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys

import pytest
from deploy_emulator import REPO, boto
from sync_stage import STACK, dev_catalog, edit
from support.cli_result import error_line

CI = ("--yes", "--require-approval", "never", "--skip-check", "all")


@pytest.fixture
def catalog(emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # .cache/sync lands here
    return dev_catalog(tmp_path)


def stack_times(cfn) -> dict[str, object]:
    """LastUpdatedTime (or CreationTime) of the root and of every nested stack."""
    found = {}
    for s in cfn.describe_stacks()["Stacks"]:
        if s["StackName"].startswith(STACK) and s["StackStatus"] != "DELETE_COMPLETE":
            found[s["StackId"]] = (s.get("LastUpdatedTime") or s["CreationTime"], s["StackStatus"])
    return found


def code_sha(lam, name: str) -> str:
    return lam.get_function_configuration(FunctionName=name)["CodeSha256"]


def test_sync_code_env_and_api_then_fall_back_and_reconcile(catalog, cli, emulator, tmp_path):
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    cfn = boto(emulator.endpoint_url, "cloudformation")
    lam = boto(emulator.endpoint_url, "lambda")
    apigw = boto(emulator.endpoint_url, "apigateway")
    assert cli("deploy", *args, *CI).exit_code == 0

    nothing = cli("sync", *args)
    assert nothing.exit_code == 0, nothing.output
    assert "nothing to sync" in nothing.stdout

    # 1. Code: both handlers edited; both functions get the new zip, no stack is updated.
    before = stack_times(cfn)
    users_sha, products_sha = code_sha(lam, "catalog-dev-users"), code_sha(lam, "catalog-dev-products")
    edit(tmp_path / "handlers" / "products" / "app.py", "from __future__ import annotations",
         "from __future__ import annotations\n\nSYNCED_MARK = 1")
    # A Node.js function is an esbuild bundle (comments dropped): the edit is code, an export it keeps.
    users = tmp_path / "handlers" / "users" / "index.mjs"
    users.write_text(users.read_text() + "\nexport const SYNCED_MARK = 1;\n")
    synced = cli("sync", *args)
    assert synced.exit_code == 0, synced.output
    assert re.search(r"synced catalog-dev/Compute > ProductsFunction \(catalog-dev-products\): code in", synced.stdout)
    assert re.search(r"synced catalog-dev/Compute > UsersFunction \(catalog-dev-users\): code in", synced.stdout)
    zip_path = next((tmp_path / "out" / "catalog-api" / "assets").glob("*.zip"))
    assert zip_path.is_file()
    new_products = code_sha(lam, "catalog-dev-products")
    assert new_products != products_sha and code_sha(lam, "catalog-dev-users") != users_sha
    manifest = json.loads((tmp_path / "out" / "catalog-api" / "manifest.json").read_text())
    products_zip = next(a for a in manifest["assets"] if a["source"].endswith("products"))["file"]
    data = (tmp_path / "out" / "catalog-api" / products_zip).read_bytes()
    assert new_products == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert stack_times(cfn) == before                        # no stack was updated

    # 2. The environment of one function: applied through UpdateFunctionConfiguration. (Memory and
    #    timeout sync too, but in this config the AWS Config rule checks them, so they need a deploy.)
    edit(catalog, 'ENVIRONMENT = "dev"', 'ENVIRONMENT = "dev"\nFEATURE = "on"')
    env = cli("sync", *args)
    assert env.exit_code == 0, env.output
    assert "catalog-dev/Compute > UsersFunction (catalog-dev-users): environment in" in env.stdout
    live = lam.get_function_configuration(FunctionName="catalog-dev-users")
    assert live["Environment"]["Variables"]["FEATURE"] == "on"
    assert live["Environment"]["Variables"]["TABLE_NAME"] == "catalog-dev-users"   # a Ref, resolved
    assert stack_times(cfn) == before

    # 3. A new route for an existing function: the OpenAPI document is put and deployed to the stage.
    rest_id = next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == "prod-MyAPI")
    deployment_before = apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"]
    text = catalog.read_text()
    catalog.write_text(text + '\n[[api.routes]]\nmethod = "GET"\npath = "/products/{id}/reviews"\nfunction = "products"\n')
    api = cli("sync", *args)
    assert api.exit_code == 0, api.output
    assert "catalog-dev/Api > RestApi" in api.stdout and "deployed to stage dev" in api.stdout
    paths = {r["path"] for r in apigw.get_resources(restApiId=rest_id)["items"]}
    assert "/products/{id}/reviews" in paths
    stage = apigw.get_stage(restApiId=rest_id, stageName="dev")
    assert stage["deploymentId"] != deployment_before
    served = apigw.get_deployment(restApiId=rest_id, deploymentId=stage["deploymentId"])
    assert served["description"].startswith("serverless-infra sync ")
    assert stack_times(cfn) == before

    # 4. diff and drift say what is live through sync (moto has no drift detection API: drift
    #    lists the synced resources first, then fails on DetectStackDrift with one line).
    diff = cli("diff", *args)
    assert diff.exit_code == 0, diff.output
    assert "Already live through sync" in diff.stdout
    assert re.search(r"SYNCED catalog-dev/Compute > UsersFunction \(catalog-dev-users\): code, environment",
                     diff.stdout)
    assert "SYNCED catalog-dev/Api > RestApi" in diff.stdout
    assert "SYNCED catalog-dev/ApiStage > Stage (dev): deployment" in diff.stdout
    drift = cli("drift", *args)
    assert "Synced outside CloudFormation" in drift.stdout
    assert error_line(drift) == ("Error: The endpoint does not implement CloudFormation's drift detection "
                                "(DetectStackDrift; the local emulator has none), so drift can be checked on AWS only.")
    assert drift.exit_code == 1
    assert "SYNCED catalog-dev/Compute > ProductsFunction (catalog-dev-products): code" in drift.stdout

    # 5. A table change: named, then a deploy (change set) does everything, synced changes included.
    edit(catalog, '[tables.products]\npartition_key = "id:S"\n', '[tables.products]\npartition_key = "id:S"\n'
         'point_in_time_recovery = false\n')
    fallback = cli("sync", *args, *CI)
    assert fallback.exit_code == 0, fallback.output
    out = fallback.stdout
    assert "only a deploy can" in out
    assert re.search(r"- catalog-dev/Data > ProductsTable \(AWS::DynamoDB::Table\) changes PointInTimeRecoverySpecification", out)
    assert "Falling back to deploy" in out and "UPDATE_COMPLETE" in out
    assert stack_times(cfn) != before

    # 6. Reconciled: CloudFormation has what sync applied; nothing is shown as synced any more.
    assert lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"]["FEATURE"] == "on"
    clean = cli("diff", *args, "--fail")
    assert clean.exit_code == 0, clean.output
    assert "Already live through sync" not in clean.stdout
    after = cli("drift", *args)
    assert "Synced outside CloudFormation" not in after.stdout
    final = cli("sync", *args)
    assert final.exit_code == 0 and "nothing to sync" in final.stdout, final.output


def test_an_undone_edit_is_put_back_and_a_deployed_sync_never_counts_again(catalog, cli, emulator, tmp_path):
    """Two ways the ledger used to lie. (1) An edit synced, then undone in the config: the generated template
    equals the deployed one again, so sync said "nothing to sync" while the function kept the undone value,
    and no deploy would change it (CloudFormation sees no change). (2) An edit synced, deployed, then undone
    and deployed again: the stack had the template the sync was made over again, so the old entry counted
    again and diff showed it as live through sync."""
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    lam = boto(emulator.endpoint_url, "lambda")
    assert cli("deploy", *args, *CI).exit_code == 0
    deployed_env = lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"]
    products_sha = code_sha(lam, "catalog-dev-products")

    edit(catalog, 'ENVIRONMENT = "dev"', 'ENVIRONMENT = "dev"\nFEATURE = "on"')
    handler = tmp_path / "handlers" / "products" / "app.py"
    original = handler.read_text()
    handler.write_text(original.replace("from __future__ import annotations",
                                        "from __future__ import annotations\n\nSYNCED_MARK = 1", 1))
    assert cli("sync", *args).exit_code == 0
    assert lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"]["FEATURE"] == "on"
    assert code_sha(lam, "catalog-dev-products") != products_sha

    # (1) Both edits undone: sync puts the deployed values back, and nothing is shown as synced any more.
    edit(catalog, '\nFEATURE = "on"', "")
    handler.write_text(original)
    back = cli("sync", *args)
    assert back.exit_code == 0, back.output
    assert "UsersFunction (catalog-dev-users): environment (back to the deployed value) in" in back.stdout
    assert "ProductsFunction (catalog-dev-products): code (back to the deployed value) in" in back.stdout
    assert lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"] == deployed_env
    assert code_sha(lam, "catalog-dev-products") == products_sha
    assert "back to what CloudFormation deployed: nothing is shown as synced" in back.stdout
    clean = cli("diff", *args, "--fail")
    assert clean.exit_code == 0 and "Already live through sync" not in clean.stdout, clean.output
    again = cli("sync", *args)
    assert again.exit_code == 0 and f"{STACK}: nothing to sync." in again.stdout, again.output

    # (2) Synced, deployed (CloudFormation records it), undone and deployed: no entry comes back.
    edit(catalog, 'ENVIRONMENT = "dev"', 'ENVIRONMENT = "dev"\nFEATURE = "on"')
    assert cli("sync", *args).exit_code == 0
    assert cli("deploy", *args, *CI).exit_code == 0
    edit(catalog, '\nFEATURE = "on"', "")
    assert cli("deploy", *args, *CI).exit_code == 0
    shown = cli("diff", *args)
    assert shown.exit_code == 0, shown.output
    assert "Already live through sync" not in shown.stdout, shown.stdout
    assert lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"] == deployed_env


def _cfn_deployment(cfn, apigw, rest_id: str) -> str:
    """The deployment CloudFormation made (not one of sync's)."""
    return next(d["id"] for d in apigw.get_deployments(restApiId=rest_id)["items"]
                if not str(d.get("description", "")).startswith("serverless-infra sync"))


def test_an_undone_api_edit_is_put_back_on_the_deployed_definition(catalog, cli, emulator, tmp_path):
    """The API's counterpart of the undone function edit: synced, then undone in the config, it went
    on serving the synced definition while sync said 'nothing to sync' and deploy 'no changes'."""
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    cfn, apigw = boto(emulator.endpoint_url, "cloudformation"), boto(emulator.endpoint_url, "apigateway")
    assert cli("deploy", *args, *CI).exit_code == 0
    rest_id = next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == "prod-MyAPI")
    deployed = apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"]
    before = stack_times(cfn)
    edit(catalog, "max_age = 3600", "max_age = 700")
    assert cli("sync", *args).exit_code == 0
    assert apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"] != deployed

    edit(catalog, "max_age = 700", "max_age = 3600")
    back = cli("sync", *args)
    assert back.exit_code == 0, back.output
    assert f"catalog-dev/Api > RestApi ({rest_id}): OpenAPI document and stage dev back to the deployed ones " \
           f"({deployed})" in back.stdout
    assert "nothing is shown as synced" in back.stdout
    assert apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"] == deployed
    assert _cfn_deployment(cfn, apigw, rest_id) == deployed
    assert not [d for d in apigw.get_deployments(restApiId=rest_id)["items"]
                if str(d.get("description", "")).startswith("serverless-infra sync")]   # the synced one is gone
    clean = cli("diff", *args, "--fail")
    assert clean.exit_code == 0 and "Already live through sync" not in clean.stdout, clean.output
    assert stack_times(cfn) == before


def test_an_undone_api_edit_whose_deployment_is_unknown_is_deployed_anew_as_deployed(catalog, cli, emulator,
                                                                                      tmp_path):
    """Where neither the stack nor the ledger names CloudFormation's deployment (the emulator names
    none; a ledger that recorded a sync's), the deployed document is deployed anew: never a stage
    left on a sync's deployment."""
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    apigw, s3 = boto(emulator.endpoint_url, "apigateway"), boto(emulator.endpoint_url, "s3")
    assert cli("deploy", *args, *CI).exit_code == 0
    rest_id = next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == "prod-MyAPI")
    edit(catalog, "max_age = 3600", "max_age = 700")
    assert cli("sync", *args).exit_code == 0
    synced = apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"]
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("serverless-infra"))
    book = json.loads(s3.get_object(Bucket=bucket, Key="sync/catalog-dev.json")["Body"].read())
    for entry in book["entries"].values():
        if entry.get("cfn_deployment"):
            entry["cfn_deployment"] = synced          # as if recorded after an earlier, unrecorded sync
    s3.put_object(Bucket=bucket, Key="sync/catalog-dev.json", Body=json.dumps(book).encode())
    edit(catalog, "max_age = 700", "max_age = 3600")
    back = cli("sync", *args)
    assert back.exit_code == 0, back.output
    assert "back to the deployed document, in a new deployment" in back.stdout
    assert apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"] != synced
    clean = cli("diff", *args, "--fail")
    assert clean.exit_code == 0 and "Already live through sync" not in clean.stdout, clean.output


def test_an_undone_edit_is_put_back_before_a_deploy_that_would_not_touch_it(catalog, cli, emulator, tmp_path):
    """Synced, undone, and another change that needs a deploy: the deploy leaves the undone value
    (its template did not change), so sync puts it back before it hands over."""
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    lam = boto(emulator.endpoint_url, "lambda")
    assert cli("deploy", *args, *CI).exit_code == 0
    deployed_env = lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"]
    edit(catalog, 'ENVIRONMENT = "dev"', 'ENVIRONMENT = "dev"\nFEATURE = "on"')
    assert cli("sync", *args).exit_code == 0
    edit(catalog, '\nFEATURE = "on"', "")
    edit(catalog, '[tables.products]\npartition_key = "id:S"\n', '[tables.products]\npartition_key = "id:S"\n'
         'point_in_time_recovery = false\n')
    both = cli("sync", *args, *CI)
    assert both.exit_code == 0, both.output
    out = both.stdout
    assert out.index("UsersFunction (catalog-dev-users): environment (back to the deployed value)") \
        < out.index("Falling back to deploy")
    assert lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"] == deployed_env
    clean = cli("diff", *args, "--fail")
    assert clean.exit_code == 0 and "Already live through sync" not in clean.stdout, clean.output


def test_a_deploy_past_an_undone_sync_keeps_it_in_view_and_the_next_sync_puts_it_back(catalog, cli, emulator,
                                                                                       tmp_path):
    """Code synced, the edit undone, then a deploy of a change elsewhere in the same nested stack:
    CloudFormation leaves the function alone (its definition is the same), so it still runs the
    synced code. The deploy says so, diff shows it as synced, and sync puts it back (the deploy used
    to forget it, and nothing would ever have put it back)."""
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    lam = boto(emulator.endpoint_url, "lambda")
    assert cli("deploy", *args, *CI).exit_code == 0
    deployed = code_sha(lam, "catalog-dev-users")
    users = tmp_path / "handlers" / "users" / "index.mjs"
    original = users.read_text()
    users.write_text(original + "\nexport const synced = 1;\n")
    assert cli("sync", *args).exit_code == 0 and code_sha(lam, "catalog-dev-users") != deployed
    users.write_text(original)                                            # undone
    edit(tmp_path / "handlers" / "products" / "app.py", "import re", "import re  # edited")   # also in Compute
    past = cli("deploy", *args, *CI)
    assert past.exit_code == 0, past.output
    assert "Still live through an earlier sync, which this deploy did not change" in past.output
    assert "catalog-dev/Compute > UsersFunction" in past.output
    diff = cli("diff", *args)
    assert "Already live through sync" in diff.stdout and "UsersFunction (catalog-dev-users): code" in diff.stdout
    back = cli("sync", *args)
    assert back.exit_code == 0, back.output
    assert "UsersFunction (catalog-dev-users): code (back to the deployed value)" in back.stdout
    assert code_sha(lam, "catalog-dev-users") == deployed
    clean = cli("diff", *args, "--fail")
    assert clean.exit_code == 0 and "Already live through sync" not in clean.stdout, clean.output


def test_an_api_edit_synced_undone_and_deployed_past_is_put_back(catalog, cli, emulator, tmp_path):
    """The API's counterpart: an API edit synced, undone, then a deploy of a change to the stage's
    stack only (an alarm threshold). CloudFormation touches neither the RestApi nor the Stage; the
    deploy used to forget the Stage's entry, so sync could never put the stage back."""
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    apigw = boto(emulator.endpoint_url, "apigateway")
    assert cli("deploy", *args, *CI).exit_code == 0
    rest_id = next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == "prod-MyAPI")
    deployed = apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"]
    edit(catalog, "max_age = 3600", "max_age = 700")
    assert cli("sync", *args).exit_code == 0
    edit(catalog, "max_age = 700", "max_age = 3600")          # undone ...
    edit(catalog, "api_4xx = 10", "api_4xx = 11")             # ... and a change to the stage's stack, deployed
    past = cli("deploy", *args, *CI)
    assert past.exit_code == 0 and "Still live through an earlier sync" in past.output, past.output
    back = cli("sync", *args)
    assert back.exit_code == 0, back.output
    assert f"back to the deployed ones ({deployed})" in back.stdout
    assert apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"] == deployed


def test_an_api_edit_synced_undone_and_deployed_past_with_new_stage_settings_is_put_back(catalog, cli, emulator,
                                                                                       tmp_path):
    """As above, but the deploy changes the Stage itself (its throttling, not its deployment). The
    emulator, like a CloudFormation that re-applies the stage's DeploymentId, points the stage back
    at CloudFormation's deployment, so the stage's entry is gone; the API's working document still
    holds the undone edit (the next deployment CloudFormation makes would serve it), and sync puts it
    back without moving the stage."""
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    apigw = boto(emulator.endpoint_url, "apigateway")
    assert cli("deploy", *args, *CI).exit_code == 0
    rest_id = next(a["id"] for a in apigw.get_rest_apis()["items"] if a["name"] == "prod-MyAPI")
    deployed = apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"]

    def working_document() -> str:
        return json.dumps(apigw.get_resources(restApiId=rest_id, embed=["methods"]), default=str)

    assert "'3600'" in working_document()
    edit(catalog, "max_age = 3600", "max_age = 700")
    assert cli("sync", *args).exit_code == 0 and "'700'" in working_document()
    edit(catalog, "max_age = 700", "max_age = 3600")                 # undone ...
    edit(catalog, "throttle_rate = 1000", "throttle_rate = 900")     # ... and the stage's throttling, deployed
    past = cli("deploy", *args, *CI)
    assert past.exit_code == 0, past.output
    assert apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"] == deployed
    diff = cli("diff", *args)
    assert "its stage no longer serves the synced deployment" in diff.stdout, diff.stdout
    back = cli("sync", *args)
    assert back.exit_code == 0, back.output
    assert f"OpenAPI document back to the deployed one (stage dev left on {deployed}" in back.stdout, back.stdout
    assert "'3600'" in working_document() and "'700'" not in working_document()
    assert apigw.get_stage(restApiId=rest_id, stageName="dev")["deploymentId"] == deployed
    clean = cli("diff", *args, "--fail")
    assert clean.exit_code == 0 and "Already live through sync" not in clean.stdout, clean.output


def test_what_changed_outside_since_a_sync_is_sent_again(catalog, cli, emulator, tmp_path):
    """The ledger says what sync applied; the live function decides whether it still has it."""
    import io
    import zipfile

    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    lam = boto(emulator.endpoint_url, "lambda")
    assert cli("deploy", *args, *CI).exit_code == 0
    edit(catalog, 'ENVIRONMENT = "dev"', 'ENVIRONMENT = "dev"\nFEATURE = "on"')
    edit(tmp_path / "handlers" / "products" / "app.py", "from __future__ import annotations",
         "from __future__ import annotations\n\nSYNCED_MARK = 1")
    assert cli("sync", *args).exit_code == 0
    synced_sha = code_sha(lam, "catalog-dev-products")
    # Someone else's code and environment, outside this tool.
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {}\n")
    lam.update_function_code(FunctionName="catalog-dev-products", ZipFile=other.getvalue())
    env = lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName="catalog-dev-users",
                                      Environment={"Variables": {**env, "FEATURE": "off"}})
    shown = cli("diff", *args)
    assert "catalog-dev/Compute > UsersFunction (catalog-dev-users): environment" in shown.stdout
    assert shown.stdout.count("changed again since (not by sync)") == 2, shown.stdout
    again = cli("sync", *args)
    assert again.exit_code == 0, again.output
    assert "ProductsFunction (catalog-dev-products): code in" in again.stdout
    assert "UsersFunction (catalog-dev-users): environment in" in again.stdout
    assert code_sha(lam, "catalog-dev-products") == synced_sha
    assert lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"]["FEATURE"] == "on"


def test_a_stage_destroyed_and_deployed_again_forgets_what_was_synced_into_the_old_one(catalog, cli, emulator,
                                                                                       tmp_path):
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    lam = boto(emulator.endpoint_url, "lambda")
    assert cli("deploy", *args, *CI).exit_code == 0
    handler = tmp_path / "handlers" / "products" / "app.py"
    original = handler.read_text()
    marked = original.replace("from __future__ import annotations",
                              "from __future__ import annotations\n\nSYNCED_MARK = 1", 1)
    handler.write_text(marked)
    assert cli("sync", *args).exit_code == 0
    handler.write_text(original)
    assert cli("destroy", *args, "--yes").exit_code == 0
    assert cli("deploy", *args, *CI).exit_code == 0
    deployed_sha = code_sha(lam, "catalog-dev-products")
    handler.write_text(marked)                           # the same edit, on the new stage
    again = cli("sync", *args)
    assert again.exit_code == 0, again.output
    assert "ProductsFunction (catalog-dev-products): code in" in again.stdout
    assert code_sha(lam, "catalog-dev-products") != deployed_sha


def test_sync_through_generate_py_ends_at_once_with_everything_written(catalog, cli, emulator, tmp_path):
    """generate.py ends a sync with os._exit (no interpreter teardown): its output still reaches a
    file, the code is live, the exit code holds, and the cache sync keeps between runs is written."""
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    lam = boto(emulator.endpoint_url, "lambda")
    assert cli("deploy", *args, *CI).exit_code == 0
    before = code_sha(lam, "catalog-dev-products")
    edit(tmp_path / "handlers" / "products" / "app.py", "from __future__ import annotations",
         "from __future__ import annotations\n\nSYNCED_MARK = 1")
    printed = tmp_path / "sync-output.txt"
    with printed.open("w") as fh:
        run = subprocess.run([sys.executable, str(REPO / "generate.py"), "sync", *map(str, args)], cwd=tmp_path,
                             stdout=fh, stderr=subprocess.PIPE, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    lines = printed.read_text().splitlines()
    assert any(line.startswith("synced catalog-dev/Compute > ProductsFunction") for line in lines), lines
    assert lines[-1].startswith("Synced catalog-dev in ")
    assert code_sha(lam, "catalog-dev-products") != before
    assert [p for p in (tmp_path / ".cache" / "sync").rglob("*") if p.is_file()]
    again = subprocess.run([sys.executable, str(REPO / "generate.py"), "sync", *map(str, args)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and "nothing to sync" in again.stdout, again.stderr


def test_production_is_refused_before_any_call(emulator, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    cfn = boto(emulator.endpoint_url, "cloudformation")
    result = cli("sync", "--config", REPO / "config" / "catalog-api.toml", "--out", tmp_path / "out",
                 "--endpoint-url", emulator.endpoint_url)
    assert result.exit_code == 2
    error = error_line(result)
    assert "Refusing to sync catalog-prod: it is a production stage ([project] production = true" in error
    assert "python generate.py deploy --config" in error and "Nothing was changed" in error
    assert cfn.describe_stacks()["Stacks"] == []


def test_termination_protection_is_refused(catalog, cli, emulator, tmp_path):
    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    assert cli("deploy", *args, *CI).exit_code == 0
    cfn = boto(emulator.endpoint_url, "cloudformation")
    cfn.update_termination_protection(StackName=STACK, EnableTerminationProtection=True)
    edit(tmp_path / "handlers" / "products" / "app.py", "import re", "import re  # edited")
    lam = boto(emulator.endpoint_url, "lambda")
    before = code_sha(lam, "catalog-dev-products")
    result = cli("sync", *args)
    assert result.exit_code == 2
    assert "its root stack has termination protection" in error_line(result)
    assert code_sha(lam, "catalog-dev-products") == before

    # A function deleted outside CloudFormation: named, exit 1, nothing else changed, also when
    # another function to sync comes first (it used to be updated before the gone one was found).
    cfn.update_termination_protection(StackName=STACK, EnableTerminationProtection=False)
    lam.delete_function(FunctionName="catalog-dev-users")
    users = tmp_path / "handlers" / "users" / "index.mjs"
    users.write_text(users.read_text() + "\nexport const edited = 1;\n")
    gone = cli("sync", *args)
    assert gone.exit_code == 1
    assert "the function catalog-dev-users does not exist although CloudFormation lists it" in error_line(gone)
    assert code_sha(lam, "catalog-dev-products") == before, gone.output


def test_watch_sync_follows_a_region_change_of_the_config(catalog, cli, emulator, tmp_path):
    """watch --sync keeps its AWS sessions between saves: after the config's region is edited, a
    save is synced in the new region (where the stage is not deployed: said so), never in the old
    one, which the config no longer names."""
    from infra.errors import DeployError
    from infra.sync.commands import Fallback, Syncer

    args = ["--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url]
    lam = boto(emulator.endpoint_url, "lambda")
    assert cli("deploy", *args, *CI).exit_code == 0
    syncer = Syncer(Fallback(tmp_path / "out", None, None, emulator.endpoint_url, None, False, "broadening", (),
                             False, None, tmp_path / ".cache" / "sync"))
    assert syncer(catalog) == "nothing"
    edit(catalog, 'region = "us-east-1"', 'region = "us-west-2"')
    before = code_sha(lam, "catalog-dev-products")
    edit(tmp_path / "handlers" / "products" / "app.py", "import re", "import re  # edited")
    with pytest.raises(DeployError, match="is not deployed in us-west-2"):
        syncer(catalog)
    assert code_sha(lam, "catalog-dev-products") == before


def test_a_stage_not_deployed_and_an_endpoint_that_does_not_answer(catalog, cli, emulator, tmp_path):
    from infra.emulator import free_port

    args = ["--config", catalog, "--out", tmp_path / "out"]
    missing = cli("sync", *args, "--endpoint-url", emulator.endpoint_url)
    assert missing.exit_code == 1
    assert error_line(missing) == (f"Error: {STACK} is not deployed in us-east-1: sync only updates a deployed stage. "
                                  f"Run `python generate.py deploy --config {catalog} --endpoint-url "
                                  f"{emulator.endpoint_url}` first.")   # the same emulator, not AWS
    dead = cli("sync", *args, "--endpoint-url", f"http://127.0.0.1:{free_port()}")
    assert dead.exit_code == 1
    assert "Could not reach AWS while reading catalog-dev in us-east-1" in error_line(dead)


def test_no_credentials(catalog, cli, emulator, tmp_path, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    result = cli("sync", "--config", catalog, "--out", tmp_path / "out", "--endpoint-url", emulator.endpoint_url)
    assert result.exit_code == 1
    assert "No AWS credentials found" in error_line(result)


def test_watch_sync_refuses_a_production_config_before_watching(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    result = cli("watch", "--config", REPO / "config" / "catalog-api.toml", "--out", tmp_path / "out", "--sync")
    assert result.exit_code == 2
    assert "Refusing to sync catalog-prod: it is a production stage" in error_line(result)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, text", [
    (["sync", "--config", "missing.toml"], "Invalid value for '--config': File 'missing.toml' does not exist."),
    (["sync", "--config", "config/secure-api.toml", "--endpoint-url", "http://:80"], "names no host"),
    (["watch", "--config", "config/secure-api.toml", "--sync", "--endpoint-url", "ftp://x"],
     "is not an http:// or https:// URL"),
    (["sync", "--config", "config/secure-api.toml", "--require-approval", "sometimes"], "'--require-approval'"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, text, cli, aws_env, monkeypatch):
    monkeypatch.chdir(REPO)
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert text in error_line(result)
