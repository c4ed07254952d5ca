"""`generate.py emulator` (issue 18.21): the emulator the tests use, shipped as a command, so that
deploy, diff, outputs and destroy can be tried with no AWS account; its stand-in types are stated
in the README."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

import infra.deploy.manifest as manifest
from deploy_emulator import REPO, boto
from infra.emulator import free_port
from stage_fixture import write_stage


def start_emulator(port: int) -> tuple[subprocess.Popen, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # it needs no credentials
    proc = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "emulator", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                            start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while not any("generate.py sync " in line for line in lines):  # the banner's last line
        line = proc.stderr.readline()
        assert line or proc.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "the emulator did not start"
        lines.append(line)
    return proc, lines


def test_deploy_outputs_and_destroy_against_the_emulator_command(cli, aws_env, tmp_path, monkeypatch):
    port = free_port()
    proc, banner = start_emulator(port)
    url = f"http://127.0.0.1:{port}"
    try:
        assert banner[0].startswith(f"emulator: {url} (moto 5.2.5")
        assert any("export AWS_ACCESS_KEY_ID=testing" in line for line in banner)
        # sync refuses production stages: the banner's sync example is a development one
        assert any(f"sync    --config config/secure-api.toml --endpoint-url {url}" in line for line in banner)
        config = tmp_path / "shop.toml"
        config.write_text("# stands in for a stage config\n")
        monkeypatch.setattr(manifest, "_generate", lambda c, out: write_stage(out))
        args = ["--config", config, "--out", tmp_path / "out", "--endpoint-url", url]
        deployed = cli("deploy", *args, "--yes", "--require-approval", "never")
        assert deployed.exit_code == 0, deployed.output
        cfn = boto(url, "cloudformation")
        nested = [r for r in cfn.list_stack_resources(StackName="shop-dev")["StackResourceSummaries"]
                  if r["ResourceType"] == "AWS::CloudFormation::Stack"]
        assert len(nested) == 2 and cfn.describe_stacks(StackName="shop-dev")["Stacks"][0]["StackStatus"] == \
            "CREATE_COMPLETE"
        # A nested stack's output read through the root: what the emulator's patches add to moto.
        assert cli("outputs", *args, "TableName").stdout == "shop-dev-items\n"
        assert cli("diff", *args, "--fail").exit_code == 0
        assert cli("destroy", *args, "--yes").exit_code == 0
        assert [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == "shop-dev"
                and s["StackStatus"] != "DELETE_COMPLETE"] == []
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in its terminal
        _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 130, rest
    assert rest.strip().splitlines()[-1] == "Error: Interrupted: emulator stopped." and "Traceback" not in rest
    with pytest.raises(OSError):  # the server it started is gone too
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_log_that_cannot_be_written_is_a_bad_argument_said_before_the_server_starts(cli, tmp_path):
    result = cli("emulator", "--port", 0, "--log", tmp_path / "no-such-folder" / "x.log")
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"Error: cannot write the emulator's log to {tmp_path / 'no-such-folder' / 'x.log'}: No such file or "
        "directory; choose another --log."]


def test_a_port_in_use_is_one_line_and_exit_2(cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("emulator", "--port", port)
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        f"Error: cannot listen on 127.0.0.1:{port} (Address already in use); pass another --port."]


def test_the_readme_states_every_stand_in_type_the_shipped_configs_use(generated, custom_domain):
    """Resource types moto's CloudFormation lacks are inert placeholders in the emulator: the
    README lists exactly those the shipped configs (and the custom-domain example) use."""
    from infra.emulator.patches import stand_in  # imports moto's models; patches nothing here

    templates = [t for files in generated.values() for t in files.values()] + list(custom_domain.values())
    used = {r["Type"] for t in templates for r in t.get("Resources", {}).values()}
    stand_ins = sorted(t for t in used if stand_in(t))
    readme = (REPO / "README.md").read_text()
    section = readme.split("**Stand-in types**", 1)[1].split("\n\n", 1)[0]
    assert sorted(set(re.findall(r"`(AWS::[A-Za-z0-9]+::[A-Za-z0-9]+)`", section))) == stand_ins
