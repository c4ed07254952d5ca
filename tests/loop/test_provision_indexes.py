"""`--emulator` (serve, invoke) creates each table with its indexes, so handlers can Query them."""
from __future__ import annotations

import boto3

from infra.loop.provision import provision
from test_table_indexes import CATALOG_INDEXED
from test_aws_correctness import config_text, load, sub


def test_the_emulator_table_has_the_indexes(emulator):
    cfg = load(CATALOG_INDEXED, "catalog-indexed")
    client = boto3.client("dynamodb", region_name=cfg.project.region, endpoint_url=emulator.endpoint_url)
    provision(cfg, lambda service: boto3.client(service, region_name=cfg.project.region,
                                                endpoint_url=emulator.endpoint_url))
    table = client.describe_table(TableName="catalog-prod-users")["Table"]
    assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == ["by-email", "by-team"]
    client.put_item(TableName="catalog-prod-users", Item={"id": {"S": "1"}, "email": {"S": "a@example.com"}})
    found = client.query(TableName="catalog-prod-users", IndexName="by-email",
                         KeyConditionExpression="email = :e", ExpressionAttributeValues={":e": {"S": "a@example.com"}})
    assert [item["id"]["S"] for item in found["Items"]] == ["1"]


def test_an_index_added_to_the_config_is_added_to_the_kept_table(emulator):
    cfg = load(sub(config_text("catalog-api"), "[tables.products]",
                   '[tables.users.indexes.by-email]\npartition_key = "email:S"\n\n[tables.products]'), "catalog-indexed")
    clients = lambda service: boto3.client(service, region_name=cfg.project.region,  # noqa: E731
                                           endpoint_url=emulator.endpoint_url)
    provision(load(config_text("catalog-api"), "catalog-indexed"), clients)   # the table, before the index
    provision(cfg, clients)                                                       # serve reloads the config
    table = clients("dynamodb").describe_table(TableName="catalog-prod-users")["Table"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-email"]
