"""Indexes added to a deployed table, one deploy at a time, on the emulator: the table gains each
(the emulator's patch 3e), and the preflight refuses two at once before any change set."""
from __future__ import annotations

from deploy_emulator import boto


def add_index(config, name: str, key: str) -> None:
    text = config.read_text()
    config.write_text(text.replace("[tables.products]", f'[tables.users.indexes.{name}]\npartition_key = "{key}:S"\n\n'
                                   "[tables.products]", 1))


def indexes(endpoint: str, table: str) -> list[str]:
    described = boto(endpoint, "dynamodb").describe_table(TableName=table)["Table"]
    return sorted(i["IndexName"] for i in described.get("GlobalSecondaryIndexes", []))


def test_indexes_are_added_one_deploy_at_a_time(catalog_deployed, cli):
    config, tmp_path, endpoint = catalog_deployed
    table = "catalog-dev-users"

    def deploy():
        return cli("deploy", "--config", config, "--out", tmp_path / "out", "--endpoint-url", endpoint, "--yes",
                   "--require-approval", "never", "--skip-check", "config-recorder")

    add_index(config, "by-email", "email")
    first = deploy()
    assert first.exit_code == 0, first.output
    assert "table-indexes     2 deployed table(s) change at most one index each." in first.output
    assert indexes(endpoint, table) == ["by-email"]
    users = boto(endpoint, "dynamodb")
    users.put_item(TableName=table, Item={"id": {"S": "u1"}, "email": {"S": "a@example.com"}})
    found = users.query(TableName=table, IndexName="by-email", KeyConditionExpression="email = :e",
                        ExpressionAttributeValues={":e": {"S": "a@example.com"}})["Items"]
    assert [item["id"]["S"] for item in found] == ["u1"]

    add_index(config, "by-team", "team")
    add_index(config, "by-name", "name")
    refused = deploy()
    assert refused.exit_code == 1
    assert f"{table}: this deploy would add by-name and add by-team, but a table gains or loses one index per " \
        "update" in refused.output
    assert indexes(endpoint, table) == ["by-email"]  # nothing was deployed
    previewed = cli("diff", "--config", config, "--out", tmp_path / "out", "--endpoint-url", endpoint, "--fail")
    assert previewed.exit_code == 3, previewed.output  # the gate sees a change, and says a deploy would stop
    assert ("Warning: a deploy would stop at its preflight (table-indexes): catalog-dev-users: this deploy would add "
            "by-name and add by-team" in " ".join(previewed.output.split()))
