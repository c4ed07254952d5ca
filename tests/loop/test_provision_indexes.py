"""`--emulator` (serve, invoke) creates each table with its indexes, so handlers can Query them."""
from __future__ import annotations

import boto3

from infra.loop.provision import provision
from test_table_indexes import CATALOG_INDEXED
from test_aws_correctness import load


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
