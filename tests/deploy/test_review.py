"""The review-grade diff, piece by piece: values (old -> new, shortened, secrets hidden), IAM
statement and security group changes and what broadens, output changes, rendering that never cuts
identifiers, the approval rule, config ownership, and outputs for scripts."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from infra.deploy.resource_diff import Diff, Row, Templates, enrich, output_changes
from infra.deploy.diff_render import render_text
from infra.config.schema import CONFIG_TAG
from infra.deploy.owner import check_owner, config_identity
from infra.deploy.access_diff import Rule, Statement, security_changes
from infra.deploy.stack_state import StackInfo
from infra.deploy.property_diff import HIDDEN, compact, property_changes, shorten
from infra.errors import DeployError, UsageError
from recorded import ROOT_ID, STACK, quiet_ui


# -- values ---------------------------------------------------------------------------------------
def fn(**props):
    return {"Type": "AWS::Lambda::Function", "Properties": props}


def test_changed_properties_are_shown_old_to_new_leaf_by_leaf():
    old = fn(MemorySize=256, Environment={"Variables": {"TABLE": "a", "MODE": "x"}}, Role={"Fn::GetAtt": ["R", "Arn"]})
    new = fn(MemorySize=512, Environment={"Variables": {"TABLE": "b", "LEVEL": "2"}}, Role={"Fn::GetAtt": ["R2", "Arn"]})
    assert property_changes(old, new) == [
        ("Environment.Variables.LEVEL", "(absent)", "2"),
        ("Environment.Variables.MODE", "x", "(absent)"),
        ("Environment.Variables.TABLE", "a", "b"),
        ("MemorySize", "256", "512"),
        ("Role", "!GetAtt R.Arn", "!GetAtt R2.Arn"),
    ]


def test_secrets_are_never_shown_but_references_to_them_are():
    old = fn(Environment={"Variables": {"DB_PASSWORD": "hunter2", "SECRET_ARN": "arn:1", "API_TOKEN": "t1"}})
    new = fn(Environment={"Variables": {"DB_PASSWORD": "hunter3", "SECRET_ARN": "arn:2", "API_TOKEN": "t2"}})
    changes = {path: (a, b) for path, a, b in property_changes(old, new)}
    assert changes["Environment.Variables.DB_PASSWORD"] == (HIDDEN, HIDDEN)
    assert changes["Environment.Variables.API_TOKEN"] == (HIDDEN, HIDDEN)
    assert changes["Environment.Variables.SECRET_ARN"] == ("arn:1", "arn:2")
    assert "hunter" not in repr(changes) and "t1" not in repr(changes)


def test_long_values_are_shortened_with_their_length_and_list_items_named():
    text = "x" * 300
    short = shorten(text)
    assert len(short) < 100 and short.endswith("(300 chars)") and "…" in short
    old = {"Type": "T", "Properties": {"List": [{"a": 1}, {"b": 2}]}}
    new = {"Type": "T", "Properties": {"List": [{"a": 1}, {"c": 3}, {"b": 2}]}}
    assert property_changes(old, new) == [("List[1]", "(absent)", '{"c":3}')]
    assert compact({"Fn::Sub": "arn:${AWS::Partition}:s3:::b"}) == "!Sub arn:${AWS::Partition}:s3:::b"


# -- IAM statements and security groups -----------------------------------------------------------
def role(*statements, trust="lambda.amazonaws.com", managed=()):
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": trust}, "Action": "sts:AssumeRole"}]},
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)}}],
        **({"ManagedPolicyArns": list(managed)} if managed else {})}}


def allow(actions, resource="arn:aws:dynamodb:::table/t"):
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


def tpl(**resources):
    return {"Resources": resources}


def test_an_added_grant_broadens_and_is_listed_with_principal_action_resource():
    old = tpl(Role=role(allow(["dynamodb:GetItem"])))
    new = tpl(Role=role(allow(["dynamodb:GetItem"]), allow(["dynamodb:PutItem"], {"Fn::GetAtt": ["T", "Arn"]})))
    [change] = security_changes(old, new, "s/Compute")
    assert (change.sign, change.stack, change.resource, change.broadening) == ("+", "s/Compute", "Role", True)
    assert change.item == Statement("Allow", ("${Role}",), ("dynamodb:PutItem",), ("!GetAtt T.Arn",))


def test_narrowing_a_grant_does_not_broaden_but_removing_a_deny_does():
    wide = tpl(Role=role(allow(["s3:GetObject", "s3:PutObject"], ["arn:b/*", "arn:c/*"])))
    narrow = tpl(Role=role(allow(["s3:GetObject"], ["arn:b/*"])))
    changes = security_changes(wide, narrow, "s")
    assert sorted(c.sign for c in changes) == ["+", "-"] and not any(c.broadening for c in changes)
    deny = {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": "b", "PolicyDocument": {"Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:b/*",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}}}
    [removed] = security_changes(tpl(P=deny), tpl(), "s")
    assert removed.sign == "-" and removed.broadening and removed.item.principals == ("*",)
    assert removed.item.conditions == '{"Bool":{"aws:SecureTransport":"false"}}'
    [added] = security_changes(tpl(), tpl(P=deny), "s")
    assert not added.broadening


def test_trust_managed_policies_permissions_and_security_groups_are_read():
    perm = {"Type": "AWS::Lambda::Permission", "Properties": {
        "Action": "lambda:InvokeFunction", "FunctionName": {"Ref": "Fn"}, "Principal": "apigateway.amazonaws.com",
        "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*"}}}
    group = {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "g", "SecurityGroupEgress": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}]}}
    ingress = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
        "GroupId": {"Ref": "Sg"}, "IpProtocol": "-1", "SourceSecurityGroupId": {"Ref": "Other"}}}
    new = tpl(Role=role(allow("sqs:SendMessage"), trust="ec2.amazonaws.com", managed=["arn:aws:iam::aws:policy/X"]),
              Perm=perm, Sg=group, In=ingress)
    changes = security_changes({}, new, "s")
    assert all(c.sign == "+" and c.broadening for c in changes)
    items = [c.item for c in changes]
    assert Statement("Allow", ("Service:ec2.amazonaws.com",), ("sts:AssumeRole",), ("${Role}",)) in items
    assert "arn:aws:iam::aws:policy/X" in items
    perm_item = next(i for i in items if isinstance(i, Statement) and i.actions == ("lambda:InvokeFunction",))
    assert perm_item.principals == ("apigateway.amazonaws.com",) and "execute-api" in perm_item.conditions
    assert Rule("egress", "tcp", "443", "0.0.0.0/0") in items
    assert Rule("ingress", "all", "all", "!Ref Other") in items


def test_output_changes_compare_values():
    old = {"Outputs": {"A": {"Value": "1"}, "B": {"Value": {"Ref": "X"}}, "C": {"Value": "same", "Description": "d"}}}
    new = {"Outputs": {"A": {"Value": "2"}, "D": {"Value": "4"}, "C": {"Value": "same", "Description": "new text"}}}
    assert output_changes(old, new, "s") == [("s", "A", "1", "2"), ("s", "B", "!Ref X", "-"), ("s", "D", "-", "4")]


# -- enrichment from templates ------------------------------------------------------------------------
class FakeCfn:
    """get_template and list_stack_resources for a root with one nested stack."""

    def __init__(self, templates: dict[str, dict], nested: dict[str, str]):
        self.templates, self.nested = templates, nested

    def get_template(self, StackName, TemplateStage):
        import json

        return {"TemplateBody": json.dumps(self.templates[StackName])}

    def get_paginator(self, name):
        nested = self.nested

        class Pages:
            def paginate(self, StackName):
                return [{"StackResourceSummaries": [
                    {"LogicalResourceId": lid, "PhysicalResourceId": pid, "ResourceType": "AWS::CloudFormation::Stack"}
                    for lid, pid in nested.items()]}]
        return Pages()


def test_enrich_adds_values_outputs_and_iam_changes_and_spots_impossible_replacements(tmp_path):
    import json

    table = lambda key: {"Type": "AWS::DynamoDB::Table", "Properties": {  # noqa: E731
        "TableName": "shop-dev-items", "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}]}}
    old_child = tpl(Table=table("id"), Role=role(allow("dynamodb:GetItem")))
    new_child = {"Resources": {"Table": table("pk"), "Role": role(allow("dynamodb:GetItem"), allow("dynamodb:Scan"))},
                 "Outputs": {"TableName": {"Value": {"Ref": "Table"}}}}
    (tmp_path / "data.json").write_text(json.dumps(new_child))
    root = tpl(Data={"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "x"}})
    cfn = FakeCfn({ROOT_ID: root, "data-id": old_child}, {"Data": "data-id"})
    templates = Templates(cfn, STACK, ROOT_ID, root, {"Data": tmp_path / "data.json"})
    diff = enrich(Diff(rows=[
        Row(STACK, "Modify", "Data", "AWS::CloudFormation::Stack", "False"),
        Row(f"{STACK}/Data", "Modify", "Table", "AWS::DynamoDB::Table", "True"),
        Row(f"{STACK}/Data", "Modify", "Role", "AWS::IAM::Role", "False"),
    ]), templates)
    table_row = diff.rows[1]
    assert table_row.custom_name == "shop-dev-items" and table_row.properties == ("KeySchema",)
    assert ("KeySchema[0].AttributeName", "id", "pk") in table_row.values
    assert diff.outputs == [(f"{STACK}/Data", "TableName", "-", "!Ref Table")]
    assert [(c.sign, c.resource, c.item.actions) for c in diff.broadening] == [("+", "Role", ("dynamodb:Scan",))]


# -- rendering ------------------------------------------------------------------------------------
def wide_diff() -> Diff:
    return Diff(rows=[
        Row(f"{STACK}/ComputeFunctionsUsersAndProducts", "Modify", "UsersFunctionLogGroupSubscriptionFilter",
            "AWS::Logs::SubscriptionFilter", "False", properties=("FilterPattern",),
            values=(("FilterPattern", "ERROR", "WARN"),)),
        Row(f"{STACK}/Data", "Add", "UsersTable", "AWS::DynamoDB::Table"),
    ], security=security_changes({}, tpl(Role=role(allow("dynamodb:GetItem"))), f"{STACK}/Compute"))


def test_identifiers_are_never_cut_at_80_columns():
    text = render_text(wide_diff(), "Changes to update catalog-prod", ["AWS::DynamoDB::Table"], width=80)
    for identifier in (f"{STACK}/ComputeFunctionsUsersAndProducts", "UsersFunctionLogGroupSubscriptionFilter",
                       "AWS::Logs::SubscriptionFilter", "AWS::DynamoDB::Table"):
        assert identifier in text, text
    assert "FilterPattern: ERROR -> WARN" in text
    assert "IAM statement changes" in text and "+!" in text
    for value in ("Service:lambda.amazonaws.com", "sts:AssumeRole", "dynamodb:GetItem", "arn:aws:dynamodb:::table/t"):
        assert value in text, text      # IAM values are never broken either
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.strip().endswith("1 to add, 1 to modify, 0 to remove; 2 changes marked '!' widen access")


def test_a_wide_terminal_gets_the_table():
    text = render_text(wide_diff(), "Changes to update catalog-prod", width=200)
    header = next(line for line in text.splitlines() if "Logical ID" in line)
    assert all(col in header for col in ("Stack", "Action", "Logical ID", "Type", "Replacement", "Notes"))


# -- the approval rule ----------------------------------------------------------------------------
def planned(broadening: bool):
    from infra.deploy.runner import Plan, StackSpec

    diff = Diff(rows=[Row(STACK, "Modify", "Fn", "AWS::Lambda::Function", "False")])
    if broadening:
        diff.security = security_changes({}, tpl(Role=role(allow("s3:GetObject"))), STACK)
    return Plan(StackSpec(STACK, {}, {}, {}), None, diff=diff)


def approve(level, yes, broadening, answer="n\n"):
    from infra.deploy.review import approve as decide

    ui, out, _ = quiet_ui()
    ui.assume_yes = yes
    asked = []
    ui.confirm = lambda question: asked.append(question) or answer.startswith("y")  # a person who answers
    try:
        decide(ui, level, [planned(broadening)], {STACK: "us-east-1"})
        return "deployed", asked
    except DeployError as exc:
        return str(exc), asked


@pytest.mark.parametrize("level, yes, broadening, outcome, asks", [
    ("never", True, True, "deployed", False),
    ("never", False, True, "deployed", False),          # never: nobody is asked
    ("broadening", True, False, "deployed", False),
    ("broadening", True, True, "Not deployed: it widens access", False),
    ("broadening", False, True, "Nothing deployed", True),
    ("any", True, False, "Not deployed: --require-approval any", False),
    ("any", False, False, "Nothing deployed", True),
])
def test_the_approval_rule(level, yes, broadening, outcome, asks):
    result, asked = approve(level, yes, broadening)
    assert result.startswith(outcome) if outcome == "deployed" else outcome in result
    assert bool(asked) == asks
    if asked and broadening:
        assert asked[0].startswith("This deploy widens access (2 IAM statement")  # trust + grant


def test_a_person_can_approve_broadening():
    result, asked = approve("broadening", False, True, answer="y\n")
    assert result == "deployed" and len(asked) == 1


def test_the_count_names_each_stack_when_several_widen_access():
    from dataclasses import replace

    from infra.deploy.review import approve as decide

    bootstrap = planned(True)
    bootstrap.spec = replace(bootstrap.spec, name="serverless-infra-artifacts")
    ui, _, _ = quiet_ui()
    ui.assume_yes = True
    with pytest.raises(DeployError) as refused:
        decide(ui, "broadening", [bootstrap, planned(True)], {STACK: "us-east-1", "serverless-infra-artifacts": "us-east-1"})
    # Each stack's summary line counts its own changes; the total says how it adds up.
    assert f"(4 IAM statement or security group change(s) marked '!' above: 2 in serverless-infra-artifacts, 2 in {STACK})" \
        in str(refused.value)


# -- which config owns the stack --------------------------------------------------------------------
def test_the_config_identity_is_repository_relative_or_the_file_name(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    assert config_identity(repo / "config" / "catalog-api.toml", repo) == "config/catalog-api.toml"
    assert config_identity(tmp_path / "my stage.toml", repo) == "my stage.toml"
    assert config_identity(tmp_path / "we!rd#name.toml", repo) == "we_rd_name.toml"


def test_another_configs_stack_is_refused_unless_forced_and_only_warned_about_by_diff():
    info = StackInfo(STACK, ROOT_ID, "UPDATE_COMPLETE", tags={CONFIG_TAG: "config/catalog-api.toml"})
    ui, _, err = quiet_ui()
    check_owner(info, "config/catalog-api.toml", ui, force=False, action="deploy")
    check_owner(StackInfo(STACK, ROOT_ID, "UPDATE_COMPLETE"), "other.toml", ui, force=False, action="deploy")  # untagged
    assert err.getvalue() == ""
    with pytest.raises(UsageError, match="was deployed from the config file config/catalog-api.toml .* --force"):
        check_owner(info, "config/other.toml", ui, force=False, action="deploy")
    check_owner(info, "config/other.toml", ui, force=True, action="deploy")
    check_owner(info, "config/other.toml", ui, force=False, action="diff", refuse=False)
    assert err.getvalue().count("two configs with the same [project] name and stage") == 2


# -- outputs for people and scripts -------------------------------------------------------------------
def test_outputs_are_plain_tab_lines_when_piped_and_a_table_on_a_terminal():
    from infra.deploy.outputs import show_outputs

    url = "https://abcdefghij.execute-api.us-east-1.amazonaws.com/prod/" + "x" * 120
    ui, out, _ = quiet_ui(terminal=False)
    show_outputs(ui, {"ApiUrl": url, "TableName": "t"}, title="Outputs")
    assert out.getvalue() == f"ApiUrl\t{url}\nTableName\tt\n"
    out2 = io.StringIO()
    from infra.deploy.ui import Ui

    tty = Ui(out=Console(file=out2, width=80, force_terminal=True, color_system=None))
    show_outputs(tty, {"ApiUrl": url}, title="Outputs")
    assert "Output" in out2.getvalue() and "ApiUrl" in out2.getvalue()


def test_a_move_is_no_iam_change_in_the_summary():
    """A moved role or policy is the same resource in another stack: it widens and narrows nothing."""
    from infra.deploy.diff_render import summary

    diff = Diff(rows=[Row(f"{STACK}/ComputeExtra", "Move", "OrdersRole", "AWS::IAM::Role", "False"),
                      Row(f"{STACK}/ComputeExtra", "Move", "OrdersPolicy", "AWS::IAM::Policy", "False"),
                      Row(f"{STACK}/Compute", "Modify", "UsersRole", "AWS::IAM::Role", "False")])
    assert summary(diff) == "0 to add, 1 to modify, 0 to remove, 2 to move; permissions change on 1 resource"
