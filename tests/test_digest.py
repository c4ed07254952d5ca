"""infra.digest: hashlib's SHA-256 digests, from CPython's own module below LARGE bytes."""
import hashlib

import pytest

from infra import digest
from infra.digest import LARGE, sha256


@pytest.mark.parametrize("size", [0, 1, 64, LARGE - 1, LARGE, 3 * LARGE + 7])
def test_the_same_digest_as_hashlib_at_every_size(size):
    data = bytes(i % 251 for i in range(size))
    assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert sha256(data).digest() == hashlib.sha256(data).digest()


def test_small_inputs_use_the_builtin_module_and_large_ones_openssl():
    assert type(sha256(b"x")).__module__ != "_hashlib"
    assert type(sha256(b"x" * LARGE)).__module__ == "_hashlib"
    assert type(sha256(more=LARGE)).__module__ == "_hashlib"  # told in advance: a large total


def test_updates_give_the_digest_of_the_whole():
    parts = [b"name", b"\0" * 10, b"bytes" * 1000]
    for h in (sha256(), sha256(more=LARGE)):
        for part in parts:
            h.update(part)
        assert h.hexdigest() == hashlib.sha256(b"".join(parts)).hexdigest()


def test_without_the_builtin_module_hashlib_answers(monkeypatch):
    monkeypatch.setattr(digest, "_builtin", None)
    assert type(sha256(b"abc")).__module__ == "_hashlib"
    assert sha256(b"abc").hexdigest() == hashlib.sha256(b"abc").hexdigest()
