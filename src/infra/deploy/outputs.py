"""The stage's outputs, flattened: the root's and every nested stack's, by name.

Output names are unique across the whole system, so one flat map name -> value serves people
(`outputs`), scripts (`outputs KEY`, plain `Name<TAB>Value` lines when piped) and other commands
(`--json`, `--outputs-file`: one flat JSON object). Where a name appears twice (a root output
re-exporting a nested one), the root's value is kept; two different values for one name are
warned about and the first one (root, then nested stacks depth first) is kept.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path

from infra.deploy.session import Aws, aws_errors
from infra.deploy.stage import Options, open_stage
from infra.deploy.stack_state import StackInfo
from infra.deploy.stacks import describe_stack, nested_stacks
from infra.deploy.ui import Ui
from infra.errors import DeployError
from infra.render import write_output

TABLE_FRAME = 7  # a two-column rich table's borders and padding: │ a │ b │


def outputs_of(info: StackInfo | None) -> dict[str, str]:
    return info.output_values if info is not None else {}


def read_outputs(aws: Aws, ui: Ui, info: StackInfo, *, root_only: bool = False) -> dict[str, str]:
    """Root outputs, then (unless `root_only`) every nested stack's, flattened by name."""
    flat = outputs_of(info)
    if not root_only:
        cfn = aws.client("cloudformation")
        for nested in nested_stacks(cfn, info.stack_id, info.name):
            for name, value in outputs_of(describe_stack(cfn, nested.physical_id)).items():
                if name not in flat:
                    flat[name] = value
                elif flat[name] != value:
                    ui.warn(f"Output {name} of {nested.label} ({value}) differs from the one already read "
                            f"({flat[name]}); keeping the first.")
    return dict(sorted(flat.items()))


def show_outputs(ui: Ui, outputs: dict[str, str], *, title: str) -> None:
    """A table on a terminal; plain `Name<TAB>Value` lines anywhere else. A value (a URL, an ARN)
    is never wrapped inside a cell, where copying it would take the line breaks along: when the
    table does not fit the terminal, each output is one `Name  value` line instead."""
    if not outputs:
        ui.say(f"{title}: none.")
        return
    if not ui.live:
        for name, value in outputs.items():
            ui.raw(f"{name}\t{value}")
        return
    name_width = max(len("Output"), *(len(n) for n in outputs))
    value_width = max(len("Value"), *(len(v) for v in outputs.values()))
    if name_width + value_width + TABLE_FRAME > ui.out.width:
        ui.say(title, style="bold")
        for name, value in outputs.items():
            ui.say(f"{name:<{name_width}}  {value}")  # say() never wraps (soft_wrap)
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("Output", no_wrap=True)
    table.add_column("Value", no_wrap=True, overflow="ignore")
    for name, value in outputs.items():
        table.add_row(name, value)
    ui.show(table)


def write_outputs(path: Path, outputs: dict[str, str]) -> None:
    """The outputs as one flat JSON object (--outputs-file); "-" is standard output, and a link is
    written through."""
    try:
        write_output(path, (json.dumps(outputs, indent=2, sort_keys=True) + "\n").encode())
    except OSError as exc:
        raise DeployError(f"Could not write the outputs to {path}: {exc.strerror or exc}.") from None


def run_outputs(opts: Options, ui: Ui, *, key: str | None = None, as_json: bool = False,
                root_only: bool = False) -> dict[str, str]:
    """The outputs command."""
    build, aws = open_stage(opts, ui)
    with aws_errors(f"reading the outputs of {build.stack_name} in {aws.region}"):
        info = describe_stack(aws.client("cloudformation"), build.stack_name)
        if info is None:
            raise DeployError(f"Stack {build.stack_name} does not exist in {aws.region}; deploy it first.")
        outputs = read_outputs(aws, ui, info, root_only=root_only)
    if key is not None and key not in outputs:
        if root_only and key in read_outputs(aws, ui, info, root_only=False):
            raise DeployError(f"{key} is an output of one of {build.stack_name}'s nested stacks, not of the root: "
                              "drop --root-only.")
        close = difflib.get_close_matches(key, list(outputs), n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else f" It has: {', '.join(outputs) or 'none'}."
        raise DeployError(f"{build.stack_name} has no output {key}.{hint}")
    if opts.outputs_file:   # what the command selected: KEY alone, as --json gives it
        write_outputs(opts.outputs_file, outputs if key is None else {key: outputs[key]})
    if key is not None:
        # --json keeps its promise of JSON: the one output as an object.
        ui.raw(json.dumps({key: outputs[key]}, indent=2) if as_json else outputs[key])
    elif as_json:
        ui.raw(json.dumps(outputs, indent=2, sort_keys=True))
    else:
        show_outputs(ui, outputs, title=f"Outputs of {info.name}")
    return outputs
