"""Lambda's deployment package limits, checked on every function before anything is written.

"Lambda quotas": a .zip deployment package is at most 250 MB unzipped, the function's layers
included (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). The 50 MB
zipped quota is for a zip "uploaded directly to Lambda. Use Amazon S3 for larger files"
(CodeSizeZipped, https://docs.aws.amazon.com/lambda/latest/api/API_AccountLimit.html): every
template here names its zips in S3 (and `sync` uploads a zip over it through S3), so it limits
nothing here.
"""
from __future__ import annotations

from infra.bundle.code import Code
from infra.errors import ConfigError

MAX_UNZIPPED = 250 * 1024 * 1024
SHOWN = 5


def mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def largest(packages: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{name} {mb(size)}" for name, size in packages[:SHOWN]) or "none"


def check(file: str, key: str, code: Code) -> None:
    """ConfigError (exit 2) naming the function and its largest packages when over the limit."""
    total = code.unzipped + (code.layer.unzipped if code.layer else 0)
    if total > MAX_UNZIPPED:
        packages = tuple(sorted([*code.packages, *(code.layer.packages if code.layer else ())],
                                key=lambda kv: (-kv[1], kv[0])))
        raise ConfigError(file, key, f"unzipped, its code{' and its layer' if code.layer else ''} take {mb(total)}; "
                          f"Lambda allows at most {mb(MAX_UNZIPPED)} unzipped, layers included. Largest packages: "
                          f"{largest(packages)}.",
                          "drop or replace the largest dependencies (or move them to a container image).")
