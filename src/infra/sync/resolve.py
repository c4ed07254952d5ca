"""The intrinsics a value that sync applies may hold, resolved against a deployed stack (pure).

Function environment variables and the OpenAPI document are generated with a few intrinsics:
`Ref` to a stack parameter or a pseudo parameter, `Fn::Sub` over those, `Fn::Join`. They are
resolved with the values CloudFormation holds for the deployed stack (DescribeStacks gives each
parameter's value). Anything else (`Fn::GetAtt`, a `Ref` to a resource, a parameter the deployed
stack does not have, a NoEcho value CloudFormation masks) raises `Unresolvable`: only a deploy
can resolve it, so sync falls back to one.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASKED = "****"  # what DescribeStacks shows for a NoEcho parameter
_SUB = re.compile(r"\$\{([^}]*)\}")


class Unresolvable(Exception):
    """A value only CloudFormation can resolve; the message names what it refers to."""


def pseudo_parameters(region: str, account: str) -> dict[str, str]:
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": partition,
            "AWS::URLSuffix": suffix}


def _lookup(name: str, values: Mapping[str, Any]) -> Any:
    if name not in values:
        raise Unresolvable(f"'{name}' (not a parameter of the deployed stack)")
    value = values[name]
    if value == MASKED:
        raise Unresolvable(f"'{name}' (a NoEcho parameter CloudFormation does not show)")
    return value


def _sub(text: str, values: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if "." in name:
            raise Unresolvable(f"'{name}' (an attribute of a resource)")
        return str(_lookup(name, values))
    return _SUB.sub(one, text)


def resolve(value: Any, parameters: Mapping[str, str], pseudo: Mapping[str, str]) -> Any:
    """`value` with every intrinsic replaced by its deployed value; `Unresolvable` if one cannot be."""
    values = {**parameters, **pseudo}
    if isinstance(value, list):
        return [resolve(v, parameters, pseudo) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return _lookup(str(arg), values)
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return _sub(arg, values)
            text, local = arg
            return _sub(text, {**values, **{k: resolve(v, parameters, pseudo) for k, v in local.items()}})
        if key == "Fn::Join":
            sep, items = arg
            return str(sep).join(str(resolve(i, parameters, pseudo)) for i in items)
        if key.startswith("Fn::"):
            raise Unresolvable(f"{key} {arg!r}"[:120])
    return {k: resolve(v, parameters, pseudo) for k, v in value.items()}


def needs_parameters(value: Any) -> bool:
    """True when `value` refers to anything but pseudo parameters (a DescribeStacks is needed)."""
    if isinstance(value, list):
        return any(needs_parameters(v) for v in value)
    if not isinstance(value, dict):
        return False
    if set(value) == {"Ref"}:
        return not str(value["Ref"]).startswith("AWS::")
    if set(value) == {"Fn::Sub"}:
        arg = value["Fn::Sub"]
        text = arg if isinstance(arg, str) else arg[0]
        names = [m for m in _SUB.findall(text) if not m.startswith("!")]
        local = {} if isinstance(arg, str) else arg[1]
        return any(not n.startswith("AWS::") and n not in local for n in names) or needs_parameters(local)
    return any(needs_parameters(v) for v in value.values())
