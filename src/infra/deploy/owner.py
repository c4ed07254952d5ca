"""Which config file a stage's stacks belong to (the `serverless-infra:config` stack tag).

Two config files with the same project and stage name the same stacks. Every deploy tags the
root and the us-east-1 stack with the config that generated them; a deploy or destroy from another
file is refused unless `--force` (a diff warns). Stacks deployed before the tag existed carry none
and are adopted by the next deploy.
"""
from __future__ import annotations

import re
from pathlib import Path

from infra.config import REPO_ROOT
from infra.config.schema import CONFIG_TAG
from infra.deploy.stack_state import StackInfo
from infra.deploy.ui import Ui
from infra.errors import UsageError

# Tag values allow letters, digits, spaces and _ . : / = + - @ (CloudFormation stack tags).
TAG_UNSAFE = re.compile(r"[^\w .:/=+\-@]")


def config_identity(config: Path, repo_root: Path | None = None) -> str:
    """The config's path relative to the repository (the same on every machine and CI runner), or
    its file name when it lives elsewhere."""
    if repo_root is None:
        repo_root = REPO_ROOT
    path = Path(config).resolve()
    try:
        shown = path.relative_to(Path(repo_root).resolve()).as_posix()
    except ValueError:
        shown = path.name
    return TAG_UNSAFE.sub("_", shown)[:256]


def check_owner(info: StackInfo | None, identity: str, ui: Ui, *, force: bool, action: str,
                refuse: bool = True) -> None:
    """Refuse (exit 2) to `action` a stack another config file deployed, unless `force`.

    `refuse=False` (diff) only warns.
    """
    if info is None:
        return
    other = info.tags.get(CONFIG_TAG)
    if not other or other == identity:
        return
    text = (f"{info.name} was deployed from the config file {other} (stack tag {CONFIG_TAG}), not from "
            f"{identity}: two configs with the same [project] name and stage drive the same stack.")
    if force or not refuse:
        ui.warn(text + (f" --force: {action} anyway." if force else ""))
        return
    raise UsageError(f"{text} Give this config its own project name or stage, or pass --force to {action} "
                     f"{info.name} from {identity}.")
