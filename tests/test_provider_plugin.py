"""The provider plugin (providers/plugin.py, named in Pulumi.yaml) serves more operations at once
than the Python SDK's four gRPC workers: eight multipath drop-ins on eight hosts are applied side
by side, as `pulumi up`'s default parallelism (8) asks."""

import os
import signal
import subprocess
import time
from concurrent import futures
from pathlib import Path

import pytest

from bench import site_gen
from lab.testing import LabProcess
from providers import plugin
from tests.harness import ProjectStack, copy_project, lab_config

HOSTS = 8
RELOAD = "systemctl reload multipathd"


def test_the_server_gets_a_wider_pool_and_the_sdks_pool_is_shut_down():
    made = {}

    def grpc_server(thread_pool, *args, **kwargs):
        made.update(pool=thread_pool, args=args, kwargs=kwargs)
        return "server"

    sdk_pool = futures.ThreadPoolExecutor(max_workers=4)
    assert plugin._with_workers(grpc_server)(sdk_pool, options=[("x", 1)]) == "server"
    assert made["pool"]._max_workers == plugin.WORKERS > 8
    assert made["kwargs"] == {"options": [("x", 1)]}
    with pytest.raises(RuntimeError):
        sdk_pool.submit(print)  # shut down: it would only hold idle threads


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_plugin_exits_when_the_cli_that_started_it_is_killed(tmp_path):
    project = copy_project(tmp_path / "project")
    cli = subprocess.Popen(
        ["sh", "-c", "./tools/provider-plugin/pulumi-resource-pulumi-python & echo $!; wait"],
        cwd=project,
        stdout=subprocess.PIPE,
        text=True,
    )
    plugin_pid = int(cli.stdout.readline())
    assert cli.stdout.readline().strip().isdigit()  # its gRPC port: it is serving
    os.kill(cli.pid, signal.SIGKILL)
    cli.wait()
    deadline = time.monotonic() + 30
    while running(plugin_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(plugin_pid)


def most_at_once(lab, command: str) -> int:
    """How many runs of `command` were in progress together: each starts when its `slow` fault takes
    effect (logged then) and ends when the command is logged."""
    starts = [e["time"] for e in lab.faults() if command in e["command"]]
    ends = [e["time"] for e in lab.commands() if e["kind"] == "exec" and e["command"] == command]
    events = sorted([(t, 1) for t in starts] + [(t, -1) for t in ends])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_eight_hosts_are_prepared_side_by_side(tmp_path, client_key):
    site = site_gen.write_site(tmp_path / "site", HOSTS, 1, 0, {})
    with LabProcess(tmp_path / "lab", site=site, authorized_keys=[client_key[1]], client_key=client_key[0]) as lab:
        lab.inject_fault("slow", host="*", match=f"^{RELOAD}$", seconds=2)
        stack = ProjectStack(tmp_path / "project")
        stack.configure(
            {
                **lab_config(lab),
                "multipathOverrides": [
                    {"host": name, "file": "90-bench-san.conf", "settings": site_gen.OVERRIDE}
                    for name in site_gen.hypervisors(HOSTS)
                ],
            },
            {"sshPrivateKey": client_key[0].read_text()},
        )
        assert stack.up().summary.result == "succeeded"
        assert len([e for e in lab.faults() if RELOAD in e["command"]]) == HOSTS
        assert most_at_once(lab, RELOAD) == HOSTS
