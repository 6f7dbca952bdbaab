"""A killed `pulumi up` leaves no process behind: the language host (tools/pulumi/langhost), the
program it runs and the provider plugin all exit with the CLI, so none of them can go on changing
hosts beside the next run.

`up` of a small stack is SIGKILLed while the lab holds one of its commands; every process of the
run is found by its cwd or command line pointing at the test's own copy of the project.
"""

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.harness import fault_took_effect

EXPORT = {"host": "storage", "path": "/exports/data", "clients": "*", "options": "rw,sync,no_subtree_check"}
GONE_WITHIN = 5  # seconds; the watchers poll every second or faster


def run_processes(work_dir: Path) -> dict[int, list[str]]:
    """Live processes whose cwd or command line is inside work_dir: pid -> command line."""

    def inside(path):
        return path == str(work_dir) or path.startswith(f"{work_dir}/")

    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone meanwhile, or a zombie
            continue
        if inside(cwd) or any(inside(a) for a in argv):
            found[int(entry.name)] = argv
    return found


def role(argv: list[str]) -> str:
    if any(a.endswith("/pulumi-language-python-exec") for a in argv):
        return "program"
    if "providers.plugin" in argv:
        return "provider plugin"
    return Path(argv[0]).name if argv else "?"


@pytest.fixture()
def stack(lab_stack):
    lab_stack.configure(
        {**lab_stack.lab_settings, "storageExports": [EXPORT]}, {"sshPrivateKey": lab_stack.private_key}
    )
    return lab_stack


def test_the_language_host_the_program_and_the_plugin_exit_with_a_killed_cli(stack, lab):
    work_dir = stack.work_dir
    lab.inject_fault("slow", host="storage", match="^chown", seconds=10, times=1)
    at_kill = {}

    def slow_step_under_way(output):
        if not fault_took_effect(lab, "storage", "chown")(output):
            return False
        at_kill.update(run_processes(work_dir))
        return True

    try:
        stack.up_killed_when(slow_step_under_way)
        killed = time.monotonic()
        roles = sorted(role(argv) for argv in at_kill.values())
        assert {"pulumi", "pulumi-language-python", "program", "provider plugin"} <= set(roles), roles
        while run_processes(work_dir) and time.monotonic() < killed + GONE_WITHIN:
            time.sleep(0.1)
        left = {pid: role(argv) for pid, argv in run_processes(work_dir).items()}
        assert left == {}, f"still running {GONE_WITHIN}s after the CLI was killed: {left}"
        print(f"every process of the run gone {time.monotonic() - killed:.1f}s after the kill: {roles}")
    finally:
        for pid in run_processes(work_dir):  # what a failure left, so it cannot hold the stack
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        stack.cli("cancel", "--yes")
