"""IAM statement and security group rule changes between two templates, and which ones broaden.

Every policy a template carries is read as statements (effect, principals, actions, resources,
conditions): role trust and inline policies, managed policy attachments, IAM policies, bucket,
topic, queue, secret and log resource policies, key policies, Lambda permissions. Security groups
give ingress and egress rules (inline and standalone). The two templates' sets are compared:
what is in the new one only is `+`, what is in the old one only is `-`.

Broadening (what `deploy --require-approval broadening` asks a person about), as `cdk diff` counts
it and a little stricter: an added Allow statement (unless it only narrows one that is removed:
same effect, principals and conditions, fewer actions or resources), a removed Deny statement,
an added managed policy, an added Lambda permission, an added security group rule.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra.deploy.property_diff import compact
from infra.resource_types import facts

# Whom a resource policy's statements apply to, when the statement has no Principal (identity policies).
ATTACHED_TO = ("Roles", "Users", "Groups", "RoleName", "Bucket", "Topics", "Queues", "SecretId")


@dataclass(frozen=True)
class Statement:
    """One IAM statement, normalized (each field a sorted tuple of shown values)."""

    effect: str
    principals: tuple[str, ...]
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: str = ""
    not_actions: bool = False
    not_resources: bool = False


@dataclass(frozen=True)
class Rule:
    """One security group rule."""

    direction: str      # ingress / egress
    protocol: str
    ports: str
    peer: str
    description: str = ""


@dataclass(frozen=True)
class SecurityChange:
    """A statement or rule added (+) or removed (-), in stack `stack`, held by resource `resource`."""

    sign: str
    stack: str
    resource: str
    item: Statement | Rule | str      # str: a managed policy ARN attached to `resource`
    broadening: bool = False

    @property
    def kind(self) -> str:
        return "sg" if isinstance(self.item, Rule) else "iam"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principals(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if value == "*":
        return ("*",)
    if isinstance(value, dict) and not any(k.startswith("Fn::") or k == "Ref" for k in value):
        return tuple(sorted(f"{kind}:{compact(v)}" for kind, vals in value.items() for v in _as_list(vals)))
    return (compact(value),)


def _document(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def statements(document: Any, default_principals: tuple[str, ...] = ()) -> list[Statement]:
    """The statements of a policy document (a dict or its JSON text)."""
    doc = _document(document)
    found = []
    for st in _as_list(doc.get("Statement")):
        if not isinstance(st, dict):
            continue
        principals = _principals(st.get("Principal")) or (("NOT " + ",".join(_principals(st["NotPrincipal"])),)
                                                           if "NotPrincipal" in st else default_principals)
        actions = st.get("Action", st.get("NotAction"))
        resources = st.get("Resource", st.get("NotResource"))
        found.append(Statement(
            effect=str(st.get("Effect", "")),
            principals=tuple(sorted(principals)),
            actions=tuple(sorted(compact(a) for a in _as_list(actions))),
            resources=tuple(sorted(compact(r) for r in _as_list(resources))),
            conditions=compact(st["Condition"]) if st.get("Condition") else "",
            not_actions="NotAction" in st,
            not_resources="NotResource" in st,
        ))
    return found


def _holder(lid: str, props: dict[str, Any]) -> tuple[str, ...]:
    for key in ATTACHED_TO:
        if key in props:
            return tuple(sorted(compact(v) for v in _as_list(props[key])))
    return (f"${{{lid}}}",)


def template_security(template: dict[str, Any]) -> dict[tuple[str, Statement | Rule | str], int]:
    """Every (resource, statement-or-rule) of a template, counted (a multiset)."""
    items: dict[tuple[str, Statement | Rule | str], int] = {}

    def add(lid: str, item: Statement | Rule | str) -> None:
        items[(lid, item)] = items.get((lid, item), 0) + 1

    for lid, res in ((template or {}).get("Resources") or {}).items():
        rtype, props = res.get("Type", ""), res.get("Properties") or {}
        if rtype == "AWS::IAM::Role":
            for st in statements(props.get("AssumeRolePolicyDocument")):
                add(lid, Statement(st.effect, st.principals, st.actions, (f"${{{lid}}}",), st.conditions,
                                   st.not_actions, False))
            for policy in _as_list(props.get("Policies")):
                if isinstance(policy, dict):
                    for st in statements(policy.get("PolicyDocument"), (f"${{{lid}}}",)):
                        add(lid, st)
        if rtype in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
            for arn in _as_list(props.get("ManagedPolicyArns")):
                add(lid, compact(arn))
        prop = facts(rtype).policy_property
        if prop and props.get(prop) is not None:
            for st in statements(props[prop], _holder(lid, props)):
                add(lid, st)
        if rtype == "AWS::Lambda::Permission":
            condition = {k: compact(props[k]) for k in ("SourceArn", "SourceAccount", "PrincipalOrgID",
                                                         "FunctionUrlAuthType") if k in props}
            add(lid, Statement("Allow", (compact(props.get("Principal", "")),), (compact(props.get("Action", "")),),
                               (compact(props.get("FunctionName", "")),),
                               compact(condition) if condition else ""))
        if rtype == "AWS::EC2::SecurityGroup":
            for direction, key in (("ingress", "SecurityGroupIngress"), ("egress", "SecurityGroupEgress")):
                for rule in _as_list(props.get(key)):
                    if isinstance(rule, dict):
                        add(lid, _rule(direction, rule))
        if rtype in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
            direction = "ingress" if rtype.endswith("Ingress") else "egress"
            group = compact(props.get("GroupId", props.get("GroupName", lid)))
            add(group, _rule(direction, props))
    return items


def _rule(direction: str, rule: dict[str, Any]) -> Rule:
    protocol = str(compact(rule.get("IpProtocol", "")))
    protocol = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp"}.get(protocol, protocol)
    low, high = rule.get("FromPort"), rule.get("ToPort")
    ports = "all" if protocol == "all" or (low in (None, -1) and high in (None, -1)) else (
        str(compact(low)) if low == high else f"{compact(low)}-{compact(high)}")
    for key in ("CidrIp", "CidrIpv6", "SourceSecurityGroupId", "DestinationSecurityGroupId",
                "SourcePrefixListId", "DestinationPrefixListId", "SourceSecurityGroupName"):
        if key in rule:
            peer = compact(rule[key])
            break
    else:
        peer = "?"
    return Rule(direction, protocol, ports, peer, str(compact(rule.get("Description", ""))))


def _narrows(added: Statement, removed: list[Statement]) -> bool:
    """`added` only narrows a removed statement (same who/condition, a subset of actions and resources)."""
    for old in removed:
        if (old.effect, old.principals, old.conditions, old.not_actions, old.not_resources) != (
                added.effect, added.principals, added.conditions, added.not_actions, added.not_resources):
            continue
        if added.not_actions or added.not_resources:
            continue
        if set(added.actions) <= set(old.actions) and set(added.resources) <= set(old.resources):
            return True
    return False


def security_changes(old: dict[str, Any] | None, new: dict[str, Any] | None, stack: str) -> list[SecurityChange]:
    """IAM statement and security group rule changes from template `old` to `new` of stack `stack`."""
    before, after = template_security(old or {}), template_security(new or {})
    added = [key for key in after for _ in range(after[key] - before.get(key, 0))]
    gone = [key for key in before for _ in range(before[key] - after.get(key, 0))]
    changes: list[SecurityChange] = []
    for lid, item in gone:
        broad = isinstance(item, Statement) and item.effect == "Deny"
        changes.append(SecurityChange("-", stack, lid, item, broad))
    for lid, item in added:
        if isinstance(item, Statement):
            if item.effect == "Deny":
                broad = False
            else:
                removed_here = [i for res, i in gone if res == lid and isinstance(i, Statement)]
                broad = not _narrows(item, removed_here)
        else:
            broad = True
        changes.append(SecurityChange("+", stack, lid, item, broad))
    return changes
