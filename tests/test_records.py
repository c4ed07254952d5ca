"""infra.records.record behaves as dataclasses.dataclass: the same class made both ways (frozen or
not, keyword-only or not) is compared on everything our code and its users rely on; and generating
defines no class the slow way."""
from __future__ import annotations

import copy
import dataclasses
import pickle
from pathlib import Path
from typing import Optional

import pytest

from infra.config import load_config, schema
from infra.records import record
from infra.config.typed import dataclass, spec

REPO = Path(__file__).resolve().parents[1]


class Inner:
    limit: int = dataclasses.field(default=3, metadata={"doc": "a limit"})


class Outer:
    name: str
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    inner: Optional[object] = None
    note: str = dataclasses.field(default="", compare=False, repr=False)


def both(body: type, *, frozen: bool = True, kw_only: bool = True) -> tuple[type, type]:
    """The class `body` made by dataclasses and by record, with the same options."""
    made = []
    for make in (dataclasses.dataclass(frozen=frozen, kw_only=kw_only), record(frozen=frozen, kw_only=kw_only)):
        made.append(make(type(body.__name__, (), {"__annotations__": dict(body.__annotations__),
                                                  **{k: copy.copy(v) for k, v in vars(body).items() if not k.startswith("__")},
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
    assert all(cls.__init__.__module__ == "infra.records" for cls in vars(schema).values()
               if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == schema.__name__)
    with pytest.raises(TypeError, match="frozen, keyword-only"):
        dataclass(frozen=False, kw_only=True)

    class OwnEq:
        x: int = spec(1)

        def __eq__(self, other: object) -> bool:
            return True

    with pytest.raises(TypeError, match="defines __eq__"):
        record(OwnEq)


@pytest.mark.parametrize("body", [Inner, Outer])
def test_positional_records_take_their_fields_in_order(body):
    std, ours = both(body, kw_only=False)
    args = (4,) if body is Inner else ("x", {"a": "b"}, None, "n")
    assert repr(std(*args)) == repr(ours(*args))
    assert (std(*args) == std(*args)) and (ours(*args) == ours(*args))
    assert [getattr(ours(*args), f.name) for f in dataclasses.fields(ours)] == list(args)


def test_positional_errors_are_the_same():
    std, ours = both(Outer, kw_only=False)
    for cls in (std, ours):
        with pytest.raises(TypeError, match="missing 1 required positional argument: 'name'"):
            cls()
        with pytest.raises(TypeError, match="got multiple values for argument 'name'"):
            cls("x", name="y")
        with pytest.raises(TypeError, match="takes from 2 to 5 positional arguments but 6 were given"):
            cls("x", {}, None, "n", "extra")
        with pytest.raises(TypeError, match="unexpected keyword argument 'nme'"):
            cls("x", nme="y")
    std_i, ours_i = both(Inner, kw_only=False)
    for cls in (std_i, ours_i):
        with pytest.raises(TypeError, match=r"__init__\(\) takes from 1 to 2 positional arguments but 3 were given"):
            cls(1, 2)
    for cls in both(Outer):
        with pytest.raises(TypeError, match="takes 1 positional argument but 2 were given"):
            cls("x")


def test_mutable_records_assign_and_are_unhashable():
    std, ours = both(Outer, frozen=False, kw_only=False)
    for cls in (std, ours):
        made = cls("x")
        made.name = "y"
        made.tags["k"] = "v"
        assert made == cls("y", {"k": "v"}) and made != cls("x")
        assert cls.__hash__ is None
        del made.note
        assert not hasattr(made, "note") or made.note == ""  # the class default shows through


def test_post_init_and_cached_property_work_on_frozen_records():
    from functools import cached_property

    @record
    class Sized:
        data: bytes
        label: str = ""

        def __post_init__(self) -> None:
            if not self.label:
                object.__setattr__(self, "label", f"{len(self.data)} bytes")

        @cached_property
        def twice(self) -> bytes:
            return self.data * 2

    made = Sized(b"ab")
    assert made.label == "2 bytes" and made.twice == b"abab" and made == Sized(b"ab", "2 bytes")
    assert hash(made) == hash((b"ab", "2 bytes"))


def test_generating_defines_no_dataclass_the_slow_way(tmp_path):
    """`templates` (the cold path) defines every class as a record: dataclasses compiles no method
    source. A stdlib dataclass added on that path costs every run about 0.4 ms, and fails here."""
    import subprocess
    import sys

    probe = (
        "import dataclasses, os, runpy, sys\n"
        "made = []\n"
        "real = dataclasses._create_fn\n"
        "def counting(name, *args, **kwargs):\n"
        "    made.append(sys._getframe(3).f_globals.get('__name__', '?'))\n"
        "    return real(name, *args, **kwargs)\n"
        "dataclasses._create_fn = counting\n"
        "def report(code):\n"
        "    print('SLOW', sorted(set(made)), code, flush=True)\n"
        "    os._exit(0)\n"
        "os._exit = report\n"
        f"sys.argv = ['generate.py', 'templates', '--config', 'config/catalog-api.toml', '--out', {str(tmp_path / 'o')!r}]\n"
        "runpy.run_path('generate.py', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SLOW")), None)
    assert line is not None, proc.stdout + proc.stderr
    assert line == "SLOW [] 0", line
