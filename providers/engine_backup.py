"""EngineBackup: the original Engine, up to date and stopped, backed up and the backup copied off it.

Procedure 4 and 5: the Engine must be on its latest minor version (the backup's version must match
the new Engine's), `ovirt-engine` is stopped and disabled so nothing changes after the backup and
two Engines never manage the same hosts, then `engine-backup --mode=backup` writes the file and its
log, which are copied to a backup server and checked there against the Engine's own checksum.

A backup is taken once. A later `up` never takes a new one over it; a copy whose checksum no longer
matches is an error for the administrator to settle, never silently replaced. Destroying the
resource is the way back: it enables and starts the original Engine again and keeps the files.
"""

from __future__ import annotations

import posixpath
import tarfile
import time

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from providers import host_facts, remote_job
from providers.hosted_engine_deployment import DEPLOY, deployed
from providers.ssh import Connection, Host, RemoteCommandError, connect, copy_file, sha256_of
from providers.timing import TIMING_OUTPUTS, timed

UPDATE, SETUP, BACKUP = (remote_job.Job(f"ovirt-she-{step}") for step in ("engine-update", "engine-setup", "engine-backup"))
JOBS = (UPDATE, SETUP, BACKUP)


class BackupError(Exception):
    """The backup cannot be taken or trusted; the message says why and what to do."""


def _engine(props: dict) -> Connection:
    return connect(Host.from_props(props["engine"]), props["privateKey"])


def _backup_server(props: dict) -> Connection:
    return connect(Host.from_props(props["backupServer"]), props["privateKey"])


def paths(props: dict) -> dict:
    """Where the backup and its log are written on the Engine and kept on the backup server."""
    name = props["fileName"]
    return {
        "engineFile": posixpath.join(props["engineDirectory"], name),
        "engineLog": posixpath.join(props["engineDirectory"], name + ".log"),
        "file": posixpath.join(props["directory"], name),
        "log": posixpath.join(props["directory"], name + ".log"),
    }


def _job(props: dict, engine: Connection, job: remote_job.Job, argv: list[str]) -> None:
    """One long step on the Engine machine, or the result of the one a killed run left there."""
    ended = remote_job.run(engine, job, argv, props.get("pollInterval", 2), remote_job.progress(engine.host.name))
    if not ended.succeeded:
        remote_job.clear(engine, job, ended.state)
        raise BackupError(
            f"{engine.host.name}: `{' '.join(argv)}` failed ({ended.how}):\n{ended.last_lines()}\n"
            f"Its whole output is {job.output_file} on {engine.host.name}. Fix the cause there, then run "
            f"`pulumi up` again."
        )


def _bring_up_to_date(props: dict, engine: Connection, units: dict) -> None:
    """Procedure 4: update the setup packages and run engine-setup, only if allowed and needed. A killed
    run's update is followed to its end and engine-setup still runs after it: once the setup packages are
    updated, engine-upgrade-check no longer says that the Engine itself is behind."""
    if not remote_job.loaded(units[UPDATE]) and not remote_job.loaded(units[SETUP]):
        check = engine.run("engine-upgrade-check", check=False)
        if check.exit_status == host_facts.NO_UPGRADE:
            return
        if check.exit_status != host_facts.UPGRADE_AVAILABLE:
            raise RemoteCommandError(props["engine"]["name"], "engine-upgrade-check", check)
        if not props["allowEngineUpdate"]:
            raise BackupError(
                f"{props['engine']['name']}: engine-upgrade-check says an update is available. The backup's Engine "
                f"version must match the new Engine's: update the original Engine first (procedure 4: "
                f"`yum update ovirt\\*setup\\*`, `engine-setup`), or set `backup.allowEngineUpdate: true` to let "
                f"`pulumi up` do it. Nothing was changed."
            )
    if not remote_job.loaded(units[SETUP]):
        _job(props, engine, UPDATE, ["yum", "update", "-y", "ovirt*setup*"])
    _job(props, engine, SETUP, ["engine-setup", "--accept-defaults"])


def _stop_original_engine(engine: Connection) -> None:
    if engine.run("systemctl", "is-active", "ovirt-engine", check=False).exit_status == 0:
        engine.run("systemctl", "stop", "ovirt-engine")
    if engine.run("systemctl", "is-enabled", "ovirt-engine", check=False).exit_status == 0:
        engine.run("systemctl", "disable", "ovirt-engine")


def _take_backup(props: dict, engine: Connection) -> None:
    where = paths(props)
    engine.run("mkdir", "-p", props["engineDirectory"])
    _job(props, engine, BACKUP, ["engine-backup", "--mode=backup", "--scope=all", f"--file={where['engineFile']}",
                                 f"--log={where['engineLog']}"])


def _taken_before(props: dict, engine: Connection, units: dict) -> bool:
    """A backup a killed run wrote and saw to its end after stopping the Engine (its unit already
    cleared) is still current."""
    return not any(remote_job.loaded(u) for u in units.values()) and \
        sha256_of(engine, paths(props)["engineFile"]) is not None and \
        engine.run("systemctl", "is-active", "ovirt-engine", check=False).exit_status != 0


def engine_version(archive) -> str:
    """The Engine version engine-backup recorded in the archive's `version` member; the archive (a file
    object) is read as a stream, so its size does not matter."""
    with tarfile.open(fileobj=archive, mode="r|*") as tar:
        for member in tar:
            if member.name.lstrip("./") == "version":
                return tar.extractfile(member).read().decode().strip()
    raise BackupError("the backup archive has no `version` member: it is not an engine-backup archive")


def _copy_off_and_verify(props: dict, engine: Connection) -> dict:
    where, server = paths(props), _backup_server(props)
    server.run("mkdir", "-p", props["directory"])
    on_engine = sha256_of(engine, where["engineFile"])
    copied = copy_file(engine, where["engineFile"], server, where["file"], examine=engine_version)
    sha, size = copied.sha256, copied.size
    copy_file(engine, where["engineLog"], server, where["log"])
    on_server = sha256_of(server, where["file"])
    if not (on_engine == sha == on_server):
        raise BackupError(
            f"the backup's checksum differs between {props['engine']['name']} ({on_engine}), the copy ({sha}) and "
            f"{props['backupServer']['name']} ({on_server}): the copy is damaged. Check the disks and network, "
            f"then run `pulumi up` again."
        )
    return {
        "location": f"{props['backupServer']['name']}:{where['file']}",
        "logLocation": f"{props['backupServer']['name']}:{where['log']}",
        "size": size,
        "sha256": sha,
        "engineVersion": copied.examined,
        "takenAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _refuse_while_a_new_engine_stands(props: dict) -> None:
    if not props.get("deploymentHost"):
        return
    deploy = connect(Host.from_props(props["deploymentHost"]), props["privateKey"])
    under_way = remote_job.running(remote_job.state(deploy, DEPLOY))
    if not (under_way or deployed(deploy)):
        return
    name, original = deploy.host.name, props["engine"]["name"]
    raise BackupError(
        f"not starting the original Engine on {original}: the new self-hosted Engine "
        f"{'is being deployed' if under_way else 'is deployed'} on {name}, and two Engines must never manage the "
        f"same hosts. Nothing was changed. To keep the new Engine, leave this resource in the stack (or "
        f"`pulumi state delete` it to forget the backup). To go back to the original Engine on purpose, first "
        f"retire the new one on {name} (`hosted-engine --set-maintenance --mode=global`, "
        f"`hosted-engine --vm-shutdown`, then `ovirt-hosted-engine-cleanup`), then run `pulumi destroy` again."
    )


class EngineBackupProvider(ResourceProvider):
    def check(self, olds, news):
        failures = [CheckFailure(k, f"`backup.{k}` must be an absolute path")
                    for k in ("directory", "engineDirectory") if not str(news.get(k, "")).startswith("/")]
        name = str(news.get("fileName", ""))
        if not name or "/" in name or name.startswith("."):
            failures.append(CheckFailure("fileName", "`backup.fileName` must be a plain file name, such as engine.backup"))
        return CheckResult(news, failures)

    def diff(self, _id, olds, news):
        keys = ("fileName", "directory", "engineDirectory")
        replaces = [k for k in keys if olds.get(k) != news.get(k)]
        replaces += [k for k in ("engine", "backupServer") if olds.get(k, {}).get("name") != news.get(k, {}).get("name")]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    @timed
    def create(self, props):
        """Each long step is found again if a killed run left it (running or ended), never started twice,
        and the backup is copied only once engine-backup has ended."""
        engine = _engine(props)
        units = {job: remote_job.state(engine, job) for job in JOBS}
        adopted = remote_job.loaded(units[BACKUP])
        taken = not adopted and _taken_before(props, engine, units)
        if not (adopted or taken):
            _bring_up_to_date(props, engine, units)
        _stop_original_engine(engine)  # before the backup starts: nothing changes after it
        if not taken:
            _take_backup(props, engine)
        outs = _copy_off_and_verify(props, engine)
        for job in JOBS:
            remote_job.clear(engine, job)
        return CreateResult(outs["location"], {**props, **outs})

    def read(self, id_, props):
        server = _backup_server(props)
        actual = sha256_of(server, paths(props)["file"])
        if actual is None:
            return ReadResult(None, {})
        if props.get("sha256") and actual != props["sha256"]:
            raise BackupError(
                f"the backup {props['location']} no longer matches its checksum (was {props['sha256']}, now {actual}): "
                f"it was changed or damaged. Put the good copy back; to take a new backup instead, remove this "
                f"resource from the state (`pulumi state delete`) and run `pulumi up`."
            )
        return ReadResult(id_, props)

    def delete(self, _id, props):
        """The way back to the original Engine: enabled and started again; the backup files stay. Refused
        while a new Engine is deployed or being deployed: two Engines must never manage the same hosts."""
        _refuse_while_a_new_engine_stands(props)
        engine = _engine(props)
        engine.run("systemctl", "enable", "ovirt-engine")
        engine.run("systemctl", "start", "ovirt-engine")


class EngineBackup(Resource, module="ovirt", name="EngineBackup"):
    """The original Engine's backup, kept on the backup server; outputs say where and what it holds."""

    location: pulumi.Output[str]
    sha256: pulumi.Output[str]
    size: pulumi.Output[int]
    engineVersion: pulumi.Output[str]

    def __init__(self, name: str, *, engine: dict, backup_server: dict, deployment_host: dict, private_key, file_name: str,
                 directory: str, engine_directory: str, allow_engine_update: bool, poll_interval: float = 2,
                 opts=None):
        props = {
            "engine": engine, "backupServer": backup_server, "deploymentHost": deployment_host, "privateKey": private_key, "fileName": file_name,
            "directory": directory, "engineDirectory": engine_directory, "allowEngineUpdate": allow_engine_update,
            "pollInterval": poll_interval,
            "location": None, "logLocation": None, "size": None, "sha256": None, "engineVersion": None, "takenAt": None, **TIMING_OUTPUTS,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["privateKey"]))
        super().__init__(EngineBackupProvider(), name, props, opts)
