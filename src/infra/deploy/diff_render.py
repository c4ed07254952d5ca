"""Show a `Diff` for review: resource changes, property values, outputs, parameters, tags, and
separate tables of IAM statement and security group changes.

Replacements are red and spelled REPLACE; IAM changes (roles, policies, permissions, key
policies) are magenta and noted "IAM"; stateful types are noted, so a table or bucket being
replaced stands out even without colour (CI logs). Identifiers (stack, logical id, type) are
never cut or wrapped: when the resource table does not fit the width, each change is printed as
one line instead.
"""
from __future__ import annotations

import io
from collections import Counter
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from infra.deploy.resource_diff import Diff, Row
from infra.deploy.access_diff import Rule, SecurityChange, Statement

if TYPE_CHECKING:   # rich loads only when a diff is shown
    from rich.console import Group

ACTION_STYLE = {"Add": "green", "Modify": "yellow", "Remove": "red", "Import": "cyan", "Dynamic": "magenta"}
REPLACEMENT_TEXT = {"True": "REPLACE", "Conditional": "REPLACE (conditional)", "False": "no", "?": "?", "": "-"}
COLUMNS = ("Stack", "Action", "Logical ID", "Type", "Replacement", "Notes")
NOTES_MIN = 12   # narrowest useful Notes column before falling back to one line per change
KEPT = {"Retain": "kept in the account (Retain)", "RetainExceptOnCreate": "kept in the account (Retain)",
        "Snapshot": "snapshot kept", "ReplaceAndRetain": "old one kept (Retain)", "ReplaceAndSnapshot": "snapshot kept"}


def notes_for(row: Row, stateful_types: Collection[str]) -> str:
    notes = []
    if row.iam:
        notes.append("IAM")
    if row.resource_type in stateful_types:
        notes.append("stateful")
    if row.policy_action and row.policy_action not in ("Delete", "ReplaceAndDelete"):
        # A removal that keeps the resource: said plainly, since "Remove" alone reads as deleted.
        notes.append(KEPT.get(row.policy_action, row.policy_action.lower()))
    if row.local:
        notes.append("local")
    if row.identifier:
        notes.append(f"existing {row.identifier}")
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
            parts.append(f"{n} to {action.lower()}")
    text = ", ".join(parts)
    # Two different units, each named: resources whose permissions change (a role, a policy, a
    # key or bucket policy), and the IAM statements or security group rules that widen access.
    if iam:
        text += f"; permissions change on {iam} resource{'s' if iam != 1 else ''}"
    broad = len(diff.broadening)
    if broad:
        text += f"; {broad} change{'s' if broad != 1 else ''} marked '!' widen{'s' if broad == 1 else ''} access"
    for label, items in (("parameter", diff.parameters), ("output", diff.outputs), ("tag", diff.tags)):
        if items:
            text += f"; {len(items)} {label} change{'s' if len(items) != 1 else ''}"
    return text


class ResourceChanges:
    """The resource table, or one line per change when identifiers would not fit the width."""

    def __init__(self, diff: Diff, title: str, stateful_types: Collection[str]):
        self.diff, self.title, self.stateful_types = diff, title, stateful_types

    def cells(self, row: Row) -> tuple[str, str, str, str, str, str]:
        return (row.stack, row.action, row.logical_id, row.resource_type,
                REPLACEMENT_TEXT.get(row.replacement, row.replacement), notes_for(row, self.stateful_types))

    def notes_width(self) -> int:
        """The Notes column wraps between words, never inside one (names appear in notes too); it is
        no wider than its longest word or heading, so the table is no wider than what it holds."""
        words = [w for row in self.diff.rows for w in self.cells(row)[-1].split()]
        return max([len(COLUMNS[-1]), *(len(w) for w in words)])

    def needed_width(self) -> int:
        """Width of the table with every identifier column unbroken and a narrow Notes column."""
        widths = [len(c) for c in COLUMNS[:-1]]
        for row in self.diff.rows:
            for i, cell in enumerate(self.cells(row)[:-1]):
                widths[i] = max(widths[i], len(cell))
        return sum(widths) + max(NOTES_MIN, self.notes_width()) + 2 * len(COLUMNS) + 2

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        if self.needed_width() > options.max_width:
            yield Text(self.title, style="bold")
            for row in self.diff.rows:
                stack, action, lid, rtype, repl, notes = self.cells(row)
                line = Text(f"  {action:<7}", style=ACTION_STYLE.get(action, ""))
                line.append(f"{stack} > {lid} ({rtype})", style="bold red" if row.replaces else (
                    "bold magenta" if row.iam else ""))
                line.append(f"  replacement: {repl}" + (f"; {notes}" if notes else ""))
                yield line
            return
        table = Table(title=self.title, title_justify="left", box=box.SIMPLE_HEAD, show_lines=False)
        for col in COLUMNS:
            if col == "Notes":
                table.add_column(col, overflow="fold", min_width=self.notes_width())
            else:
                table.add_column(col, no_wrap=True, overflow="ignore")
        for row in self.diff.rows:
            style = "bold red" if row.replaces else ("bold magenta" if row.iam else None)
            stack, action, lid, rtype, repl, notes = self.cells(row)
            table.add_row(stack, Text(action, style=ACTION_STYLE.get(action, "")), lid, rtype,
                          Text(repl, style="bold red" if row.replaces else ""), notes, style=style)
        yield table


def property_lines(diff: Diff) -> list[Any]:
    """`stack > id (type)` then `path: deployed -> new` for every modified resource with values."""
    from rich.text import Text

    lines: list[Any] = []
    for row in diff.rows:
        if not row.values:
            continue
        lines.append(Text(f"  {row.stack} > {row.logical_id} ({row.resource_type})", style="bold"))
        for path, old, new in row.values:
            if path.startswith("("):
                lines.append(Text(f"      {path}", style="dim"))
            else:
                lines.append(Text(f"      {path}: {old} -> {new}"))
    if lines:
        lines.insert(0, Text("Property changes (deployed -> new)", style="bold"))
    return lines


def _who(change: SecurityChange) -> str:
    return f"{change.stack} > {change.resource}"


class SecurityTable:
    """IAM statement or security group changes: a table whose cells are never broken inside a
    value (an action, a principal, an ARN), or, when that does not fit, one block per change."""

    def __init__(self, title: str, columns: tuple[str, ...], rows: Sequence[tuple[SecurityChange, tuple[str, ...]]]):
        self.title, self.columns, self.rows = title, columns, rows

    def needed_width(self) -> int:
        widths = [len(c) for c in ("", "Held by", *self.columns)]
        for change, cells in self.rows:
            for i, cell in enumerate((change.sign + "!", _who(change), *cells)):
                widths[i] = max(widths[i], *(len(line) for line in (cell or "-").splitlines()))
        return sum(widths) + 3 * len(widths) + 2

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        if self.needed_width() > options.max_width:
            yield Text(self.title, style="bold")
            for change, cells in self.rows:
                mark = change.sign + ("!" if change.broadening else "")
                yield Text(f"  {mark:<3}{_who(change)}", style="red" if change.broadening else "")
                for col, cell in zip(self.columns, cells):
                    for i, line in enumerate((cell or "").splitlines()):
                        yield Text(f"       {(col.lower() + ':') if i == 0 else '':<12}{line}")
            return
        t = Table(title=self.title, title_justify="left", box=box.SIMPLE_HEAD, show_lines=True)
        t.add_column("", no_wrap=True)
        t.add_column("Held by", no_wrap=True, overflow="ignore")
        for col in self.columns:
            t.add_column(col, no_wrap=True, overflow="ignore")
        for change, cells in self.rows:
            style = "red" if change.broadening else ("green" if change.sign == "-" else None)
            t.add_row(change.sign + ("!" if change.broadening else ""), _who(change), *cells, style=style)
        yield t


def statement_cells(change: SecurityChange) -> tuple[str, ...]:
    if isinstance(change.item, Statement):
        st = change.item
        return (st.effect, "\n".join(st.principals), ("NOT " if st.not_actions else "") + "\n".join(st.actions),
                ("NOT " if st.not_resources else "") + "\n".join(st.resources), st.conditions)
    return ("Allow", "", f"managed policy {change.item}", "", "")


def security_tables(diff: Diff) -> list[Any]:
    """The IAM statement changes table and the security group changes table (when any)."""
    parts: list[Any] = []
    iam = [(c, statement_cells(c)) for c in diff.security if c.kind == "iam"]
    if iam:
        parts.append(SecurityTable("IAM statement changes ('+' added, '-' removed; '!' widens access)",
                                   ("Effect", "Principal", "Action", "Resource", "Condition"), iam))
    rules = [(c, (c.item.direction, c.item.protocol, c.item.ports, c.item.peer, c.item.description))
             for c in diff.security if isinstance(c.item, Rule)]
    if rules:
        parts.append(SecurityTable("Security group changes ('+' added, '-' removed; '!' widens access)",
                                   ("Direction", "Protocol", "Ports", "Peer", "Description"), rules))
    return parts


def render(diff: Diff, title: str, stateful_types: Collection[str] = ()) -> Group:
    """A rich renderable for the whole diff."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    if diff.rows:
        parts.append(ResourceChanges(diff, title, stateful_types))
    else:
        parts.append(Text(f"{title}: CloudFormation lists no resource changes.", style="bold"))
    parts.extend(property_lines(diff))
    if diff.outputs:
        t = Table(title="Outputs", title_justify="left", box=box.SIMPLE_HEAD)
        t.add_column("Stack", no_wrap=True, overflow="ignore")
        t.add_column("Output", no_wrap=True, overflow="ignore")
        t.add_column("Deployed", overflow="fold")
        t.add_column("New", overflow="fold")
        for stack, name, old, new in diff.outputs:
            t.add_row(stack, name, old, new)
        parts.append(t)
    for heading, changes in (("Parameters", diff.parameters), ("Stack tags", diff.tags)):
        if changes:
            t = Table(title=heading, title_justify="left", box=box.SIMPLE_HEAD)
            t.add_column("Key", no_wrap=True, overflow="ignore")
            t.add_column("Deployed", overflow="fold")
            t.add_column("New", overflow="fold")
            for key, deployed, wanted in changes:
                t.add_row(key, "-" if deployed is None else deployed, "-" if wanted is None else wanted)
            parts.append(t)
    parts.extend(security_tables(diff))
    for note in diff.notes:
        parts.append(Text(f"note: {note}", style="dim"))
    parts.append(Text(summary(diff), style="bold"))
    return Group(*parts)


def render_text(diff: Diff, title: str, stateful_types: Collection[str] = (), width: int = 160) -> str:
    """The diff as plain text (tests, logs)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None, force_terminal=False)
    console.print(render(diff, title, stateful_types))
    return console.export_text()
