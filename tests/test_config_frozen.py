"""infra.config.frozen behaves as dataclasses.dataclass(frozen=True, kw_only=True): the same class
made both ways is compared on everything the config code and its users rely on."""
from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path
from typing import Optional

import pytest

from infra.config import load_config, schema
from infra.config.frozen import frozen_dataclass
from infra.config.typed import dataclass, spec

REPO = Path(__file__).resolve().parents[1]


class Inner:
    limit: int = dataclasses.field(default=3, metadata={"doc": "a limit"})


class Outer:
    name: str
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    inner: Optional[object] = None
    note: str = dataclasses.field(default="", compare=False, repr=False)


def both(body: type) -> tuple[type, type]:
    """The class `body` made by dataclasses and by frozen_dataclass."""
    made = []
    for make in (dataclasses.dataclass(frozen=True, kw_only=True), frozen_dataclass):
        made.append(make(type(body.__name__, (), {"__annotations__": dict(body.__annotations__),
                                                  **{k: v for k, v in vars(body).items() if not k.startswith("__")},
                                                  "__qualname__": body.__name__, "__module__": __name__})))
    return made[0], made[1]


@pytest.mark.parametrize("body", [Inner, Outer])
def test_fields_defaults_and_factories_are_dataclasses_own(body):
    std, ours = both(body)
    assert [(f.name, f.default, f.default_factory, f.metadata, f.compare, f.repr) for f in dataclasses.fields(std)] == [
        (f.name, f.default, f.default_factory, f.metadata, f.compare, f.repr) for f in dataclasses.fields(ours)]
    assert dataclasses.is_dataclass(ours)


def test_construction_equality_hash_and_repr_match():
    std, ours = both(Outer)
    for cls in (std, ours):
        a, b = cls(name="x"), cls(name="x", note="other")
        assert a == b and a != cls(name="y") and a.tags == {} and a.tags is not cls(name="x").tags
        assert (a == "x") is False and a.__eq__("x") is NotImplemented
        with pytest.raises(TypeError):
            hash(a)                        # a dict field: unhashable, as with dataclasses
    assert repr(std(name="x", note="n")) == repr(ours(name="x", note="n")) == "Outer(name='x', tags={}, inner=None)"
    std_i, ours_i = both(Inner)
    assert hash(std_i(limit=4)) == hash(ours_i(limit=4)) == hash((4,))


def test_errors_are_the_same():
    std, ours = both(Outer)
    for cls in (std, ours):
        with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'name'"):
            cls()
        with pytest.raises(TypeError, match="unexpected keyword argument 'nme'"):
            cls(name="x", nme="y")
        with pytest.raises(TypeError):
            cls("x")                       # keyword-only
        made = cls(name="x")
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
            made.name = "y"
        with pytest.raises(dataclasses.FrozenInstanceError):
            del made.name


def test_replace_copy_and_asdict_work():
    _, ours = both(Outer)
    made = ours(name="x", tags={"a": "b"})
    assert dataclasses.replace(made, name="y") == ours(name="y", tags={"a": "b"})
    assert copy.deepcopy(made) == made and dataclasses.asdict(made)["tags"] == {"a": "b"}


def test_a_loaded_config_pickles_and_copies():
    cfg = load_config(REPO / "config" / "catalog-api.toml")
    assert pickle.loads(pickle.dumps(cfg)) == cfg and copy.deepcopy(cfg) == cfg


def test_the_schema_is_made_this_way_and_only_frozen_keyword_only_tables_are_accepted():
    assert all(cls.__init__.__module__ == "infra.config.frozen" for cls in vars(schema).values()
               if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == schema.__name__)
    with pytest.raises(TypeError, match="frozen, keyword-only"):
        dataclass(frozen=False, kw_only=True)

    class OwnEq:
        x: int = spec(1)

        def __eq__(self, other: object) -> bool:
            return True

    with pytest.raises(TypeError, match="defines __eq__"):
        frozen_dataclass(OwnEq)
