"""What a build produces for one function: its zip and, optionally, the shared layer it uses."""
from __future__ import annotations


from infra.assets import Asset
from infra.records import record


@record
class Layer:
    """A Lambda layer holding the dependencies of one lockfile for one runtime and architecture."""

    logical_id: str
    name: str               # LayerName suffix (after <project>-<stage>-)
    asset: Asset
    runtime: str
    architecture: str
    lockfile: str           # repository-relative path
    unzipped: int
    packages: tuple[tuple[str, int], ...] = ()


@record
class Code:
    """What one function deploys: its zip (S3 key = content hash) and, optionally, its layer."""

    asset: Asset
    layer: Layer | None = None
    unzipped: int = 0
    packages: tuple[tuple[str, int], ...] = ()
