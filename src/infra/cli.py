"""The click command line: the root group and the one registry of its commands.

Adding a command: define it with `@infra.command.command(NAME)` in a command module, list it in
that module's `COMMANDS`, and name it here in COMMANDS with its module. `infra.command.Group`
refuses anything else, so every command gets the same error handling and exit codes, and loads a
module only when one of its commands runs (or `--help` lists them all): `templates` starts without
importing the deploy, loop and sync code.
"""
from __future__ import annotations

import sys

import click

from infra.command import Group
from infra.errors import UserError

# Every command's name -> the module whose COMMANDS define it: the commands that generate and check
# files; the AWS-facing deploy commands; the everyday loop; sync and watch.
COMMANDS = {
    **dict.fromkeys(("templates", "lint", "schema"), "infra.generate_commands"),
    **dict.fromkeys(("package", "diff", "deploy", "destroy", "outputs", "drift", "preflight", "recover"),
                    "infra.deploy.commands"),
    **dict.fromkeys(("logs", "invoke", "serve", "generate-event", "emulator"), "infra.loop.commands"),
    **dict.fromkeys(("sync", "watch"), "infra.sync.commands"),
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def explain_aws(exc: Exception, command: str) -> UserError | None:
    """An AWS (botocore) error no command expected, as the deploy commands word them."""
    if "botocore" not in sys.modules:  # nothing botocore raises can exist yet
        return None
    from infra.deploy.session import aws_exceptions, explain

    return explain(exc, f"running {command}") if isinstance(exc, aws_exceptions()) else None


@click.group(cls=Group, explain=explain_aws, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Generate, check and deploy the serverless system as CloudFormation nested stacks."""


if __name__ == "__main__":  # pragma: no cover
    main()
