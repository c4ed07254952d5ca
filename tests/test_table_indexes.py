"""Global secondary indexes ([tables.X.indexes.Y]): the table's definition, and the capacity and
auto scaling of each index (the emulator's copy: tests/loop/test_provision_indexes.py)."""
from __future__ import annotations

from dataclasses import replace

from support.match import has_resource_properties, resources
from test_aws_correctness import build, config_text, load, sub

CATALOG_INDEXED = sub(config_text("catalog-api"), "[tables.products]",
                      '[tables.users.indexes.by-email]\npartition_key = "email:S"\nprojection = "keys-only"\n\n'
                      '[tables.users.indexes.by-team]\npartition_key = "team:S"\nsort_key = "id:S"\n\n'
                      "[tables.products]")


def test_an_on_demand_tables_indexes_have_no_capacity():
    data = build(CATALOG_INDEXED)["data"]
    table = has_resource_properties(data, "AWS::DynamoDB::Table", {"TableName": "catalog-prod-users"})
    props = next(iter(table.values()))["Properties"]
    # Sorted by name; an attribute two keys share ("id") is defined once.
    assert props["GlobalSecondaryIndexes"] == [
        {"IndexName": "by-email", "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
         "Projection": {"ProjectionType": "KEYS_ONLY"}},
        {"IndexName": "by-team", "KeySchema": [{"AttributeName": "team", "KeyType": "HASH"},
                                               {"AttributeName": "id", "KeyType": "RANGE"}],
         "Projection": {"ProjectionType": "ALL"}}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"},
                                             {"AttributeName": "email", "AttributeType": "S"},
                                             {"AttributeName": "team", "AttributeType": "S"}]
    assert not resources(data, "AWS::ApplicationAutoScaling::ScalableTarget")


def test_an_index_has_its_own_capacity_and_scales_from_it():
    text = sub(config_text("secure-api"), 'sort_key = "timestamp:N"\n\n',
               'sort_key = "timestamp:N"\nread_capacity = 50\n\n')
    data = build(text)["data"]
    table = next(iter(has_resource_properties(data, "AWS::DynamoDB::Table", {"TableName": "tap-dev-data"}).values()))
    assert table["Properties"]["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"] == {
        "ReadCapacityUnits": 50, "WriteCapacityUnits": 500}  # writes: the table's
    has_resource_properties(data, "AWS::ApplicationAutoScaling::ScalableTarget", {
        "ResourceId": "table/tap-dev-data/index/by-time", "ScalableDimension": "dynamodb:index:ReadCapacityUnits",
        "MinCapacity": 50, "MaxCapacity": 500}, count=1, DependsOn=["DataTable"])  # registered once the index exists
    has_resource_properties(data, "AWS::ApplicationAutoScaling::ScalingPolicy", {
        "PolicyName": "tap-dev-data-by-time-read-utilization"}, count=1)


def test_a_table_without_indexes_is_defined_as_before():
    data = build(config_text("catalog-api"))["data"]
    for table in resources(data, "AWS::DynamoDB::Table").values():
        assert "GlobalSecondaryIndexes" not in table["Properties"]
        assert table["Properties"]["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]


def test_two_parts_of_a_config_that_would_name_one_alarm_are_named():
    from infra.config.names import problems

    cfg = load(config_text("secure-api"))
    # Built without validation, which refuses this pair earlier for their logical IDs.
    both = replace(cfg, tables={**cfg.tables, "data-by-time-index": cfg.tables["data"]})
    assert ("tables.data-by-time-index", "would name a CloudWatch alarm 'tap-dev-data-by-time-index-throttles', the "
            "name tables.data.indexes.by-time gives one too.", "rename tables.data-by-time-index or "
            "tables.data.indexes.by-time.") in list(problems(both))
