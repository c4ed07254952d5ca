"""Least-recently-used upkeep shared by the on-disk caches (the build cache, lint's cache).

An entry's last use is one file's modification time, set at each use; a cache that wrote
entries checks its bound at most once per interval (a stamp file's time), and then removes the
least recently used entries until 80 % of the bound is left.
"""
from __future__ import annotations

import os
import time
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


def mark_used(path: Path) -> bool:
    """Set an entry's last use (its file's mtime) to now; False when the entry is gone."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:
        pass  # a read-only cache still serves its entries
    return True


def check_due(stamp: Path, every_s: float) -> bool:
    """Whether the last size check (`stamp`'s time) is at least `every_s` old, or never was."""
    try:
        return time.time() - stamp.stat().st_mtime >= every_s
    except OSError:
        return True


def least_recently_used(entries: Iterable[tuple[float, int, T]], bound: float,
                        keep: Iterable[T] = ()) -> list[T]:
    """Of `entries` (last use, size, entry), those to remove, least recently used first, so that
    at most 80 % of `bound` is left; none when the total is within `bound`, never one in `keep`."""
    entries = list(entries)
    total = sum(size for _, size, _ in entries)
    if total <= bound:
        return []
    kept = set(keep)
    doomed: list[T] = []
    for _, size, entry in sorted(entries, key=lambda e: e[0]):
        if total <= bound * 0.8:
            break
        if entry in kept:
            continue
        doomed.append(entry)
        total -= size
    return doomed
