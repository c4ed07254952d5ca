"""What the CLI tests read from a click result, and a directory nothing can be written to."""
from __future__ import annotations

import os
from pathlib import Path


def one_line_error(result) -> str:
    """The failed command's only line on stderr, `Error: ...`; no traceback anywhere."""
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def error_line(result) -> str:
    """The one `Error: ...` line of a failed command that may also have printed warnings."""
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def read_only_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write to (root writes anywhere but in /proc/sys)."""
    if os.geteuid() == 0:
        return Path("/proc/sys")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked
