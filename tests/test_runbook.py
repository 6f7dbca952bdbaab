"""The README's runbook, run command by command against lab sites, so it stays in step with the project.

Every ```sh block of the runbook (README "## Runbook" up to the reference) is executed line by line with
bash in a copy of the project, with the example site's names mapped to a lab:
  - the example hosts (`engine.example.com`, `she-host.example.com`, ...) reach the lab's SSH hosts through
    an ssh_config (ssh and ssh-keygen are wrapped so they use the test's ~/.ssh, never the real one),
  - the backend `/srv/pulumi-state` is a temporary folder, the passphrase comes from the environment,
  - "fill in the hosts and settings" after the `cp` of the example is done by the test: the lab's settings,
  - prompted secrets get their answers on stdin,
  - step 6 converts host2 later (the lab has no host3): the stack starts with host1 only.
The happy path (steps 1 to 7) runs on one lab; the recovery path (step 8) on a second lab whose deployment
fails for good (the deploy fails on the deployment host), after which `pulumi destroy` must bring the original Engine back.
"""

import json
import os
import re
import shutil
import stat
import subprocess

import pytest
import yaml

from lab.testing import LabProcess
from tests.harness import (
    PROJECT_DIR,
    PROJECT_NAME,
    block,
    copy_project,
    migration_settings,
    pinned_ports_site,
    runbook_blocks,
)

README = PROJECT_DIR / "README.md"
ADMIN_PASSWORD = "lab-admin-password"
ROOT_PASSWORD = "runbook-root-Pa55"
PULUMI_BIN = shutil.which("pulumi")
EXAMPLE_HOSTS = {
    "engine.example.com": "engine",
    "storage.example.com": "storage",
    "she-host.example.com": "deploy",
    "host1.example.com": "host1",
    "host2.example.com": "host2",
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def updates(history: str) -> list[tuple[str, str]]:
    """(kind, status) of each entry of `pulumi stack history`, newest first."""
    return re.findall(r"^UpdateKind: (\S+)\s*\nStatus: (\S+)", ANSI.sub("", history), re.M)


class Site:
    """A lab, a project copy and a home folder in which the runbook's commands run as an administrator's would."""

    def __init__(self, root, lab, ports, client_key, admin_password):
        self.root, self.lab, self.ports, self.admin_password = root, lab, ports, admin_password
        self.project = copy_project(root / "project")
        shutil.copy(PROJECT_DIR / "run", self.project / "run")
        (self.project / "scripts").mkdir()
        # ./run's setup is tested by running the suite itself; here it only has to put the venv on PATH.
        (self.project / "scripts" / "setup.sh").write_text('export PATH="$PROJECT_DIR/.venv/bin:$PATH"\n')
        shutil.copy(PROJECT_DIR / "stacks" / "Pulumi.example.yaml", self.project / "stacks" / "Pulumi.example.yaml")
        self.home = root / "home"
        ssh_dir = self.home / ".ssh"
        ssh_dir.mkdir(parents=True)
        shutil.copy(client_key[0], ssh_dir / "id_ed25519")
        (ssh_dir / "id_ed25519").chmod(0o600)
        shutil.copy(lab.known_hosts, ssh_dir / "known_hosts")
        config = "".join(
            f"Host {name}\n  HostName 127.0.0.1\n  Port {lab.port(host)}\n  User root\n  IdentityFile {ssh_dir / 'id_ed25519'}\n"
            f"  IdentitiesOnly yes\n  UserKnownHostsFile {ssh_dir / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
            for name, host in EXAMPLE_HOSTS.items()
        )
        (ssh_dir / "config").write_text(config)
        wrappers = root / "bin"
        wrappers.mkdir()
        self._wrapper(wrappers / "ssh", f'exec /usr/bin/ssh -F {ssh_dir / "config"} "$@"')
        self._wrapper(wrappers / "ssh-keygen", f'exec /usr/bin/ssh-keygen "$@" -f {ssh_dir / "known_hosts"}')
        self.state = root / "state"
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "PULUMI_CONFIG_PASSPHRASE": "runbook-passphrase",
            "PULUMI_HOME": str(root / "pulumi-home"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PATH": f"{wrappers}:{os.path.dirname(PULUMI_BIN)}:{os.environ['PATH']}",
        }
        self.env.pop("PULUMI_BACKEND_URL", None)
        self.substitutions = {"/srv/pulumi-state": str(self.state)}

    @staticmethod
    def _wrapper(path, line):
        path.write_text(f"#!/bin/sh\n{line}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    def settings(self) -> dict:
        """What the administrator fills in: the lab's hosts, with host2 left for later (step 6)."""
        settings = migration_settings(self.lab, self.ports)
        settings["ssh"]["knownHostsFile"] = "~/.ssh/known_hosts"
        del settings["hosts"]["host2"]
        settings["multipathOverrides"] = [o for o in settings["multipathOverrides"] if o["host"] != "host2"]
        settings["hostedEngineNodes"] = ["host1"]
        return settings

    def fill_in(self, stack_file):
        data = yaml.safe_load(stack_file.read_text())
        data["config"] = {f"{PROJECT_NAME}:{k}": v for k, v in self.settings().items()}
        stack_file.write_text(yaml.safe_dump(data, sort_keys=False))

    def run(self, line: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        for old, new in self.substitutions.items():
            line = line.replace(old, new)
        answers = {"--secret adminPassword": self.admin_password, "--secret engineRootPassword": ROOT_PASSWORD}
        stdin = next((value + "\n" for key, value in answers.items() if key in line and "<" not in line), "")
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", line],
            cwd=self.project,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert expect is None or done.returncode == expect, (
            f"{line}\nexit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        if line.startswith("export "):  # each line is its own shell; the exports carry over, as in one terminal
            name, value = line.split("#")[0].split()[1].split("=", 1)
            self.env[name] = value
        if line.startswith("cp stacks/Pulumi.example.yaml"):
            self.fill_in(self.project / line.split()[2])
        return done

    def run_block(self, number: int) -> dict[str, subprocess.CompletedProcess]:
        return {line: self.run(line) for line in block(number)}


@pytest.fixture(scope="module")
def labs(tmp_path_factory, client_key):
    started = []
    try:
        for name in ("migrated", "recovered"):
            site, ports = pinned_ports_site(tmp_path_factory.mktemp(f"site-{name}") / "site.yaml")
            lab = LabProcess(
                tmp_path_factory.mktemp(f"lab-{name}"),
                site=site,
                authorized_keys=[client_key[1]],
                client_key=client_key[0],
            )
            lab.start()
            lab.ports = ports
            started.append(lab)
        yield started
    finally:
        for lab in started:
            lab.stop()


def test_the_runbook_covers_the_procedure_in_order():
    headings = [heading for heading, _ in runbook_blocks()]
    assert [h.split(".")[0] for h in headings] == [str(n) for n in range(1, 10)], headings
    commands = "\n".join(line for _, lines in runbook_blocks() for line in lines)
    for needed in (
        "pulumi stack init",
        "pulumi config set --stack site-a --secret",
        "pulumi preview",
        "pulumi up",
        "hosted-engine --vm-status",
        "hostedEngineNodes",
        "pulumi destroy",
        "./run sites preview",
        "./run report",
    ):
        assert needed in commands, needed


def test_every_run_subcommand_in_the_readme_exists():
    run_script = (PROJECT_DIR / "run").read_text()
    for sub in set(re.findall(r"\./run ([a-z-]+)", README.read_text())):
        assert re.search(rf"^    {re.escape(sub)}\)", run_script, re.M), f"README uses ./run {sub}, which run lacks"


def test_the_runbook_migrates_a_site_from_install_to_decommissioning(labs, tmp_path, client_key):
    site = Site(tmp_path, labs[0], labs[0].ports, client_key, ADMIN_PASSWORD)
    site.substitutions.update(
        {
            "host3.example.com": "127.0.0.1",
            "hosts.host3.port 22": f"hosts.host2.port {labs[0].port('host2')}",
            "hosts.host3": "hosts.host2",
            "'hostedEngineNodes[2]' host3": "'hostedEngineNodes[1]' host2",
        }
    )
    prerequisites = site.run_block(1)
    assert "cannot log in" not in "".join(r.stdout for r in prerequisites.values())

    created = site.run_block(2)
    listing = created[
        "pulumi config --stack site-a                                     # secrets show as [secret]"
    ].stdout
    assert listing.count("[secret]") == 3 and ADMIN_PASSWORD not in listing

    preview, readiness, plan = site.run_block(3).values()
    assert "+ 13 to create" in preview.stdout, (
        preview.stdout
    )  # the stack, the component, 9 steps, the drill and the evidence
    row = readiness.stdout.splitlines()[1].split()
    assert row[:3] == ["site-a", "yes", "0"] and row[-1] == "13", readiness.stdout
    assert "hosted-engine-node-host1" in (site.project / "docs" / "site-a-plan.svg").read_text()

    up, history = site.run_block(4).values()
    assert "hosted-engine" in (site.project / "up-site-a.log").read_text()
    assert updates(history.stdout) == [("update", "succeeded")], history.stdout  # the runbook's `up`, and only it

    vm_status, engine_url, _, _ = site.run_block(5).values()
    assert "Score" in vm_status.stdout and "3400" in vm_status.stdout, vm_status.stdout
    assert engine_url.stdout.strip() == "https://engine.lab.example/ovirt-engine/"
    report = (site.project / "reports" / "site-a.md").read_text()
    assert "hosted-engine-node-host1" in report and (site.project / "reports" / "site-a.html").is_file()
    assert ADMIN_PASSWORD not in report and ROOT_PASSWORD not in report

    converted = site.run_block(6)
    later_preview = [r for line, r in converted.items() if line.startswith("pulumi preview")][0]
    assert "1 to create" in later_preview.stdout and "hosted-engine-node-host2" in later_preview.stdout, (
        later_preview.stdout
    )
    status = site.run("ssh root@she-host.example.com hosted-engine --vm-status --json").stdout
    assert len(re.findall(r'"score": 3400', status)) == 3, status

    handover, _ = site.run_block(7).values()
    assert json.loads(handover.stdout) == {"address": "192.0.2.10", "originalEngine": "powered-off"}, handover.stdout
    assert (site.project / "site-a-state.json").is_file()


def test_the_recovery_path_brings_the_original_engine_back(labs, tmp_path, client_key):
    site = Site(tmp_path, labs[1], labs[1].ports, client_key, ADMIN_PASSWORD)
    labs[1].inject_fault(
        "command",
        host="deploy",
        match="hosted-engine --deploy",
        status=1,
        times="always",
        stderr="[ ERROR ] Failed to execute stage 'Closing up': storage unreachable",
    )
    site.run_block(2)
    failed = site.run(block(4)[0], expect=1)
    assert "hosted-engine" in failed.stdout + failed.stderr
    assert labs[1].host_state("engine")["services"]["ovirt-engine"]["active"] is False
    listing, console, destroy, active = block(8)
    listed = site.run(listing)
    assert "EngineBackup" in listed.stdout and "HostedEngineDeployment" not in listed.stdout
    assert "AddressHandover" in listed.stdout
    refused = site.run(destroy, expect=None)  # before the machine is on again: refused, nothing changed
    assert refused.returncode != 0 and "does not hold 192.0.2.10 again" in refused.stdout + refused.stderr
    assert console.startswith("# power engine.example.com on")
    labs[1].inject_fault("power-on", host="engine")  # what that line asks of the administrator
    site.run(destroy)
    assert site.run(active).stdout.strip() == "active"
