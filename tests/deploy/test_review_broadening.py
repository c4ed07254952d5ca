"""What the deploy review counts as broadening (issue 18 item 29): the same actions on a wider
resource are broadening, not a narrowing."""
from __future__ import annotations

import pytest

from infra.deploy.access_diff import security_changes


def role(resource):
    return {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": resource}]}}]}}}}


@pytest.mark.parametrize("narrow, wide", [
    ("arn:aws:s3:::bucket/*", "*"),
    ({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/*"}, "*"),
    (["arn:aws:s3:::bucket/*"], ["arn:aws:s3:::bucket/*", "arn:aws:s3:::other/*"]),
])
def test_the_same_actions_on_a_wider_resource_broaden(narrow, wide):
    changes = security_changes(role(narrow), role(wide), "s/Compute")
    added = [c for c in changes if c.sign == "+"]
    assert len(added) == 1 and added[0].broadening
    assert added[0].item.actions == ("s3:GetObject", "s3:PutObject")


def test_fewer_resources_for_the_same_actions_do_not_broaden():
    wide, narrow = ["arn:aws:s3:::bucket/*", "arn:aws:s3:::other/*"], ["arn:aws:s3:::bucket/*"]
    changes = security_changes(role(wide), role(narrow), "s/Compute")
    assert sorted(c.sign for c in changes) == ["+", "-"] and not any(c.broadening for c in changes)
