"""The `table-indexes` preflight check: a deploy that DynamoDB would refuse at the table (two
indexes added or removed at once, an index changed in place, one added while another is still
being built) fails before any change set; the live table is read with DescribeTable (Stubber)."""
from __future__ import annotations

from infra.deploy.checks import Preflight, Stack, table_indexes
from test_operations_stubbed import StubbedAws

TABLE = "shop-dev-items"


def index(name: str, *keys: str, projection: str = "ALL", status: str | None = None) -> dict:
    out = {"IndexName": name, "KeySchema": [{"AttributeName": k, "KeyType": kind}
                                            for k, kind in zip(keys, ("HASH", "RANGE"))],
           "Projection": {"ProjectionType": projection}}
    if status:
        out["IndexStatus"] = status
    return out


def preflight(aws: StubbedAws, wanted: list[dict], *, deployed: bool = True) -> Preflight:
    template = {"Resources": {"ItemsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
        "TableName": TABLE, "GlobalSecondaryIndexes": wanted}}}}
    physical = {"ItemsTable": TABLE} if deployed else {}
    pf = Preflight(build=None, aws=aws, imports=None)  # type: ignore[arg-type]  (the check reads stacks only)
    pf.stacks = [Stack("shop-dev/Data", "Data", template, aws, frozenset(physical), physical)]
    return pf


def live(aws: StubbedAws, *indexes: dict) -> None:
    table = {"TableName": TABLE, **({"GlobalSecondaryIndexes": list(indexes)} if indexes else {})}
    aws.stub("dynamodb").add_response("describe_table", {"Table": table}, {"TableName": TABLE})


def test_one_new_index_passes():
    aws = StubbedAws()
    live(aws, index("by-a", "a", status="ACTIVE"))
    result = table_indexes(preflight(aws, [index("by-a", "a"), index("by-b", "b", "ts")]))
    aws.assert_done()
    assert (result.status, result.message) == ("ok", "1 deployed table(s) change at most one index each.")


def test_two_indexes_at_once_fail_naming_them():
    aws = StubbedAws()
    live(aws, index("old", "o", status="ACTIVE"))
    result = table_indexes(preflight(aws, [index("by-a", "a"), index("by-b", "b")]))
    assert result.status == "FAIL"
    assert result.message == (f"{TABLE}: this deploy would add by-a and add by-b and remove old, but a table gains "
                              "or loses one index per update; change one index per deploy.")


def test_an_index_changed_in_place_fails():
    aws = StubbedAws()
    live(aws, index("by-a", "a", "ts", status="ACTIVE"), index("by-b", "b", status="ACTIVE"))
    result = table_indexes(preflight(aws, [index("by-a", "a", "other"), index("by-b", "b", projection="KEYS_ONLY")]))
    assert result.status == "FAIL"
    assert result.message.startswith(f"{TABLE}: index by-a, by-b would change its keys or projection, which DynamoDB "
                                     "cannot do to an index; add the new shape under another index name")


def test_adding_an_index_while_another_is_built_fails():
    aws = StubbedAws()
    live(aws, index("by-a", "a", status="CREATING"))
    result = table_indexes(preflight(aws, [index("by-a", "a"), index("by-b", "b")]))
    assert result.status == "FAIL"
    assert "index by-a (CREATING) is still being built or removed" in result.message


def test_an_index_being_built_is_no_problem_when_no_index_changes():
    aws = StubbedAws()
    live(aws, index("by-a", "a", status="CREATING"))
    assert table_indexes(preflight(aws, [index("by-a", "a")])).status == "ok"


def test_a_table_this_deploy_creates_is_not_read():
    aws = StubbedAws()
    result = table_indexes(preflight(aws, [index("by-a", "a"), index("by-b", "b")], deployed=False))
    aws.assert_done()  # no DescribeTable: CloudFormation creates a table with all its indexes at once
    assert result.status == "skip"


def test_a_table_gone_from_the_account_is_skipped():
    aws = StubbedAws()
    aws.stub("dynamodb").add_client_error("describe_table", "ResourceNotFoundException", "not found")
    assert table_indexes(preflight(aws, [index("by-a", "a")])).status == "skip"


def test_removing_every_index_at_once_fails():
    aws = StubbedAws()
    live(aws, index("by-a", "a", status="ACTIVE"), index("by-b", "b", status="ACTIVE"))
    result = table_indexes(preflight(aws, []))
    assert result.status == "FAIL" and "would remove by-a and remove by-b" in result.message


def test_an_index_whose_capacity_changes_blocks_nothing():
    aws = StubbedAws()
    live(aws, index("by-a", "a", status="UPDATING"))   # auto scaling changing its capacity
    assert table_indexes(preflight(aws, [index("by-a", "a"), index("by-b", "b")])).status == "ok"


def test_diff_asks_the_same_check_and_says_when_it_may_not_read_the_tables(monkeypatch):
    from infra.deploy import checks

    aws = StubbedAws()
    stacks = preflight(aws, [index("by-a", "a"), index("by-b", "b")]).stacks
    monkeypatch.setattr(checks.Preflight, "stacks", property(lambda self: stacks))  # the stage's own tables
    live(aws)
    assert checks.index_warnings(None, aws) == [  # type: ignore[arg-type]
        f"a deploy would stop at its preflight (table-indexes): {TABLE}: this deploy would add by-a and add by-b, "
        "but a table gains or loses one index per update; change one index per deploy."]
    aws.stub("dynamodb").add_client_error("describe_table", "AccessDeniedException",
                                          "User is not authorized to perform: dynamodb:DescribeTable")
    assert checks.index_warnings(None, aws) == [  # type: ignore[arg-type]
        "could not check the tables' index changes (table-indexes): User is not authorized to perform: "
        "dynamodb:DescribeTable."]


def test_a_table_without_a_physical_id_yet_is_not_read():
    aws = StubbedAws()
    pf = preflight(aws, [index("by-a", "a"), index("by-b", "b")])
    pf.stacks = [checks_stack(pf.stacks[0], physical={"ItemsTable": ""})]  # listed, not created yet
    result = table_indexes(pf)
    aws.assert_done()
    assert result.status == "skip"


def checks_stack(stack: Stack, *, physical: dict) -> Stack:
    return Stack(stack.label, stack.child, stack.template, stack.aws, frozenset(physical), physical)
