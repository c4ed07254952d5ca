"""Zip entries carry fixed permissions: the build machine's file modes never leak into an asset."""
from __future__ import annotations

import stat
import zipfile
from io import BytesIO

from infra.assets import build_asset


def entry_modes(data: bytes) -> dict[str, int]:
    with zipfile.ZipFile(BytesIO(data)) as zf:
        return {info.filename: info.external_attr >> 16 for info in zf.infolist()}


def test_file_modes_do_not_leak_into_the_zip(tmp_path):
    src = tmp_path / "h"
    (src / "lib").mkdir(parents=True)
    (src / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (src / "lib" / "util.py").write_text("X = 1\n")
    (src / "app.py").chmod(0o644)
    (src / "lib" / "util.py").chmod(0o644)
    plain = build_asset(tmp_path, "h")

    (src / "app.py").chmod(0o777)           # executable, group- and world-writable
    (src / "lib" / "util.py").chmod(0o600)  # private
    odd = build_asset(tmp_path, "h")

    assert odd.data == plain.data and odd.key == plain.key
    modes = entry_modes(odd.data)
    assert set(modes) == {"app.py", "lib/util.py"}
    for mode in modes.values():
        assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o644
