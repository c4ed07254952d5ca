"""Frozen, keyword-only dataclasses that cost almost nothing to define (the generator's cold start).

`dataclasses.dataclass(frozen=True, kw_only=True)` writes `__init__`, `__repr__`, `__eq__`,
`__hash__`, `__setattr__` and `__delattr__` of each class as source text and compiles it: six
compilations per class, most of the time it takes to import the config schema (25 classes, about
10 ms of every run). `frozen_dataclass` lets `dataclasses` do everything else (fields, defaults,
`fields()`, `replace()`, `asdict()`, `is_dataclass()`) and gives the class those six methods written
once, here, with the behaviour of the generated ones (tests/test_config_frozen.py compares them).
"""
from __future__ import annotations

import dataclasses
from typing import Any

_MISSING = dataclasses.MISSING


def frozen_dataclass(cls: type) -> type:
    """`cls` as `dataclasses.dataclass(frozen=True, kw_only=True)` would make it."""
    own = sorted(name for name in _METHODS if name in cls.__dict__)
    if own:  # dataclasses' rules for a class's own methods are not reproduced here
        raise TypeError(f"{cls.__qualname__} defines {', '.join(own)}: use dataclasses.dataclass for it.")
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    fields = dataclasses.fields(cls)
    # What __init__ needs per field, looked up once per class instead of once per instance.
    cls.__frozen_init__ = tuple((f.name, f.default, f.default_factory) for f in fields if f.init)  # type: ignore[attr-defined]
    cls.__frozen_repr__ = tuple(f.name for f in fields if f.repr)  # type: ignore[attr-defined]
    cls.__frozen_compare__ = tuple(f.name for f in fields if f.compare)  # type: ignore[attr-defined]
    cls.__frozen_hash__ = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))  # type: ignore[attr-defined]
    for name, method in _METHODS.items():
        setattr(cls, name, method)
    return cls


def _init(self: Any, **kwargs: Any) -> None:
    cls = type(self)
    for name, default, factory in cls.__frozen_init__:
        if name in kwargs:
            value = kwargs.pop(name)
        elif default is not _MISSING:
            value = default
        elif factory is not _MISSING:
            value = factory()
        else:
            raise TypeError(f"{cls.__qualname__}.__init__() missing 1 required keyword-only argument: '{name}'")
        object.__setattr__(self, name, value)
    if kwargs:
        raise TypeError(f"{cls.__qualname__}.__init__() got an unexpected keyword argument '{next(iter(kwargs))}'")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _repr(self: Any) -> str:
    cls = type(self)
    return f"{cls.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in cls.__frozen_repr__)})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = type(self).__frozen_compare__
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in type(self).__frozen_hash__))


def _setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


_METHODS = {"__init__": _init, "__repr__": _repr, "__eq__": _eq, "__hash__": _hash, "__setattr__": _setattr,
            "__delattr__": _delattr}
