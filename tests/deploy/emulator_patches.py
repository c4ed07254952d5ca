"""CloudFormation gaps of moto 5.2.5, filled in the test emulator only.

Loaded into the moto server process (never into the code under test) by `PatchedMotoServer` in
deploy_emulator.py. The deploy code talks to this server exactly as it talks to AWS.

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

Stand-ins (what LocalStack calls "ignore unsupported resource types"):
5. A resource type moto's CloudFormation does not implement (WAFv2, CloudWatch alarms, API
   Gateway stages and models, Config rules, bucket and topic policies, ...) is skipped by moto,
   and any Ref/GetAtt to it then fails the whole stack. The patch records such a resource as an
   inert placeholder: its Ref is a generated name, `GetAtt X.Arn` an ARN built from the type and
   that name, any other attribute the name. Nothing is created in any service, so tests must
   (and do) assert only on resources moto really implements (functions, tables, buckets, keys,
   parameters, roles) plus CloudFormation's own stack records.
"""
from __future__ import annotations

import copy
from typing import Any

from moto.cloudformation import models, parsing
from moto.cloudformation.exceptions import ValidationError
from moto.core.common_models import CloudFormationModel

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
    change_set = self.describe_change_set(change_set_name)
    stack = self.stacks[change_set.stack_id]
    stack._parse_template()
    stack.output_map = stack._create_output_map()


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

    def wrapper(cls: Any, *args: Any, **kwargs: Any) -> Any:
        args = list(args)
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


# 5. placeholders for unsupported types ---------------------------------------------------------
class Placeholder(CloudFormationModel):
    """An unsupported resource type, recorded but not created anywhere."""

    # moto's model metaclass files models by service, read from the module path.
    __module__ = "moto.cloudformation.test_placeholders"

    def __init__(self, name: str, resource_type: str, account_id: str, region_name: str):
        self.name = name
        self.resource_type = resource_type
        self.account_id = account_id
        self.region_name = region_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::TestEmulator::Placeholder"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            _, service, kind = self.resource_type.split("::")
            return f"arn:aws:{service.lower()}:{self.region_name}:{self.account_id}:{kind.lower()}/{self.name}"
        return self.name

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,  # type: ignore[override]
                                        account_id: str, region_name: str, **kwargs: Any) -> "Placeholder":
        resource_type = kwargs.get("ResourceType") or cloudformation_json.get("Type", "AWS::Unknown::Unknown")
        PLACEHOLDER_TYPES.add(resource_type)
        return cls(resource_name, resource_type, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,  # type: ignore[override]
                                        cloudformation_json: Any, account_id: str, region_name: str) -> "Placeholder":
        return cls(original_resource.name, cloudformation_json.get("Type", original_resource.resource_type),
                   account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,  # type: ignore[override]
                                        account_id: str, region_name: str) -> None:
        return None

    def delete(self, account_id: str, region_name: str) -> None:
        return None

    def is_created(self) -> bool:
        return True


_original_class_from_type = parsing.resource_class_from_type


def _class_from_type(resource_type: str) -> Any:
    cls = _original_class_from_type(resource_type)
    if cls is None and resource_type not in parsing.NULL_MODELS:
        return Placeholder
    return cls


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


def apply() -> None:
    from moto.apigateway.models import APIGatewayBackend, Method, RestAPI
    from moto.kms.models import Key
    from moto.ssm.models import Parameter

    models.Stack.get_cfn_attribute = _nested_stack_attribute
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
