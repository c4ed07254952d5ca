"""The click command line: the root group and the one list of modules that hold its commands.

Adding a command: define it with `@infra.command.command(NAME)` in one of these modules and list
it in that module's `COMMANDS` (a new module goes in COMMAND_MODULES). `infra.command.Group`
refuses anything else, so every command gets the same error handling and exit codes.
"""
from __future__ import annotations

import importlib
import sys

import click

from infra.command import Group
from infra.errors import UserError

# Commands that generate and check files; the AWS-facing deploy commands; the everyday loop; sync and watch.
COMMAND_MODULES = ("infra.generate_commands", "infra.deploy.commands", "infra.loop.commands", "infra.sync.commands")


def explain_aws(exc: Exception, command: str) -> UserError | None:
    """An AWS (botocore) error no command expected, as the deploy commands word them."""
    if "botocore" not in sys.modules:  # nothing botocore raises can exist yet
        return None
    from infra.deploy.session import aws_exceptions, explain

    return explain(exc, f"running {command}") if isinstance(exc, aws_exceptions()) else None


@click.group(cls=Group, explain=explain_aws, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Generate, check and deploy the serverless system as CloudFormation nested stacks."""


for _module in COMMAND_MODULES:
    for _command in importlib.import_module(_module).COMMANDS:
        main.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
