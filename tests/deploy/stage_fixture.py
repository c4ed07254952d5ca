"""A small generated stage, written by hand in the generator's output format.

Root + two nested stacks wired through nested-stack outputs (like the real generator does):
- Data: a DynamoDB table and an S3 bucket (stateful) and an SSM parameter;
- Compute: an IAM role and a Lambda function whose code is a content-hashed zip asset.
With `global_outputs`, also the us-east-1 global stack (global.json): SSM parameters standing in
for the certificate and the CloudFront web ACL, one output per entry, each feeding a root parameter
that the root writes to an SSM parameter `/<stack>/<root parameter>`.
Only resource types moto's CloudFormation implements, so it deploys on the emulator.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

STATEFUL = ["AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::SecretsManager::Secret"]


def handler_zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("app.py", date_time=(1980, 1, 1, 0, 0, 0))
        zf.writestr(info, text)
    return buf.getvalue()


def write_stage(root: Path, *, name: str = "shop", stage: str = "dev", production: bool = False,
                memory: int = 128, table_name: str | None = None, key_schema_attr: str = "id",
                bucket_name: str | None = None, versioned: bool = False,
                handler_text: str = "def handler(e, c):\n    return {'ok': True}\n",
                global_outputs: dict[str, tuple[str, str]] | None = None) -> Path:
    """Write the stage into root/<name>/ and return that directory.

    `global_outputs`: output of the global stack -> (root parameter it fills, its value).
    `versioned`: the uploads bucket has versioning enabled (moto's CloudFormation ignores
    VersioningConfiguration; tests turn it on with PutBucketVersioning too).
    """
    out = root / name
    (out / "assets").mkdir(parents=True, exist_ok=True)
    stack = f"{name}-{stage}"
    policy = "Retain" if production else "Delete"
    table = table_name or f"{stack}-items"
    data = handler_zip(handler_text)
    digest = hashlib.sha256(data).hexdigest()
    asset_key = f"assets/{digest}.zip"
    (out / asset_key).write_bytes(data)
    tags = {"Project": name, "Environment": stage, "ManagedBy": "serverless-infra"}

    data_tpl = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "data",
        "Resources": {
            "ItemsTable": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": policy,
                "UpdateReplacePolicy": policy,
                "Properties": {
                    "TableName": table,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": key_schema_attr, "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": key_schema_attr, "KeyType": "HASH"}],
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                },
            },
            "UploadsBucket": {
                "Type": "AWS::S3::Bucket",
                "DeletionPolicy": policy,
                "UpdateReplacePolicy": policy,
                "Properties": {"BucketName": bucket_name or f"{stack}-uploads",
                               "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                               **({"VersioningConfiguration": {"Status": "Enabled"}} if versioned else {})},
            },
            "TableNameParameter": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": f"/{stack}/table-name", "Type": "String", "Value": {"Ref": "ItemsTable"}},
            },
        },
        "Outputs": {
            "TableName": {"Value": {"Ref": "ItemsTable"}, "Description": "Items table"},
            "TableArn": {"Value": {"Fn::GetAtt": ["ItemsTable", "Arn"]}, "Description": "Items table ARN"},
        },
    }
    compute_tpl = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "compute",
        "Parameters": {
            "AssetBucket": {"Type": "String"},
            "TableName": {"Type": "String"},
            "TableArn": {"Type": "String"},
        },
        "Resources": {
            "FunctionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": f"{stack}-function",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                       "Action": "sts:AssumeRole"}],
                    },
                    "Policies": [{
                        "PolicyName": "table",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": {"Ref": "TableArn"}}]},
                    }],
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": f"{stack}-items",
                    "Runtime": "python3.13",
                    "Handler": "app.handler",
                    "MemorySize": memory,
                    "Timeout": 30,
                    "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
                    "Code": {"S3Bucket": {"Ref": "AssetBucket"}, "S3Key": asset_key},
                    "Environment": {"Variables": {"TABLE_NAME": {"Ref": "TableName"}}},
                },
            },
        },
        "Outputs": {"FunctionName": {"Value": {"Ref": "Function"}, "Description": "Items function"}},
    }
    root_tpl: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"{stack} root",
        "Parameters": {"AssetBucket": {"Type": "String", "Description": "Artifact bucket"}},
        "Resources": {
            "Data": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "data.json"}},
            "Compute": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {
                    "TemplateURL": "compute.json",
                    "Parameters": {
                        "AssetBucket": {"Ref": "AssetBucket"},
                        "TableName": {"Fn::GetAtt": ["Data", "Outputs.TableName"]},
                        "TableArn": {"Fn::GetAtt": ["Data", "Outputs.TableArn"]},
                    },
                },
            },
        },
        "Outputs": {
            "TableName": {"Value": {"Fn::GetAtt": ["Data", "Outputs.TableName"]}, "Description": "Items table"},
            "FunctionName": {"Value": {"Fn::GetAtt": ["Compute", "Outputs.FunctionName"]}, "Description": "Function"},
        },
    }
    root_parameters = {"AssetBucket": "Artifact bucket name"}
    manifest: dict[str, Any] = {
        "config": f"config/{name}.toml", "name": name, "project": name, "stage": stage,
        "stack_name": stack, "region": "us-east-1", "production": production,
        "root_template": "root.json",
        "templates": {"Data": "data.json", "Compute": "compute.json"},
        "assets": [{"file": asset_key, "key": asset_key, "source": "handlers/items"}],
        "root_parameters": root_parameters,
        "global": None,
        "stateful_types": STATEFUL,
        "tags": tags,
        "termination_protection": production,
    }
    if global_outputs:
        global_tpl: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}, "Outputs": {}}
        for output, (parameter, value) in global_outputs.items():
            global_tpl["Resources"][f"{output}Marker"] = {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": f"/{stack}-global/{output}", "Type": "String", "Value": value}}
            global_tpl["Outputs"][output] = {"Value": value}
            root_tpl["Parameters"][parameter] = {"Type": "String"}
            root_tpl["Resources"][f"{parameter}Parameter"] = {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": f"/{stack}/{parameter}", "Type": "String", "Value": {"Ref": parameter}},
            }
            root_parameters[parameter] = f"{output} of the us-east-1 stack"
        (out / "global.json").write_text(json.dumps(global_tpl, indent=2) + "\n")
        manifest["global"] = {"template": "global.json", "stack_name": f"{stack}-global", "region": "us-east-1",
                              "outputs": {output: parameter for output, (parameter, _) in global_outputs.items()}}
    for file, tpl in (("root.json", root_tpl), ("data.json", data_tpl), ("compute.json", compute_tpl)):
        (out / file).write_text(json.dumps(tpl, indent=2) + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out
