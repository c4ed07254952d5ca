"""Dataclasses that cost almost nothing to define (the generator's cold start).

`dataclasses.dataclass` writes `__init__`, `__repr__`, `__eq__` (and, frozen, `__hash__`,
`__setattr__`, `__delattr__`) of each class as source text and compiles it: about 0.4 ms per class,
paid at import by every command. `record` lets `dataclasses` do everything else (fields, defaults,
`fields()`, `replace()`, `asdict()`, `is_dataclass()`) and gives the class those methods written
once, here, with the behaviour of the generated ones (tests/test_records.py compares them). The
config schema and every class on the `templates` path are records (tests/test_records.py checks
that generating defines no class the slow way).
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable, TypeVar, overload

_MISSING = dataclasses.MISSING
_T = TypeVar("_T", bound=type)


@overload
def record(cls: _T, /) -> _T: ...
@overload
def record(*, frozen: bool = True, kw_only: bool = False) -> Callable[[_T], _T]: ...


@typing.dataclass_transform(field_specifiers=(dataclasses.field,))
def record(cls: Any = None, /, *, frozen: bool = True, kw_only: bool = False) -> Any:
    """`cls` as `dataclasses.dataclass(frozen=frozen, kw_only=kw_only)` would make it (eq and
    repr on; a frozen record hashes its compared fields, a mutable one is unhashable)."""
    def make(cls: type) -> type:
        own = sorted(name for name in _METHODS if name in cls.__dict__)
        if own:  # dataclasses' rules for a class's own methods are not reproduced here
            raise TypeError(f"{cls.__qualname__} defines {', '.join(own)}: use dataclasses.dataclass for it.")
        if not cls.__doc__:  # else dataclasses builds one from inspect.signature, the slow part left
            cls.__doc__ = cls.__name__
        cls = dataclasses.dataclass(init=False, repr=False, eq=False, kw_only=kw_only)(cls)
        fields = dataclasses.fields(cls)
        if any(f.kw_only != kw_only for f in fields):
            raise TypeError(f"{cls.__qualname__}: per-field kw_only is not supported; use record(kw_only=True).")
        # What the methods need per field, looked up once per class instead of once per call.
        cls.__record_init__ = tuple((f.name, f.default, f.default_factory) for f in fields if f.init)  # type: ignore[attr-defined]
        cls.__record_kw_only__ = kw_only  # type: ignore[attr-defined]
        cls.__record_repr__ = tuple(f.name for f in fields if f.repr)  # type: ignore[attr-defined]
        cls.__record_compare__ = tuple(f.name for f in fields if f.compare)  # type: ignore[attr-defined]
        cls.__record_hash__ = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))  # type: ignore[attr-defined]
        methods: dict[str, Any] = {"__init__": _init, "__repr__": _repr, "__eq__": _eq}
        if frozen:
            methods.update(__hash__=_hash, __setattr__=_setattr, __delattr__=_delattr)
        else:
            methods["__hash__"] = None  # mutable and compared by value: unhashable
        for name, method in methods.items():
            setattr(cls, name, method)
        return cls
    return make if cls is None else make(cls)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    spec = cls.__record_init__
    if args and (cls.__record_kw_only__ or len(args) > len(spec)):
        raise TypeError(f"{cls.__qualname__}.__init__() takes {_positional(cls)} but {len(args) + 1} were given")
    kind = "keyword-only" if cls.__record_kw_only__ else "positional"
    for i, (name, default, factory) in enumerate(spec):
        if i < len(args):
            if name in kwargs:
                raise TypeError(f"{cls.__qualname__}.__init__() got multiple values for argument '{name}'")
            value = args[i]
        elif name in kwargs:
            value = kwargs.pop(name)
        elif default is not _MISSING:
            value = default
        elif factory is not _MISSING:
            value = factory()
        else:
            raise TypeError(f"{cls.__qualname__}.__init__() missing 1 required {kind} argument: '{name}'")
        object.__setattr__(self, name, value)
    if kwargs:
        raise TypeError(f"{cls.__qualname__}.__init__() got an unexpected keyword argument '{next(iter(kwargs))}'")
    post_init = getattr(self, "__post_init__", None)
    if post_init is not None:
        post_init()


def _positional(cls: type) -> str:
    """How many positional arguments `__init__` takes, as Python words it (self counted)."""
    if cls.__record_kw_only__:  # type: ignore[attr-defined]
        return "1 positional argument"
    spec = cls.__record_init__  # type: ignore[attr-defined]
    required = sum(1 for _, default, factory in spec if default is _MISSING and factory is _MISSING)
    if required == len(spec):
        return f"{len(spec) + 1} positional argument{'s' if spec else ''}"
    return f"from {required + 1} to {len(spec) + 1} positional arguments"


def _repr(self: Any) -> str:
    cls = type(self)
    return f"{cls.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in cls.__record_repr__)})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = type(self).__record_compare__
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in type(self).__record_hash__))


def _setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


_METHODS = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")
