"""Modules loaded on first use instead of at import (the generator's cold start)."""
from __future__ import annotations

import _thread
import importlib
import sys
import types
from typing import Any

# One lock for every stand-in: the first use of a deferred module may come from two threads
# at once (deploys wait on stacks in threads), and the module must run once, in one place.
_LOADING = _thread.allocate_lock()


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is read, then loads it.

    A plain module object (not importlib's LazyLoader, whose module loads as soon as the import
    system reads its `__spec__`, i.e. at the next `import name`): PEP 562's module `__getattr__`
    runs only for attributes the stand-in does not have.
    """

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        with _LOADING:
            if sys.modules.get(name) is self:
                del sys.modules[name]
            real = importlib.import_module(name)
            self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def defer(name: str) -> None:
    """Make `import name` cheap: the module runs when one of its attributes is first read (a
    missing module raises ModuleNotFoundError then). One already imported is left as it is.
    """
    if name not in sys.modules:
        sys.modules[name] = _Deferred(name)
