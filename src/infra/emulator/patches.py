"""CloudFormation gaps of moto 5.2.5, filled in the emulator (`generate.py emulator`, the tests).

Loaded only into the moto server process (`python -m infra.emulator.server`, which
`MotoServer(patched=True)` starts), never into the code that talks to it: the deploy code talks to
this server exactly as it talks to AWS.

Faithful fixes (documented CloudFormation behaviour, computed from moto's own state):
1. `Fn::GetAtt [NestedStack, Outputs.Name]`: moto's nested `Stack` has no `get_cfn_attribute`, so
   wiring one nested stack's output into a sibling (how every nested-stack system is built)
   answers HTTP 500. The patch returns the nested stack's real output value.
2. Outputs of a stack created or updated through a change set: moto evaluates outputs against
   the empty template the stack had in REVIEW_IN_PROGRESS and never refreshes them after
   ExecuteChangeSet (its UpdateStack does). The patch re-reads the executed template.
3. Nested stack updates: moto "updates" a nested stack by deleting it and creating a new one
   (new name, new resources), which fails as soon as the stack holds a retained resource with a
   fixed name (the retained log group or table is still there). CloudFormation updates the nested
   stack in place; so does the patch (moto's own Stack.update with the new template).
3b. DependsOn: moto creates a resource early when another one Refs it, before that resource's own
   DependsOn targets exist (an API Gateway Deployment referenced by a Stage is created before
   the Methods it depends on, and fails). The patch creates the DependsOn targets first.
4. Property handling in moto's CloudFormation models: AWS::KMS::Key passes CloudFormation's
   {Key, Value} tags to an API expecting {TagKey, TagValue} (KeyError); AWS::SSM::Parameter passes
   the tag map CloudFormation uses as a list (TypeError); AWS::ApiGateway::Method requires
   IntegrationHttpMethod and Uri, which a MOCK integration (CORS OPTIONS) has not (KeyError). The
   patch converts the tags and lets MOCK integrations omit what they do not use.

4b. AWS::ApiGateway::RestApi `Body`: moto's CloudFormation model ignores it, so an API defined
   by an OpenAPI document has no resources or methods (and its Deployment fails with "The REST
   API doesn't contain any methods"). CloudFormation imports the Body (create) and puts it again
   on update, in place ("Update requires: No interruption"); the patch does the same through
   moto's own PutRestApi implementation (mode overwrite: the document is the whole API). moto's
   import requires a uri and an httpMethod on every integration, which a mock integration (the
   CORS preflight) has not; the patch gives mock integrations empty ones, as in 4.
2b. LastUpdatedTime: moto never reports it. CloudFormation returns it once a stack has been updated
   ("LastUpdatedTime: The time the stack was last updated. This field will only be returned if
   the stack has been updated at least once", DescribeStacks / Stack data type); the patch sets
   it when a stack (root or nested) is updated, by UpdateStack or by executing a change set.
2c. UpdateTerminationProtection: moto does not implement it (it keeps only the flag CreateStack
   sets). The patch sets the stack's flag, which DescribeStacks reports as
   EnableTerminationProtection, and answers with the StackId, as CloudFormation does.
3c. Updates of types whose moto model has no update handler (DynamoDB tables, log groups, KMS keys):
   moto replaces the resource in the stack's map with None, so the stack loses it (and its Ref) on
   any property change. CloudFormation updates such resources in place; the patch keeps the
   resource (with its data) in the stack. The changed properties themselves are not applied in the
   emulator, so tests never assert on them (and the README says so), but for 3e.
3e. A table's global secondary indexes: an update that adds or removes one applies it through
   moto's own UpdateTable, as CloudFormation does ("You can delete or add one global secondary
   index without interruption", AWS::DynamoDB::Table GlobalSecondaryIndexes), so the emulated
   table has the indexes its template declares (Queries on them work, the preflight sees them).
3d. Update order: moto creates the resources an update adds before it modifies the existing ones,
   so a new nested stack that reads an output the update adds to an existing nested stack fails
   ("Output ... not found"). CloudFormation orders the update by dependencies; the patch modifies
   existing resources first (moto creates an added resource on demand when a modified one refers
   to it), then creates the remaining new ones. A resource the update removes is deleted unless
   its DeletionPolicy keeps it (Retain, RetainExceptOnCreate: "CloudFormation keeps the resource
   without deleting the resource or its contents when its stack is deleted" or updated away,
   https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html);
   moto deleted it whatever its policy, though its stack deletion honours Retain.
4c. Change sets of type IMPORT (resource import, which moto does not implement): CreateChangeSet
   with ChangeSetType IMPORT and ResourcesToImport validates what CloudFormation validates (each
   resource to import is in the template with a DeletionPolicy, the template adds nothing else, the
   resource exists) and lists the resources with the action Import; ExecuteChangeSet adopts the
   existing objects (tables, buckets, log groups, keys, secrets, queues, and whole stacks for
   nested-stack import) into the stack without creating or changing them, and ends in IMPORT_COMPLETE. As in
   CloudFormation, the next update of the stack applies the template's properties to them.

4d. Lambda versions and aliases (gradual releases): moto's AWS::Lambda::Version publishes a version
   but has no Ref (CloudFormation gives the version's ARN) nor `GetAtt Version` (its number), and
   moto has no AWS::Lambda::Alias model at all, while its Lambda API implements aliases. The patch
   gives versions their Ref and attributes, and creates, updates and deletes aliases through moto's
   own CreateAlias/UpdateAlias/DeleteAlias (Ref: the alias ARN), so invoke permissions on the alias
   and the alias's version are real. Not emulated: `UpdatePolicy: CodeDeployLambdaAliasUpdate`
   (moto's CloudFormation ignores update policies), so an emulated alias moves to a new version at
   once, as CloudFormation does for an alias without that policy; the CodeDeploy application,
   deployment groups and deployment configurations are placeholders (5). The release's live view
   and rollback are tested on recorded CodeDeploy answers instead (tests/deploy/test_releases_stubbed.py).

4e. AWS::ApiGateway::Account (API Gateway's CloudWatch Logs role, an account-and-region setting the
   bootstrap stack owns): moto's CloudFormation has no model for it, and a stand-in (5.) would leave
   moto's own GetAccount without the role. CloudFormation sets the account's cloudwatchRoleArn on
   create and update and leaves it on delete (https://docs.aws.amazon.com/AWSCloudFormation/latest/
   TemplateReference/aws-resource-apigateway-account.html); the patch does the same through moto's
   own UpdateAccount state.

4f. Lambda properties moto's CloudFormation models drop: AWS::Lambda::Function `Architectures` and
   `Layers` (moto's CreateFunction API honours both), AWS::Lambda::LayerVersion `LayerName` (moto
   names the layer after the logical ID) and `CompatibleArchitectures`. CloudFormation passes them
   to Lambda; the patch does too, through moto's own CreateFunction/PublishLayerVersion state. And a
   LayerVersion's Ref is its version ARN ("Ref returns the ARN of the layer version",
   AWS::Lambda::LayerVersion return values); moto's model has no physical ID, so Ref gave the object.

4g. AWS::ApiGateway::Stage: moto's CloudFormation has no model for it (it was a placeholder, 5),
   so the API had no stage to point at a new deployment. The patch creates the stage through
   moto's own CreateStage (StageName, DeploymentId, TracingEnabled), points it at the new
   DeploymentId on update, and deletes it with the stack, as CloudFormation does. Its Ref is the
   stage name (AWS::ApiGateway::Stage return values).

Stand-ins (what LocalStack calls "ignore unsupported resource types"):
5. A resource type moto's CloudFormation does not implement (WAFv2, CloudWatch alarms, API
   Gateway models, Config rules, bucket and topic policies, CodeDeploy applications,
   deployment groups and deployment configurations, ...) is skipped by moto,
   and any Ref/GetAtt to it then fails the whole stack. The patch records such a resource as an
   inert placeholder: its Ref is a generated name, `GetAtt X.Arn` an ARN built from the type and
   that name, any other attribute the name. Nothing is created in any service, so tests must
   (and do) assert only on resources moto really implements (functions, tables, buckets, keys,
   parameters, roles) plus CloudFormation's own stack records.
"""
from __future__ import annotations

import copy
from typing import Any

from moto.cloudformation import models, parsing, responses
from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel
from moto.core.utils import utcnow

PLACEHOLDER_TYPES: set[str] = set()


# 1. nested stack outputs -----------------------------------------------------------------------
def _nested_stack_attribute(self: models.Stack, attribute_name: str) -> Any:
    if attribute_name.startswith("Outputs."):
        key = attribute_name.split(".", 1)[1]
        for output in self.output_map.values():
            if output is not None and output.key == key:
                return output.value
        raise ValidationError(self.stack_id, message=f"Output '{key}' not found in nested stack {self.name}")
    raise NotImplementedError(f'"Fn::GetAtt" : [ "{{0}}" , "{attribute_name}" ]"')


# 2. outputs after ExecuteChangeSet -------------------------------------------------------------
_original_execute = models.CloudFormationBackend.execute_change_set


def _execute_change_set(self: models.CloudFormationBackend, change_set_name: str,
                        stack_name: str | None = None) -> None:
    _original_execute(self, change_set_name=change_set_name, stack_name=stack_name)
    _mark_updated(self, change_set_name)
    change_set = self.describe_change_set(change_set_name)
    stack = self.stacks[change_set.stack_id]
    stack._parse_template()
    stack.output_map = stack._create_output_map()


# 2b. LastUpdatedTime ---------------------------------------------------------------------------
_original_stack_update = models.Stack.update


def _stack_update(self: models.Stack, *args: Any, **kwargs: Any) -> None:
    _original_stack_update(self, *args, **kwargs)
    self.last_updated_time = utcnow()


def _mark_updated(backend: models.CloudFormationBackend, change_set_name: str) -> None:
    change_set = backend.change_sets.get(change_set_name) or next(
        (c for c in backend.change_sets.values() if c.change_set_name == change_set_name), None)
    if change_set is not None and change_set.change_set_type == "UPDATE":
        backend.stacks[change_set.stack_id].last_updated_time = utcnow()


# 2c. UpdateTerminationProtection ------------------------------------------------------------------
def _update_termination_protection(self: Any) -> Any:
    from moto.core.responses import ActionResult

    name = self._get_param("StackName")
    stack = self.cloudformation_backend.get_stack(name)
    stack.enable_termination_protection = str(self._get_param("EnableTerminationProtection")).lower() == "true"
    return ActionResult({"StackId": stack.stack_id})


# 3. nested stacks update in place --------------------------------------------------------------
def _update_nested_stack(cls: Any, original_resource: Any, new_resource_name: str,
                         cloudformation_json: Any, account_id: str, region_name: str) -> Any:
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    properties = cloudformation_json["Properties"]
    template = get_stack_from_s3_url(properties["TemplateURL"], account_id=account_id,
                                     partition=get_partition(region_name))
    original_resource.update(template, parameters=properties.get("Parameters", {}))
    return original_resource


# 3b. DependsOn before lazy creation ---------------------------------------------------------------
_original_create_resource = parsing.parse_and_create_resource


def _create_resource_after_dependencies(logical_id: str, resource_json: dict[str, Any],
                                        resources_map: Any, account_id: str, region_name: str) -> Any:
    depends = resource_json.get("DependsOn") or []
    for dependency in [depends] if isinstance(depends, str) else depends:
        if dependency in resources_map._resource_json_map:
            resources_map[dependency]  # creates it now if it does not exist yet
    return _original_create_resource(logical_id, resource_json, resources_map, account_id, region_name)


# 4. tags ---------------------------------------------------------------------------------------
def _with_properties(method: Any, fix: Any) -> Any:
    original = method.__func__

    def wrapper(cls: Any, *given: Any, **kwargs: Any) -> Any:
        args = list(given)
        key = "cloudformation_json"
        if key in kwargs:
            kwargs[key] = fix(kwargs[key])
        else:
            index = 1  # (resource_name|original_resource, [new_name,] cloudformation_json, ...)
            for i, arg in enumerate(args):
                if isinstance(arg, dict) and "Properties" in arg:
                    index = i
                    break
            args[index] = fix(args[index])
        return original(cls, *args, **kwargs)

    return classmethod(wrapper)


def _kms_tags(cfn_json: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(cfn_json)
    tags = out.get("Properties", {}).get("Tags")
    if isinstance(tags, list):
        out["Properties"]["Tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} if "Key" in t else t for t in tags]
    return out


def _ssm_tags(cfn_json: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(cfn_json)
    tags = out.get("Properties", {}).get("Tags")
    if isinstance(tags, dict):
        out["Properties"]["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return out


_original_create_change_set_response = responses.CloudFormationResponse.create_change_set


# 5. placeholders for unsupported types ---------------------------------------------------------
# The emulator's models override only what differs from moto's CloudFormationModel, which already
# answers no name property (""), every attribute exists (True) and created at once (True).
class Placeholder(CloudFormationModel):
    """An unsupported resource type, recorded but not created anywhere."""

    # moto's model metaclass files models by service, read from the module path.
    __module__ = "moto.cloudformation.placeholders"

    def __init__(self, name: str, resource_type: str, account_id: str, region_name: str):
        self.name = name
        self.resource_type = resource_type
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Emulator::Placeholder"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            _, service, kind = self.resource_type.split("::")
            return f"arn:aws:{service.lower()}:{self.region_name}:{self.account_id}:{kind.lower()}/{self.name}"
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str, **kwargs: Any) -> "Placeholder":
        resource_type = kwargs.get("ResourceType") or cloudformation_json.get("Type", "AWS::Unknown::Unknown")
        PLACEHOLDER_TYPES.add(resource_type)
        return cls(resource_name, resource_type, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: Any, account_id: str, region_name: str) -> "Placeholder":
        return cls(original_resource.name, cloudformation_json.get("Type", original_resource.resource_type),
                   account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str) -> None:
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        return None


# 4d. Lambda versions and aliases ------------------------------------------------------------------
class LambdaVersion(CloudFormationModel):
    """AWS::Lambda::Version: PublishVersion through moto; Ref the version ARN, GetAtt Version its number."""

    __module__ = "moto.cloudformation.test_lambda_version"

    def __init__(self, arn: str, version: str):
        self.arn, self.version = arn, version

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Version"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Version", "FunctionArn")

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.version if attribute_name == "Version" else self.arn.rsplit(":", 1)[0]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str, **kwargs: Any) -> "LambdaVersion":
        from moto.awslambda.models import lambda_backends

        fn = lambda_backends[account_id][region_name].publish_version(cloudformation_json["Properties"]["FunctionName"])
        return cls(fn.function_arn, str(fn.version))

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str) -> None:
        return None  # the generated versions are retained (DeletionPolicy Retain)


class LambdaAlias(CloudFormationModel):
    """AWS::Lambda::Alias through moto's own alias API; Ref is the alias ARN."""

    __module__ = "moto.cloudformation.test_lambda_alias"

    def __init__(self, arn: str, name: str, function: str):
        self.arn, self.name, self.function = arn, name, function

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Alias"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AliasArn"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.arn

    @staticmethod
    def _backend(account_id: str, region_name: str) -> Any:
        from moto.awslambda.models import lambda_backends

        return lambda_backends[account_id][region_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str, **kwargs: Any) -> "LambdaAlias":
        props = cloudformation_json["Properties"]
        backend = cls._backend(account_id, region_name)
        function = backend.get_function(props["FunctionName"]).function_name
        alias = backend.create_alias(props["Name"], function, str(props["FunctionVersion"]),
                                     props.get("Description", ""), None)
        return cls(alias.arn, props["Name"], function)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: Any, account_id: str, region_name: str) -> "LambdaAlias":
        props = cloudformation_json["Properties"]
        cls._backend(account_id, region_name).update_alias(
            original_resource.name, original_resource.function, str(props["FunctionVersion"]),
            props.get("Description", ""), None)
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str) -> None:
        return None  # see delete(): moto calls it with the parsed resource

    def delete(self, account_id: str, region_name: str) -> None:
        self._backend(account_id, region_name).delete_alias(self.name, self.function)


LAMBDA_MODELS = {"AWS::Lambda::Version": LambdaVersion, "AWS::Lambda::Alias": LambdaAlias}


# 4e. API Gateway's account setting ---------------------------------------------------------------
class ApiGatewayAccount(CloudFormationModel):
    """AWS::ApiGateway::Account: sets moto's account-and-region cloudwatchRoleArn, as CloudFormation does."""

    # moto's model metaclass files models by service, read from the module path.
    __module__ = "moto.apigateway.test_account"

    def __init__(self, account_id: str, region_name: str):
        self.account_id, self.region_name = account_id, region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGateway::Account"

    @property
    def physical_resource_id(self) -> str:
        return f"{self.account_id}-apigateway-account"

    @classmethod
    def _set(cls, cloudformation_json: Any, account_id: str, region_name: str) -> ApiGatewayAccount:
        from moto.apigateway.models import apigateway_backends

        role = (cloudformation_json.get("Properties") or {}).get("CloudWatchRoleArn")
        if role:
            apigateway_backends[account_id][region_name].update_account(
                [{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
        return cls(account_id, region_name)

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str, **kwargs: Any) -> ApiGatewayAccount:
        return cls._set(cloudformation_json, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: Any, account_id: str,
                                        region_name: str) -> ApiGatewayAccount:
        return cls._set(cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str) -> None:
        return None   # CloudFormation leaves the account setting as it is


def _physical(value: Any) -> Any:
    """A Ref moto hands over as the resource object itself: its physical id."""
    if isinstance(value, str):
        return value
    return getattr(value, "id", None) or getattr(value, "physical_resource_id", value)


class ApiStage(CloudFormationModel):
    """AWS::ApiGateway::Stage, backed by moto's API Gateway stages (4g)."""

    __module__ = "moto.cloudformation.test_placeholders"

    def __init__(self, rest_api_id: str, name: str, account_id: str, region_name: str):
        self.rest_api_id, self.name = rest_api_id, name
        self.account_id, self.region_name = account_id, region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGateway::Stage"

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.name

    @staticmethod
    def _backend(account_id: str, region_name: str) -> Any:
        from moto.apigateway.models import apigateway_backends

        return apigateway_backends[account_id][region_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str, **kwargs: Any) -> "ApiStage":
        props = cloudformation_json["Properties"]
        cls._backend(account_id, region_name).create_stage(
            props["RestApiId"], props["StageName"], _physical(props["DeploymentId"]),
            tracing_enabled=props.get("TracingEnabled"))
        return cls(props["RestApiId"], props["StageName"], account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,
                                        cloudformation_json: Any, account_id: str, region_name: str) -> "ApiStage":
        props = cloudformation_json["Properties"]
        stage = cls._backend(account_id, region_name).get_stage(original_resource.rest_api_id, original_resource.name)
        stage.deployment_id = _physical(props["DeploymentId"])
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,
                                        account_id: str, region_name: str) -> None:
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            self._backend(account_id, region_name).delete_stage(self.rest_api_id, self.name)
        except Exception:  # the API went first
            pass


_original_class_from_type = parsing.resource_class_from_type


def _class_from_type(resource_type: str) -> Any:
    if resource_type == "AWS::ApiGateway::Stage":
        return ApiStage
    if resource_type in LAMBDA_MODELS:
        return LAMBDA_MODELS[resource_type]
    if resource_type == ApiGatewayAccount.cloudformation_type():
        return ApiGatewayAccount
    cls = _original_class_from_type(resource_type)
    if cls is None and resource_type not in parsing.NULL_MODELS:
        return Placeholder
    return cls


def stand_in(resource_type: str) -> bool:
    """Whether the emulator records `resource_type` as an inert placeholder (5.): no model in moto
    and none here. The README lists the ones the shipped configs use."""
    return _class_from_type(resource_type) is Placeholder


def _mock_integration(cfn_json: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(cfn_json)
    integration = out.get("Properties", {}).get("Integration")
    if isinstance(integration, dict) and integration.get("Type") == "MOCK":
        integration.setdefault("IntegrationHttpMethod", None)
        integration.setdefault("Uri", None)
    return out


# 4b. RestApi Body -------------------------------------------------------------------------------
def _put_body(api: Any, cfn_json: dict[str, Any], account_id: str, region_name: str) -> Any:
    from moto.apigateway.models import apigateway_backends

    props = cfn_json.get("Properties", {})
    if props.get("Body"):
        apigateway_backends[account_id][region_name].put_rest_api(api.id, props["Body"], fail_on_warnings=False,
                                                                 mode="overwrite")
    return api


def _integration_args(original: Any) -> Any:
    def build(self: Any, integration: dict[str, Any]) -> dict[str, Any]:
        args = original(self, integration)
        if integration.get("type") == "mock":
            args["uri"] = args["uri"] or ""
            args["integration_method"] = args["integration_method"] or ""
        return args
    return build


def _rest_api_created(original: Any) -> Any:
    def create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str,
               **kwargs: Any) -> Any:
        api = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        return _put_body(api, cloudformation_json, account_id, region_name)
    return classmethod(create)


def _rest_api_updated(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                      account_id: str, region_name: str) -> Any:
    props = cloudformation_json.get("Properties", {})
    original_resource.description = props.get("Description", original_resource.description)
    return _put_body(original_resource, cloudformation_json, account_id, region_name)
# 3c. in-place update when moto has no update handler -----------------------------------------------
_original_update_resource = parsing.parse_and_update_resource


def _update_keeping_resource(logical_id: str, resource_json: dict[str, Any], resources_map: Any,
                             account_id: str, region_name: str) -> Any:
    original = resources_map._parsed_resources.get(logical_id)
    updated = _original_update_resource(logical_id, resource_json, resources_map, account_id, region_name)
    if updated is None and original is not None:
        if resource_json.get("Type") == "AWS::DynamoDB::Table":
            _update_table_indexes(original, resource_json, resources_map, account_id, region_name)
        return original
    return updated


def _update_table_indexes(table: Any, resource_json: dict[str, Any], resources_map: Any,
                          account_id: str, region_name: str) -> None:
    """3e. The indexes a table update adds or removes, through moto's own UpdateTable (an index's
    other changes, which DynamoDB refuses, are left out; so is the one-index-per-update rule, which
    the preflight check table-indexes enforces before a deploy)."""
    from moto.dynamodb.models import dynamodb_backends

    props = parsing.clean_json(resource_json.get("Properties") or {}, resources_map)
    wanted = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes") or []}
    have = {i.name for i in table.global_indexes}
    changes = ([{"Create": index} for name, index in wanted.items() if name not in have]
               + [{"Delete": {"IndexName": name}} for name in sorted(have - set(wanted))])
    if changes:
        dynamodb_backends[account_id][region_name].update_table(
            table.name, attr_definitions=props.get("AttributeDefinitions") or [], global_index=changes, throughput={},
            billing_mode="", stream_spec={}, deletion_protection_enabled=None, warm_throughput=None)


# 3d. modify before add ---------------------------------------------------------------------------------
def _update_modified_first(self: Any, template: dict[str, Any], parameters: dict[str, Any] | None = None) -> None:
    actions = self.build_resource_diff(template, parameters)
    last_exception: Exception | None = None
    for _ in range(parsing.MAX_UPDATE_ATTEMPTS):   # removals as moto does them
        for logical_name in list(actions["Remove"]):
            try:
                kept = self._resource_json_map[logical_name].get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
                if kept:
                    self._parsed_resources.pop(logical_name, None)   # out of the stack, still in the account
                elif logical_name in self._parsed_resources:
                    self._delete_resource(self._parsed_resources[logical_name], self._resource_json_map[logical_name])
            except Exception as exc:  # a dependency: try again in the next pass
                last_exception = exc
            else:
                actions["Remove"].remove(logical_name)
        if not actions["Remove"]:
            break
    if actions["Remove"] and last_exception:
        raise last_exception
    self._template = template
    if parameters:
        self.input_parameters = parameters
    self.load_mapping()
    self.load_parameters()
    self.load_conditions()
    self._resource_json_map = template["Resources"]
    for _ in range(parsing.MAX_UPDATE_ATTEMPTS):
        for logical_name in list(actions["Modify"]):
            try:
                changed = parsing.parse_and_update_resource(logical_name, self._resource_json_map[logical_name], self,
                                                            account_id=self._account_id, region_name=self._region_name)
            except Exception as exc:
                last_exception = exc
            else:
                self._parsed_resources[logical_name] = changed
                actions["Modify"].remove(logical_name)
        if not actions["Modify"]:
            break
    if actions["Modify"] and last_exception:
        raise last_exception
    for logical_name in actions["Add"]:
        _ = self[logical_name]


# 4c. IMPORT change sets ------------------------------------------------------------------------------
IMPORTS: dict[str, list[dict[str, Any]]] = {}   # change set id -> its ResourcesToImport


def _existing(resource: dict[str, Any], backend: models.CloudFormationBackend) -> Any:
    """The moto object a ResourcesToImport entry names, or a ValidationError as CloudFormation gives."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.kms.models import kms_backends
    from moto.logs.models import logs_backends
    from moto.s3.models import s3_backends
    from moto.secretsmanager.models import secretsmanager_backends
    from moto.utilities.utils import get_partition

    rtype = resource["ResourceType"]
    ident = resource.get("ResourceIdentifier") or {}
    account, region = backend.account_id, backend.region_name
    found: Any = None
    if rtype == "AWS::CloudFormation::Stack":
        found = backend.stacks.get(ident.get("StackId", ""))
    elif rtype == "AWS::DynamoDB::Table":
        found = dynamodb_backends[account][region].tables.get(ident.get("TableName", ""))
    elif rtype == "AWS::S3::Bucket":
        found = s3_backends[account][get_partition(region)].buckets.get(ident.get("BucketName", ""))
    elif rtype == "AWS::Logs::LogGroup":
        found = logs_backends[account][region].groups.get(ident.get("LogGroupName", ""))
    elif rtype == "AWS::KMS::Key":
        found = kms_backends[account][region].keys.get(ident.get("KeyId", ""))
    elif rtype == "AWS::SQS::Queue":
        from moto.sqs.models import sqs_backends

        found = sqs_backends[account][region].queues.get(ident.get("QueueUrl", "").rstrip("/").rsplit("/", 1)[-1])
    elif rtype == "AWS::SecretsManager::Secret":
        store = secretsmanager_backends[account][region]
        secret_id = ident.get("Id", "")
        if store._is_valid_identifier(secret_id):
            found = Placeholder(secret_id, rtype, account, region)
    else:
        raise ValidationError(resource.get("LogicalResourceId", ""),
                              message=f"ResourceType {rtype} is not supported for import by this emulator patch")
    if found is None:
        raise ValidationError(resource.get("LogicalResourceId", ""),
                              message=f"Resource {resource.get('LogicalResourceId')} of type {rtype} with identifier "
                                      f"{ident} does not exist")
    return found


_original_backend_create_change_set = models.CloudFormationBackend.create_change_set


def _create_change_set(self: models.CloudFormationBackend, stack_name: str, change_set_name: str, template: str,
                       parameters: dict[str, str], description: str, change_set_type: str,
                       *args: Any, **kwargs: Any) -> tuple[str, str]:
    if change_set_type != "IMPORT":
        return _original_backend_create_change_set(self, stack_name, change_set_name, template, parameters,
                                                   description, change_set_type, *args, **kwargs)
    resources = kwargs.pop("resources_to_import", None) or []
    body = models.Stack.parse_template(template)
    in_template = body.get("Resources") or {}
    live = next((s for s in self.stacks.values() if s.name == stack_name and s.status != "REVIEW_IN_PROGRESS"), None)
    existing = set(live.resource_map._resource_json_map) if live else set()
    wanted = {r["LogicalResourceId"] for r in resources}
    for r in resources:
        lid = r["LogicalResourceId"]
        if lid not in in_template:
            raise ValidationError(stack_name, message=f"Resource {lid} to import is not in the template")
        if "DeletionPolicy" not in in_template[lid]:
            raise ValidationError(stack_name, message=f"Resource {lid} to import must have a DeletionPolicy")
        if in_template[lid].get("Type") != r["ResourceType"]:
            raise ValidationError(stack_name, message=f"Resource {lid} is not of type {r['ResourceType']}")
        _existing(r, self)
    extra = set(in_template) - wanted - existing
    if extra:
        raise ValidationError(stack_name, message="As part of the import operation, you cannot create new resources: "
                                                  + ", ".join(sorted(extra)))
    kind = "UPDATE" if live else "CREATE"
    change_set_id, stack_id = _original_backend_create_change_set(
        self, stack_name, change_set_name, template, parameters, description, kind, *args, **kwargs)
    change_set = self.change_sets[change_set_id]
    change_set.change_set_type = "IMPORT"
    change_set.changes = [models.Change("Import", r["LogicalResourceId"], r["ResourceType"]) for r in resources]
    change_set.status, change_set.execution_status, change_set.status_reason = "CREATE_COMPLETE", "AVAILABLE", None
    IMPORTS[change_set_id] = resources
    return change_set_id, stack_id


def _create_change_set_response(self: Any) -> Any:
    if self._get_param("ChangeSetType") != "IMPORT":
        return _original_create_change_set_response(self)
    backend = self.cloudformation_backend
    original = backend.create_change_set
    resources = self._get_param("ResourcesToImport", [])
    backend.create_change_set = lambda **kw: original(**kw, resources_to_import=resources)
    try:
        return _original_create_change_set_response(self)
    finally:
        del backend.create_change_set


def _execute_with_import(self: models.CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.change_sets.get(change_set_name) or next(
        (c for c in self.change_sets.values() if c.change_set_name == change_set_name), None)
    if change_set is None or change_set.change_set_type != "IMPORT":
        return _execute_change_set(self, change_set_name=change_set_name, stack_name=stack_name)
    stack = self.stacks[change_set.stack_id]
    stack._add_stack_event("IMPORT_IN_PROGRESS", resource_status_reason="User Initiated")
    body = change_set.template_dict
    resource_map = stack.resource_map
    resource_map._template = body
    resource_map._resource_json_map = body.get("Resources") or {}
    resource_map.input_parameters = change_set.parameters
    resource_map.load_mapping()
    resource_map.load_parameters()
    resource_map.load_conditions()
    for r in IMPORTS.pop(change_set.change_set_id, []):
        found = _existing(r, self)
        found.logical_resource_id = r["LogicalResourceId"]
        found.cf_resource_type = r["ResourceType"]
        resource_map._parsed_resources[r["LogicalResourceId"]] = found
    stack.template = change_set.template
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    stack.status = "IMPORT_COMPLETE"
    stack._add_stack_event("IMPORT_COMPLETE")
    change_set.execution_status = "EXECUTE_COMPLETE"


# 4f. Lambda architectures and layers -----------------------------------------------------------
def _function_created(original: Any) -> Any:
    def create(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
               **kwargs: Any) -> Any:
        fn = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _function_properties(fn, cloudformation_json["Properties"])
        return fn

    return classmethod(create)


def _function_updated(original: Any) -> Any:
    def update(cls: Any, original_resource: Any, *args: Any, **kwargs: Any) -> Any:
        fn = original.__func__(cls, original_resource, *args, **kwargs)
        cloudformation_json = kwargs.get("cloudformation_json") or next(
            a for a in args if isinstance(a, dict) and "Properties" in a)
        _function_properties(fn, cloudformation_json["Properties"])
        return fn

    return classmethod(update)


def _function_properties(fn: Any, properties: dict[str, Any]) -> None:
    fn.architectures = list(properties.get("Architectures") or ["x86_64"])
    fn.layers = fn._get_layers_data(list(properties.get("Layers") or []))


def _layer_version_created(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
                           region_name: str, **kwargs: Any) -> Any:
    from moto.awslambda.models import lambda_backends

    properties = cloudformation_json["Properties"]
    spec = {"Content": properties["Content"], "LayerName": properties.get("LayerName") or resource_name}
    for prop in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
        if prop in properties:
            spec[prop] = properties[prop]
    return lambda_backends[account_id][region_name].publish_layer_version(spec)


def apply() -> None:
    from moto.apigateway.models import APIGatewayBackend, Method, RestAPI
    from moto.awslambda.models import LambdaFunction, LayerVersion
    from moto.kms.models import Key
    from moto.ssm.models import Parameter

    models.Stack.get_cfn_attribute = _nested_stack_attribute
    models.Stack.update = _stack_update
    responses.CloudFormationResponse.update_termination_protection = _update_termination_protection
    models.CloudFormationBackend.execute_change_set = _execute_change_set
    models.Stack.update_from_cloudformation_json = classmethod(_update_nested_stack)
    Key.create_from_cloudformation_json = _with_properties(Key.create_from_cloudformation_json, _kms_tags)
    for name in ("create_from_cloudformation_json", "update_from_cloudformation_json"):
        setattr(Parameter, name, _with_properties(getattr(Parameter, name), _ssm_tags))
    Method.create_from_cloudformation_json = _with_properties(Method.create_from_cloudformation_json, _mock_integration)
    RestAPI.create_from_cloudformation_json = _rest_api_created(RestAPI.create_from_cloudformation_json)
    RestAPI.update_from_cloudformation_json = classmethod(_rest_api_updated)
    APIGatewayBackend._build_integration_args = _integration_args(APIGatewayBackend._build_integration_args)
    parsing.resource_class_from_type = _class_from_type
    parsing.parse_and_create_resource = _create_resource_after_dependencies
    parsing.parse_and_update_resource = _update_keeping_resource
    parsing.ResourceMap.update = _update_modified_first
    models.CloudFormationBackend.create_change_set = _create_change_set
    models.CloudFormationBackend.execute_change_set = _execute_with_import
    responses.CloudFormationResponse.create_change_set = _create_change_set_response
    LambdaFunction.create_from_cloudformation_json = _function_created(LambdaFunction.create_from_cloudformation_json)
    LambdaFunction.update_from_cloudformation_json = _function_updated(LambdaFunction.update_from_cloudformation_json)
    LayerVersion.create_from_cloudformation_json = classmethod(_layer_version_created)
    LayerVersion.physical_resource_id = property(lambda self: self.arn)
