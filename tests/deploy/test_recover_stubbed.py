"""recover: a stage stuck in UPDATE_ROLLBACK_FAILED, on recorded CloudFormation answers (Stubber).

moto has no UPDATE_ROLLBACK_FAILED and no ContinueUpdateRollback with ResourcesToSkip; Stubber holds
every request to the service model. The story: an update of the Compute nested stack failed (the
function's new memory size is out of range), and its rollback failed too (the function was deleted
outside CloudFormation meanwhile). recover shows both, skips `Compute.Function` (the nested-stack
form ContinueUpdateRollback takes), continues the rollback and follows it to UPDATE_ROLLBACK_COMPLETE.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import infra.deploy.recover as recover
from infra.deploy.manifest import Build
from infra.deploy.stage import Options
from infra.errors import UsageError
from recorded import ACCOUNT, ANY, T0, ev, quiet_ui
from stage_fixture import write_stage
from test_operations_stubbed import StubbedAws

STACK = "shop-dev"
ROOT = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}/11111111-1111-1111-1111-111111111111"
DATA = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}-Data-AAA/22222222-2222-2222-2222-222222222222"
COMPUTE = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/{STACK}-Compute-BBB/33333333-3333-3333-3333-333333333333"
NESTED = "AWS::CloudFormation::Stack"
FUNCTION = "AWS::Lambda::Function"
UPDATE_FAILED = "Resource handler returned message: MemorySize value failed to satisfy constraint"
ROLLBACK_FAILED = "Resource handler returned message: Function not found: arn:aws:lambda:us-east-1:123:function:shop-dev-items"
EMBEDDED = f"Embedded stack {COMPUTE} was not successfully updated. Currently in UPDATE_ROLLBACK_IN_PROGRESS."


def at(seconds: int):
    return T0 + timedelta(seconds=seconds)


def page(*events: dict) -> dict:
    return {"StackEvents": sorted(events, key=lambda e: e["Timestamp"], reverse=True)}


def root_event(status: str, s: int, reason: str | None = None) -> dict:
    return ev(ROOT, STACK, status, seconds=s, stack_name=STACK, reason=reason)


def compute_event(status: str, s: int) -> dict:
    return ev(COMPUTE, f"{STACK}-Compute-BBB", status, seconds=s, stack_name=f"{STACK}-Compute-BBB")


# What happened: the update (t=0..20), its rollback that failed (t=25..50).
ROOT_BEFORE = page(
    root_event("UPDATE_IN_PROGRESS", 0),
    ev(ROOT, "Compute", "UPDATE_IN_PROGRESS", seconds=5, physical=COMPUTE, rtype=NESTED, stack_name=STACK),
    ev(ROOT, "Compute", "UPDATE_FAILED", seconds=20, physical=COMPUTE, rtype=NESTED, stack_name=STACK, reason=EMBEDDED),
    root_event("UPDATE_ROLLBACK_IN_PROGRESS", 30, "The following resource(s) failed to update: [Compute]."),
    ev(ROOT, "Compute", "UPDATE_FAILED", seconds=45, physical=COMPUTE, rtype=NESTED, stack_name=STACK, reason=EMBEDDED),
    root_event("UPDATE_ROLLBACK_FAILED", 50),
)
COMPUTE_BEFORE = page(
    compute_event("UPDATE_IN_PROGRESS", 6),
    ev(COMPUTE, "Function", "UPDATE_IN_PROGRESS", seconds=10, physical=f"{STACK}-items", rtype=FUNCTION),
    ev(COMPUTE, "Function", "UPDATE_FAILED", seconds=15, physical=f"{STACK}-items", rtype=FUNCTION, reason=UPDATE_FAILED),
    compute_event("UPDATE_ROLLBACK_IN_PROGRESS", 25),
    ev(COMPUTE, "Function", "UPDATE_FAILED", seconds=40, physical=f"{STACK}-items", rtype=FUNCTION,
       reason=ROLLBACK_FAILED),
    compute_event("UPDATE_ROLLBACK_FAILED", 44),
)
DATA_BEFORE = page(ev(DATA, f"{STACK}-Data-AAA", "UPDATE_COMPLETE", seconds=-100, stack_name=f"{STACK}-Data-AAA"))


def summaries(*rows: tuple[str, str, str, str, int, str | None]) -> dict:
    return {"StackResourceSummaries": [
        {"LogicalResourceId": lid, "PhysicalResourceId": pid, "ResourceType": rtype, "ResourceStatus": status,
         "LastUpdatedTimestamp": at(s), **({"ResourceStatusReason": reason} if reason else {})}
        for lid, pid, rtype, status, s, reason in rows]}


ROOT_RESOURCES = summaries(("Data", DATA, NESTED, "UPDATE_COMPLETE", -100, None),
                           ("Compute", COMPUTE, NESTED, "UPDATE_FAILED", 45, EMBEDDED))
DATA_RESOURCES = summaries(("ItemsTable", f"{STACK}-items", "AWS::DynamoDB::Table", "UPDATE_COMPLETE", -100, None))
COMPUTE_RESOURCES = summaries(
    ("FunctionRole", f"{STACK}-function", "AWS::IAM::Role", "UPDATE_COMPLETE", -100, None),
    ("Function", f"{STACK}-items", FUNCTION, "UPDATE_FAILED", 40, ROLLBACK_FAILED))


def describe(stub, status: str, stack_id: str = ROOT, name: str = STACK) -> None:
    stub.add_response("describe_stacks", {"Stacks": [{"StackId": stack_id, "StackName": name, "CreationTime": T0,
                                                      "StackStatus": status}]}, {"StackName": name})


def events(stub, stack_id: str, answer: dict) -> None:
    stub.add_response("describe_stack_events", answer, {"StackName": stack_id})


def listing(stub) -> None:
    """ListStackResources of the tree, as nested_stacks walks it (root, then each child)."""
    stub.add_response("list_stack_resources", ROOT_RESOURCES, {"StackName": ROOT})
    stub.add_response("list_stack_resources", DATA_RESOURCES, {"StackName": DATA})
    stub.add_response("list_stack_resources", COMPUTE_RESOURCES, {"StackName": COMPUTE})


@pytest.fixture
def stuck(tmp_path, monkeypatch):
    build = Build.load(write_stage(tmp_path))
    aws = StubbedAws()
    monkeypatch.setattr(recover, "open_stage", lambda opts, ui=None: (build, aws))
    return aws


def test_a_nested_resource_that_cannot_roll_back_is_skipped_and_the_rollback_continued(stuck):
    cfn = stuck.stub("cloudformation")
    describe(cfn, "UPDATE_ROLLBACK_FAILED")                     # the stage, as read
    # The root cause: the update's first real failure, found in the nested stack.
    events(cfn, ROOT, ROOT_BEFORE)
    events(cfn, ROOT, ROOT_BEFORE)
    events(cfn, COMPUTE, COMPUTE_BEFORE)
    # The resources whose rollback failed: per stack, those in UPDATE_FAILED since its rollback began.
    listing(cfn)
    for stack_id, before, resources in ((ROOT, ROOT_BEFORE, ROOT_RESOURCES), (DATA, DATA_BEFORE, DATA_RESOURCES),
                                        (COMPUTE, COMPUTE_BEFORE, COMPUTE_RESOURCES)):
        events(cfn, stack_id, before)
        cfn.add_response("list_stack_resources", resources, {"StackName": stack_id})
    # ContinueUpdateRollback on the root, skipping the nested function, followed to the end.
    listing(cfn)
    for stack_id, before in ((ROOT, ROOT_BEFORE), (DATA, DATA_BEFORE), (COMPUTE, COMPUTE_BEFORE)):
        events(cfn, stack_id, before)
    cfn.add_response("continue_update_rollback", {}, {"StackName": ROOT, "ResourcesToSkip": ["Compute.Function"],
                                                      "ClientRequestToken": ANY})
    root_after = page(*ROOT_BEFORE["StackEvents"], root_event("UPDATE_ROLLBACK_IN_PROGRESS", 55),
                      ev(ROOT, "Compute", "UPDATE_COMPLETE", seconds=65, physical=COMPUTE, rtype=NESTED, stack_name=STACK),
                      root_event("UPDATE_ROLLBACK_COMPLETE", 70))
    compute_after = page(*COMPUTE_BEFORE["StackEvents"], compute_event("UPDATE_ROLLBACK_IN_PROGRESS", 56),
                         ev(COMPUTE, "Function", "UPDATE_COMPLETE", seconds=60, physical=f"{STACK}-items", rtype=FUNCTION,
                            reason="Resource skipped during UPDATE_ROLLBACK"),
                         compute_event("UPDATE_ROLLBACK_COMPLETE", 68))
    for answers in ((root_after, DATA_BEFORE, compute_after),):
        for stack_id, answer in zip((ROOT, DATA, COMPUTE), answers, strict=True):
            events(cfn, stack_id, answer)
    listing(cfn)                                                 # the last look for nested stacks
    for stack_id, answer in ((ROOT, root_after), (DATA, DATA_BEFORE), (COMPUTE, compute_after)):
        events(cfn, stack_id, answer)

    ui, out, _ = quiet_ui()
    recovered = recover.run_recover(Options(config=Path("shop.toml"), out=Path("out"), yes=True), ui)
    stuck.assert_done()
    assert recovered == [STACK]
    text = out.getvalue()
    assert (f"Why the update failed: {STACK}/Compute > Function ({FUNCTION}) UPDATE_FAILED: {UPDATE_FAILED}."
            in " ".join(text.split()))
    assert f"skip Compute.Function  ({STACK}/Compute > Function, {FUNCTION}): {ROLLBACK_FAILED}" in text
    assert "Resource skipped during UPDATE_ROLLBACK" in text         # the live events of the rollback
    assert f"{STACK}: UPDATE_ROLLBACK_COMPLETE" in text and "Skipped: Compute.Function." in text


def test_a_stage_that_is_not_stuck_is_refused_with_exit_2(stuck, cli, tmp_path):
    cfn = stuck.stub("cloudformation")
    describe(cfn, "UPDATE_COMPLETE")
    listing(cfn)
    describe(cfn, "UPDATE_COMPLETE", DATA, DATA)
    describe(cfn, "UPDATE_COMPLETE", COMPUTE, COMPUTE)
    ui, _, _ = quiet_ui()
    with pytest.raises(UsageError) as refused:
        recover.run_recover(Options(config=Path("shop.toml"), out=Path("out"), yes=True), ui)
    stuck.assert_done()                                           # nothing continued, nothing skipped
    assert refused.value.exit_code == 2
    assert str(refused.value) == (f"{STACK} is not stuck (UPDATE_COMPLETE): recover only continues an update "
                                  "rollback that failed (UPDATE_ROLLBACK_FAILED). Nothing was done.")
    # Through the command line: one line, exit 2.
    describe(cfn, "UPDATE_COMPLETE")
    listing(cfn)
    describe(cfn, "UPDATE_COMPLETE", DATA, DATA)
    describe(cfn, "UPDATE_COMPLETE", COMPUTE, COMPUTE)
    config = tmp_path / "shop.toml"
    config.write_text("")
    result = cli("recover", "--config", config, "--yes")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(f"Error: {STACK} is not stuck (UPDATE_COMPLETE)")
    assert "Traceback" not in result.output
