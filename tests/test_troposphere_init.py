"""infra.troposphere_init: the cheaper troposphere constructor builds exactly what troposphere's does."""
from __future__ import annotations

import importlib
import pkgutil

import pytest
import troposphere
from troposphere import BaseAWSObject, Template, awslambda, s3

from infra import troposphere_init as ti


def test_it_applies_to_the_pinned_troposphere_and_is_installed_by_the_generator():
    """A new troposphere fails here: check its BaseAWSObject.__init__ against troposphere_init._init
    and update VERSION and ORIGINAL (or drop the module)."""
    import infra.stack  # noqa: F401  (installs it)

    assert ti.applies() and BaseAWSObject.__init__ is ti._init


def _every_class() -> list[type]:
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(troposphere.__path__, "troposphere."):
        if info.name.endswith((".validators", ".type_defs", ".openstack", ".utils", ".template_generator")):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency troposphere does not require
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseAWSObject) and value.__module__ == info.name:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


def _built(init, cls: type, *args, **kwargs):
    obj = cls.__new__(cls)
    try:
        init(obj, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001  (compared below: same type, same message)
        return ("raised", type(exc), str(exc))
    state = dict(obj.__dict__)
    return ("built", {k: v for k, v in state.items()}, state["resource"] is state["properties"])


def test_an_object_of_every_troposphere_class_is_built_the_same_both_ways():
    classes = _every_class()
    assert len(classes) > 1000  # every service module was read
    for cls in classes:
        assert _built(ti._ORIGINAL_INIT, cls, "Title1") == _built(ti._init, cls, "Title1"), cls


class _WithDefaults(s3.Bucket):
    """A class that gives properties defaults (troposphere allows it; none of its own classes does)."""

    BucketName = "default-bucket"
    ObjectLockEnabled = True


def test_class_defaults_are_applied_unless_given_both_ways():
    assert ti._class_defaults(_WithDefaults) == (("BucketName", "default-bucket"), ("ObjectLockEnabled", True))
    for kwargs in ({}, {"BucketName": "given-bucket"}, {"ObjectLockEnabled": "yes"}):
        assert _built(ti._ORIGINAL_INIT, _WithDefaults, "B", **kwargs) == _built(ti._init, _WithDefaults, "B", **kwargs)


@pytest.mark.parametrize("args, kwargs", [
    (("Fn",), {"Runtime": "python3.12", "Handler": "h", "Role": "r", "MemorySize": 128,
               "DependsOn": ["Other"], "Code": awslambda.Code(S3Bucket="b", S3Key="k")}),
    (("Fn",), {"Template": None}),                      # not a property: AttributeError, same text
    (("bad title!",), {}),                               # ValueError, same text
    (("Fn",), {"MemorySize": "lots"}),                   # a validator's error, same text
])
def test_properties_attributes_and_errors_are_the_same_both_ways(args, kwargs):
    assert _built(ti._ORIGINAL_INIT, awslambda.Function, *args, **kwargs) == _built(
        ti._init, awslambda.Function, *args, **kwargs)


def test_an_object_joins_its_template_and_keeps_its_class_defaults_either_way():
    for init in (ti._ORIGINAL_INIT, ti._init):
        template = Template()
        bucket = s3.Bucket.__new__(s3.Bucket)
        init(bucket, "B", template=template, BucketName="my-bucket")
        assert template.resources == {"B": bucket} and bucket.to_dict() == {
            "Type": "AWS::S3::Bucket", "Properties": {"BucketName": "my-bucket"}}
