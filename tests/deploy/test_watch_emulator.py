"""watch --sync as users run it: a separate process, edited files, Ctrl-C.

Start it on a deployed development copy of catalog-api, save a handler (re-lint of what changed,
then the code is synced), save the config with a new environment variable (re-lint, sync of the
environment), then SIGINT: exit code 130.
"""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

from deploy_emulator import REPO, boto
from sync_stage import edit

CI = ("--yes", "--require-approval", "never", "--skip-check", "all")


class Lines:
    """The process's output, line by line, readable with a deadline."""

    def __init__(self, proc: subprocess.Popen):
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(proc,), daemon=True).start()

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed within {timeout} s; output:\n" + "".join(self.seen))


def test_watch_relints_and_syncs_each_save_then_stops_on_ctrl_c(catalog_deployed):
    config, tmp, endpoint = catalog_deployed
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(tmp / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
                "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, str(REPO / "generate.py"), "watch", "--config", str(config), "--out",
                             str(tmp / "out"), "--sync", "--endpoint-url", endpoint], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(proc)
    try:
        lines.wait_for("nothing to sync")
        lines.wait_for("watching")
        lam = boto(endpoint, "lambda")
        before = lam.get_function_configuration(FunctionName="catalog-dev-products")["CodeSha256"]

        edit(tmp / "handlers" / "products" / "app.py", "import re", "import re  # saved in an editor")
        lines.wait_for("changed: products/app.py")
        relint = lines.wait_for("re-linted")     # only a code hash changed in compute.json: nothing to lint
        assert "re-linted 0 changed template(s)" in relint and "0 finding(s)" in relint
        synced = lines.wait_for("synced catalog-dev/Compute > ProductsFunction (catalog-dev-products): code in")
        assert re.match(r"\[\d\d:\d\d:\d\d\] synced ", synced), synced   # stamped, as watch's own lines
        assert lam.get_function_configuration(FunctionName="catalog-dev-products")["CodeSha256"] != before

        edit(config, 'ENVIRONMENT = "dev"', 'ENVIRONMENT = "dev"\nWATCHED = "yes"')
        lines.wait_for("changed: catalog-api.toml")
        relint = lines.wait_for("re-linted")
        assert "re-linted 1 changed template(s)" in relint and "0 finding(s)" in relint
        lines.wait_for("synced catalog-dev/Compute > UsersFunction (catalog-dev-users): environment in")
        live = lam.get_function_configuration(FunctionName="catalog-dev-users")["Environment"]["Variables"]
        assert live["WATCHED"] == "yes"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        lines.wait_for("Error: Interrupted: watch stopped.", timeout=5)  # as every command ends on Ctrl-C
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in "".join(lines.seen)
