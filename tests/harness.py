"""Runs this Pulumi project through the real engine (the automation API driving the pulumi CLI).

Each test stack lives in a copy of the project in a temporary folder, with its own file backend, so
tests never touch the repository's stacks/ or state. The automation API's LocalWorkspace ignores
`stackConfigDir` when it reads stack files itself, so config is only ever set through the CLI
(`pulumi config set-all`), which writes stacks/Pulumi.<stack>.yaml as the real project does.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest
import yaml
from pulumi import automation as auto

from lab.testing import run
from providers.ssh import Host, RemoteCommandError, Result, is_read

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT_NAME = "ovirt-she-migration"
# The program and its resources, and the command-line tools around them (cli/: report, plan, sites).
PROGRAM = ("Pulumi.yaml", "__main__.py", "providers", "components", "cli", "tools/provider-plugin")
PASSPHRASE = "test-passphrase"
RUNBOOK_STACK = "site-a"  # the stack the README's runbook names
# What the provider wrote before the full answer file: the lab's deploy must refuse it, and so must the
# question table it follows.
OLD_ANSWER_FILE = """[environment:default]
OVEHOSTED_CORE/deployProceed=bool:True
OVEHOSTED_CORE/pauseonRestore=bool:False
OVEHOSTED_CORE/renewPKIonRestore=bool:False
OVEHOSTED_ENGINE/adminPassword=str:secret
OVEHOSTED_ENGINE/clusterName=str:Default
OVEHOSTED_NETWORK/bridgeIf=str:eth0
OVEHOSTED_NETWORK/fqdn=str:engine.example.com
OVEHOSTED_NETWORK/gateway=str:192.0.2.1
OVEHOSTED_NOTIF/destEmail=str:root@localhost
OVEHOSTED_NOTIF/smtpPort=str:25
OVEHOSTED_NOTIF/smtpServer=str:localhost
OVEHOSTED_NOTIF/sourceEmail=str:root@localhost
OVEHOSTED_STORAGE/domainType=str:nfs
OVEHOSTED_STORAGE/imgSizeGB=str:51
OVEHOSTED_STORAGE/mntOptions=str:
OVEHOSTED_STORAGE/nfsVersion=str:auto
OVEHOSTED_STORAGE/storageDomainConnection=str:storage.example.com:/exports/he
OVEHOSTED_VM/cloudinitRootPwd=str:secret
OVEHOSTED_VM/cloudinitVMETCHOSTS=bool:True
OVEHOSTED_VM/rootSshAccess=str:yes
OVEHOSTED_VM/rootSshPubkey=str:ssh-ed25519 AAAA
OVEHOSTED_VM/vmMemSizeMB=int:16384
OVEHOSTED_VM/vmVCpus=int:4
"""
UNIT_CASES = PROJECT_DIR / "tests" / "unit" / "cases"


def cases(kind: str) -> list:
    """The unit tier's scripted cases of one provider (tests/unit/cases/<kind>/*.json: facts in, commands
    out), as pytest params named by their files."""
    files = sorted((UNIT_CASES / kind).glob("*.json"))
    assert files, f"no cases in {UNIT_CASES / kind}"
    return [pytest.param(json.loads(file.read_text()), id=file.stem) for file in files]


def as_lists(steps) -> list:
    """Planned steps (tuples) as JSON cases write them (lists)."""
    return [list(step) for step in steps]


class ScriptedHost:
    """What a providers.ssh.Connection answers, scripted: each command line to (exit status, stdout), and its
    files (path to bytes) for SFTP. The commands run are kept in order, so a unit test sees which reads a
    decision took; a command that is not scripted fails the test."""

    def __init__(self, name: str, answers: dict[str, tuple[int, str]], files: dict[str, bytes] | None = None):
        self.host = Host(name, "192.0.2.1", 22, "root", "")
        self.answers, self.ran, self.files = answers, [], dict(files or {})

    def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.ran.append(f"write {path}")
        self.files[path] = data

    def run(self, *argv: str, check: bool = True, **_options) -> Result:
        command = shlex.join(argv)
        self.ran.append(command)
        assert command in self.answers, f"unscripted command on {self.host.name}: {command}"
        status, stdout = self.answers[command]
        result = Result(status, stdout, "")
        if check and status:
            raise RemoteCommandError(self.host.name, command, result)
        return result


def copy_project(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in PROGRAM:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, target / name)
    (target / "stacks").mkdir(exist_ok=True)
    (target / ".venv").symlink_to(PROJECT_DIR / ".venv")
    return target


class ProjectStack:
    """A stack of a project copy, with the lab's connection settings and the test's secrets."""

    def __init__(self, work_dir: Path, stack_name: str = "test", backend_url: str | None = None):
        """A new stack in a file backend of its own, or in BACKEND_URL (selected when it is there already)."""
        self.work_dir = copy_project(work_dir)
        state = self.state_dir = work_dir / ".state"
        state.mkdir()
        self.kills: list[str] = []  # up_killed_when's output at each kill
        self.env = {
            "PULUMI_BACKEND_URL": backend_url or f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_HOME": str(work_dir / ".pulumi-home"),
        }
        workspace = auto.LocalWorkspace(work_dir=str(self.work_dir), env_vars=self.env, secrets_provider="passphrase")
        self.stack = (
            auto.Stack.create_or_select(stack_name, workspace)
            if backend_url
            else auto.Stack.create(stack_name, workspace)
        )

    def another(self, stack_name: str) -> "ProjectStack":
        """A second stack of the same project copy and backend (sites of one team)."""
        other = copy.copy(self)
        other.stack = auto.Stack.create(stack_name, self.stack.workspace)
        other.kills = []
        return other

    def configure(self, plain: dict, secrets: dict | None = None) -> None:
        values = {f"{PROJECT_NAME}:{k}": auto.ConfigValue(_text(v)) for k, v in plain.items()}
        for key, value in (secrets or {}).items():
            values[f"{PROJECT_NAME}:{key}"] = auto.ConfigValue(value, secret=True)
        self.stack.set_all_config(values, path=False)

    @property
    def stack_file(self) -> Path:
        return self.work_dir / "stacks" / f"Pulumi.{self.stack.name}.yaml"

    def preview(self, **kwargs):
        return self.stack.preview(diff=True, **kwargs)

    def up(self, **kwargs):
        return self.stack.up(diff=True, **kwargs)

    def export(self) -> str:
        """The state as `pulumi stack export` shows it, secrets sealed (the automation API unseals them)."""
        return self.cli("stack", "export")

    def cli(self, *args: str) -> str:
        return self.run_cli(*args, check=True).stdout

    def run_cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        """`pulumi ARGS --stack NAME` in the project copy; its output (stdout and stderr) and exit status."""
        return subprocess.run(
            ["pulumi", *args, "--stack", self.stack.name],
            cwd=self.work_dir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=check,
        )

    def popen(self, *args: str) -> subprocess.Popen:
        """`pulumi ARGS --stack NAME` started, its output (stdout and stderr together) to read."""
        return subprocess.Popen(
            ["pulumi", *args, "--stack", self.stack.name],
            cwd=self.work_dir,
            env={**os.environ, **self.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def up_killed_when(self, started, timeout: float = 120) -> str:
        """Runs `pulumi up` and SIGKILLs it as soon as started(output so far) says the step is under way."""
        process, output = self.popen("up", "--yes", "--skip-preview"), []
        threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not started("".join(output)):
            assert process.poll() is None, "up ended before the step it should be killed in:\n" + "".join(output)
            assert time.monotonic() < deadline, "the step never started:\n" + "".join(output)
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        said = "".join(output)
        assert process.returncode == -signal.SIGKILL, f"up ended by itself ({process.returncode}):\n{said}"
        assert started(said), "the step was over when the kill landed:\n" + said
        self.kills.append(said)
        return said

    @property
    def locks(self) -> list[Path]:
        """The update locks the file backend holds for this project's stacks (a killed run leaves its own)."""
        return sorted(self.state_dir.glob(".pulumi/locks/**/*.json"))

    def run_runbook(self, step: int, lines=slice(None)) -> list[tuple[str, subprocess.CompletedProcess]]:
        """The README runbook step's lines (or a slice of them) as written, for this stack, stopping at
        the first that fails, as an administrator would; `./run` is the project's own."""
        ran = []
        for line in block(step)[lines]:
            line = line.replace(RUNBOOK_STACK, self.stack.name).replace("./run ", f"{PROJECT_DIR}/run ", 1)
            done = subprocess.run(
                ["bash", "-c", line],
                cwd=self.work_dir,
                env={**os.environ, **self.env},
                capture_output=True,
                text=True,
                timeout=300,
            )
            ran.append((line, done))
            if done.returncode:
                break
        return ran

    def urn(self, name: str) -> str:
        """The URN of the resource of that name in the state."""
        resources = json.loads(self.export())["deployment"]["resources"]
        return next(r["urn"] for r in resources if r["urn"].endswith(f"::{name}"))


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def lab_config(lab, known_hosts: Path | None = None) -> dict:
    """Stack settings that reach a running LabProcess."""
    return {
        "ssh": {"user": "root", "knownHostsFile": str(known_hosts or lab.known_hosts)},
        "hosts": {name: {"address": "127.0.0.1", "port": h["port"]} for name, h in lab.info["hosts"].items()},
    }


def pinned_ports_site(path: Path, base=None) -> tuple[Path, dict]:
    """A default-site variant whose new Engine API and Engine VM ports are known before the deploy."""
    from lab.testing import reserved_port, site_variant

    ports = {"engine_api_new_port": reserved_port(), "engine_vm_ssh_port": reserved_port()}
    kwargs = {"base": base} if base else {}
    return site_variant(path, lambda d: d.setdefault("ovirt", {}).update(ports), **kwargs), ports


def lab_stack_settings() -> dict:
    """The committed lab stack's plain settings, as the README's `./run lab-up` uses them."""
    config = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.lab.yaml").read_text())["config"]
    prefix = f"{PROJECT_NAME}:"
    return {k[len(prefix) :]: v for k, v in config.items() if not (isinstance(v, dict) and "secure" in v)}


def migration_settings(lab, ports: dict) -> dict:
    """The lab stack's settings pointed at a running lab started from pinned_ports_site()."""
    settings = {**lab_stack_settings(), **lab_config(lab)}
    settings["hostedEngine"]["engineVm"] = {"address": "127.0.0.1", "port": ports["engine_vm_ssh_port"]}
    settings["engineApi"] = {
        "url": f"https://127.0.0.1:{ports['engine_api_new_port']}/ovirt-engine/api",
        "caFile": lab.info["engine_api"]["ca_file"],
    }
    settings["originalEngineApi"] = {"url": lab.info["engine_api"]["url"], "caFile": lab.info["engine_api"]["ca_file"]}
    return settings


SUMMARIES: list[str] = []  # lines for the end of the test run (conftest.pytest_terminal_summary)


def migrated_stack(work_dir: Path, lab, client_key, admin_password: str = "lab-admin-password") -> ProjectStack:
    """A stack of the lab site from pinned_ports_site(), its migration run to the end by `pulumi up`."""
    stack = ProjectStack(work_dir, "site")
    stack.configure(
        migration_settings(lab, lab.ports),
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": admin_password,
            "engineRootPassword": "root-Pa55",
        },
    )
    assert stack.up().summary.result == "succeeded"
    return stack


def fault_took_effect(lab, host, prefix):
    """A predicate on `up`'s output: true once a lab fault acted on a command of `host` starting with prefix."""
    return lambda _output: any(
        c["kind"] == "fault" and c["host"] == host and c["command"].startswith(prefix) for c in lab.commands()
    )


def changing_commands(lab, host=None) -> list[str]:
    """What changed the lab's hosts: SFTP writes and every command but the reads (providers.ssh.is_read)."""
    return [
        c["command"]
        for c in lab.commands(host)
        if c["kind"] == "sftp" or (c["kind"] == "exec" and not is_read(shlex.split(c["command"])))
    ]


def runbook_blocks() -> list[tuple[str, list[str]]]:
    """(step heading, command lines) for every sh block of the README's runbook, in order."""
    text = (PROJECT_DIR / "README.md").read_text()
    section = text[text.index("## Runbook") : text.index("## Reference for a site's stack")]
    blocks, heading = [], None
    for match in re.finditer(r"^### ([^\n]+)$|^```sh\n(.*?)^```", section, re.S | re.M):
        if match.group(1):
            heading = match.group(1)
        else:
            blocks.append((heading, [line for line in match.group(2).splitlines() if line.strip()]))
    return blocks


def block(number: int) -> list[str]:
    """The command lines of runbook step `number`."""
    found = [lines for heading, lines in runbook_blocks() if heading.startswith(f"{number}.")]
    assert len(found) == 1, f"runbook step {number} has {len(found)} sh blocks"
    return found[0]


def assert_no_stack_file_beside_project(stack: ProjectStack) -> None:
    """Config must land in stacks/ only (see the module docstring)."""
    stray = [p.name for p in stack.work_dir.glob("Pulumi.*.yaml")]
    assert stray == [], f"stack files written beside Pulumi.yaml: {stray}"
    assert stack.stack_file.is_file()


# --- helpers the lab and end-to-end tests share -------------------------------------------------------

# Every question a 4.5 restore deploy (ovirt-hosted-engine-setup 2.7) asks for NFS storage, DHCP, a given MAC.
ANSWERS = {
    "OVEHOSTED_CORE/skipTTYCheck": "bool:True",  # run over a plain SSH exec, without a pseudo-tty
    "OVEHOSTED_CORE/deployProceed": "bool:True",
    "OVEHOSTED_CORE/forceIpProceed": "str:yes",
    "OVEHOSTED_NETWORK/gateway": "str:192.0.2.1",
    "OVEHOSTED_NETWORK/bridgeIf": "str:eth0",
    "OVEHOSTED_NETWORK/network_test": "str:dns",
    "OVEHOSTED_ENGINE/datacenterName": "str:Default",
    "OVEHOSTED_ENGINE/clusterName": "str:Default",
    "OVEHOSTED_CORE/renewPKIonRestore": "bool:False",
    "OVEHOSTED_CORE/pauseonRestore": "bool:False",
    "OVEHOSTED_CORE/enableKeycloak": "bool:False",
    "OVEHOSTED_VM/ovfArchive": "str:",
    "OVEHOSTED_VM/vmVCpus": "str:4",
    "OVEHOSTED_VM/vmMemSizeMB": "int:16384",
    "OVEHOSTED_VM/cloudinitRootPwd": "str:appliance-root-password",
    "OVEHOSTED_VM/rootSshPubkey": "str:",
    "OVEHOSTED_VM/rootSshAccess": "str:yes",
    "OVEHOSTED_VM/applyOpenScapProfile": "bool:False",
    "OVEHOSTED_VM/enableFips": "bool:False",
    "OVEHOSTED_VM/vmMACAddr": "str:00:16:3e:4c:61:62",
    "OVEHOSTED_VM/cloudinitVMStaticCIDR": "bool:False",
    "OVEHOSTED_VM/cloudinitVMETCHOSTS": "bool:True",
    "OVEHOSTED_NOTIF/smtpServer": "str:localhost",
    "OVEHOSTED_NOTIF/smtpPort": "str:25",
    "OVEHOSTED_NOTIF/sourceEmail": "str:root@localhost",
    "OVEHOSTED_NOTIF/destEmail": "str:root@localhost",
    "OVEHOSTED_ENGINE/adminPassword": "str:lab-admin-password",
    "OVEHOSTED_NETWORK/host_name": "str:she-deploy.lab.example",
    "OVEHOSTED_STORAGE/domainType": "str:nfs",
    "OVEHOSTED_STORAGE/nfsVersion": "str:auto",
    "OVEHOSTED_STORAGE/storageDomainConnection": "str:storage.lab.example:/exports/hosted_engine",
    "OVEHOSTED_STORAGE/mntOptions": "str:",
    "OVEHOSTED_STORAGE/imgSizeGB": "str:51",
}


def answer_file(answers):
    return "[environment:default]\n" + "".join(f"{k}={v}\n" for k, v in answers.items())


def put(client, path, data):
    with client.open_sftp() as sftp, sftp.open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def get(client, path):
    with client.open_sftp() as sftp, sftp.open(path, "rb") as f:
        return f.read()


def remote(lab, host: str, command: str, timeout: float = 10) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one command on a lab host, over a connection of its own."""
    client = lab.ssh(host)
    try:
        return run(client, command, timeout=timeout)
    finally:
        client.close()


def power_off(client) -> None:
    """`systemctl poweroff` on a lab host, as the address handover frees the FQDN's address before a deploy."""
    assert run(client, "systemctl poweroff")[0] == 0


def wait_until(condition, timeout: float = 20, interval: float = 0.2):
    """Polls condition() until it gives something true, and returns that; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not met within {timeout}s"
        time.sleep(interval)
    return value


def engine_vm_client(lab, host_key: str) -> paramiko.SSHClient:
    """The new Engine VM over SSH, trusting only the host key the deployment reported (`[name] type key`)."""
    client = paramiko.SSHClient()
    key_type, key_data = host_key.split()[-2:]
    key = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
    client.get_host_keys().add(f"[127.0.0.1]:{lab.port('engine-vm')}", key_type, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=lab.port("engine-vm"),
        username="root",
        key_filename=str(lab.client_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


class FakeConfig:
    """The one method of pulumi.Config the settings reader uses, over a plain dict."""

    def __init__(self, values: dict):
        self.values = values

    def get_object(self, key):
        return copy.deepcopy(self.values.get(key))


def restore_deploy(lab, answers=ANSWERS, pauses=False, hand_over=True):
    """A backup of the original Engine restored by `hosted-engine --deploy` on the deployment host, the original
    machine powered off first (`hand_over`) so the Engine VM can take the FQDN's address; when the role pauses, the
    administrator ends the pause without fixing anything. Returns (exit status, output, the pause's lock file or
    None)."""
    engine, deploy, storage = lab.ssh("engine"), lab.ssh("deploy"), lab.ssh("storage")
    try:
        assert run(storage, "chown 36:36 /exports/hosted_engine")[0] == 0
        assert run(engine, "engine-backup --mode=backup --file=/root/engine.backup --log=/root/backup.log")[0] == 0
        put(deploy, "/root/engine.backup", get(engine, "/root/engine.backup"))
        put(deploy, "/root/answers.conf", answer_file(answers))
        if hand_over:
            power_off(engine)
        _, stdout, _ = deploy.exec_command(
            "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/answers.conf",
            timeout=60,
        )
        lock = end_pause(lab) if pauses else None
        return stdout.channel.recv_exit_status(), stdout.read().decode(), lock
    finally:
        for client in (engine, deploy, storage):
            client.close()


def end_pause(lab, timeout=20):
    """Removes the role's pause lock file once it is there, as pause_execution.yml asks; returns its path."""
    deadline = time.monotonic() + timeout
    client = lab.ssh("deploy")
    try:
        while time.monotonic() < deadline:
            found = [n for n in run(client, "ls -1 /tmp")[1].split() if n.endswith("_he_setup_lock")]
            if found:
                assert run(client, f"rm /tmp/{found[0]}")[0] == 0
                return f"/tmp/{found[0]}"
            time.sleep(0.1)
    finally:
        client.close()
    raise AssertionError("the deploy never paused")
