"""Show a `Diff` as one table: stack, action, logical id, type, replacement (and notes).

Replacements are red and spelled REPLACE; IAM changes (roles, policies, permissions, key
policies) are magenta and noted "IAM"; stateful types are noted, so a table or bucket being
replaced stands out even without colour (CI logs).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from infra.deploy.changes import Diff, Row

ACTION_STYLE = {"Add": "green", "Modify": "yellow", "Remove": "red", "Import": "cyan", "Dynamic": "magenta"}
REPLACEMENT_TEXT = {"True": "REPLACE", "Conditional": "REPLACE (conditional)", "False": "no", "?": "?", "": "-"}


def notes_for(row: Row, stateful_types: tuple[str, ...] | list[str]) -> str:
    notes = []
    if row.iam:
        notes.append("IAM")
    if row.resource_type in stateful_types:
        notes.append("stateful")
    if row.policy_action and row.policy_action not in ("Delete", "ReplaceAndDelete"):
        notes.append(row.policy_action.lower())
    if row.local:
        notes.append("local")
    if row.properties:
        shown = ", ".join(row.properties[:4]) + (", …" if len(row.properties) > 4 else "")
        notes.append(f"props: {shown}")
    return "; ".join(notes)


def summary(diff: Diff) -> str:
    counts = Counter(r.action for r in diff.rows if r.resource_type != "AWS::CloudFormation::Stack")
    replaced = sum(r.replaces for r in diff.rows)
    iam = sum(r.iam for r in diff.rows)
    parts = [f"{counts.get('Add', 0)} to add",
             f"{counts.get('Modify', 0)} to modify" + (f" ({replaced} replaced)" if replaced else ""),
             f"{counts.get('Remove', 0)} to remove"]
    for action, n in sorted(counts.items()):
        if action not in ("Add", "Modify", "Remove"):
            parts.append(f"{n} {action.lower()}")
    text = ", ".join(parts)
    if iam:
        text += f"; {iam} IAM change{'s' if iam != 1 else ''}"
    if diff.parameters:
        text += f"; {len(diff.parameters)} parameter change{'s' if len(diff.parameters) != 1 else ''}"
    if diff.tags:
        text += f"; {len(diff.tags)} tag change{'s' if len(diff.tags) != 1 else ''}"
    return text


def render(diff: Diff, title: str, stateful_types: tuple[str, ...] | list[str] = ()) -> Any:
    """A rich renderable for the whole diff (table, parameter and tag changes, notes, summary)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_lines=False)
    for col in ("Stack", "Action", "Logical ID", "Type", "Replacement", "Notes"):
        table.add_column(col, overflow="fold")
    for row in diff.rows:
        style = "bold red" if row.replaces else ("bold magenta" if row.iam else None)
        table.add_row(
            row.stack,
            Text(row.action, style=ACTION_STYLE.get(row.action, "")),
            row.logical_id,
            row.resource_type,
            Text(REPLACEMENT_TEXT.get(row.replacement, row.replacement),
                 style="bold red" if row.replaces else ""),
            notes_for(row, stateful_types),
            style=style,
        )
    if diff.rows:
        parts.append(table)
    else:
        parts.append(Text(f"{title}: CloudFormation lists no resource changes.", style="bold"))
    for heading, changes in (("Parameters", diff.parameters), ("Stack tags", diff.tags)):
        if changes:
            t = Table(title=heading, title_justify="left", box=box.SIMPLE_HEAD)
            for col in ("Key", "Deployed", "New"):
                t.add_column(col, overflow="fold")
            for key, old, new in changes:
                t.add_row(key, "-" if old is None else old, "-" if new is None else new)
            parts.append(t)
    for note in diff.notes:
        parts.append(Text(f"note: {note}", style="dim"))
    parts.append(Text(summary(diff), style="bold"))
    return Group(*parts)


def render_text(diff: Diff, title: str, stateful_types: tuple[str, ...] | list[str] = (), width: int = 160) -> str:
    """The diff as plain text (tests, logs)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=_Null(), color_system=None, force_terminal=False)
    console.print(render(diff, title, stateful_types))
    return console.export_text()


class _Null:
    def write(self, _: str) -> int:
        return 0

    def flush(self) -> None:
        pass
