"""SHA-256 without loading OpenSSL for small inputs.

`hashlib.sha256` is OpenSSL's, and importing hashlib loads libcrypto: about 2.5 ms of every
generator start, to hash a few kilobytes (cache keys, a stage's definition, a handler's sources).
CPython's own SHA-256 module gives the same digests and loads in a tenth of that. Past LARGE bytes
OpenSSL's code wins (on this machine, with the CPU's SHA extensions, 1.2 GB/s against 0.32 GB/s),
so a large input (a zip with dependencies) still goes to hashlib.
"""
from __future__ import annotations

from typing import Any

LARGE = 1 << 20  # bytes: above this, OpenSSL's speed repays its load

try:
    from _sha256 import sha256 as _builtin  # type: ignore[import-not-found,unused-ignore]  # CPython 3.11
except ImportError:  # pragma: no cover - CPython 3.12 renamed it; a build may leave it out
    try:
        from _sha2 import sha256 as _builtin  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:
        _builtin = None


def sha256(data: bytes = b"", *, more: int = 0) -> Any:
    """A SHA-256 hash object (update, digest, hexdigest) holding `data`; `more`: about how many
    bytes will be added with update(), so that a large total goes to OpenSSL from the start."""
    if _builtin is None or len(data) + more >= LARGE:
        import hashlib

        return hashlib.sha256(data)
    return _builtin(data)
