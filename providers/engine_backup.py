"""EngineBackup: the original Engine, up to date and stopped, backed up and the backup copied off it.

Procedure 4 and 5: the Engine must be on its latest minor version (the backup's version must match
the new Engine's), `ovirt-engine` is stopped and disabled so nothing changes after the backup and
two Engines never manage the same hosts, then `engine-backup --mode=backup` writes the file and its
log, which are copied to a backup server and checked there against the Engine's own checksum. The same read
also writes the backup to the deployment host, where the deploy restores it from: inside the outage window
the two copies run at once, not one after the other.

A backup is taken once. A later `up` never takes a new one over it; a copy whose checksum no longer
matches is an error for the administrator to settle, never silently replaced. Destroying the
resource is the way back: it enables and starts the original Engine again and keeps the files.
"""

from __future__ import annotations

import posixpath
import tarfile
import time
from dataclasses import dataclass

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, Resource, ResourceProvider

from providers import appliance, base, host_facts, remote_job
from providers.errors import StepError
from providers.hosted_engine_deployment import DEPLOY, backup_on_host, deployed
from providers.ssh import Connection, RemoteCommandError, copy_file, sha256_of
from providers.timing import Steps, now, timed

UPDATE, SETUP, BACKUP = (
    remote_job.Job(f"ovirt-she-{step}") for step in ("engine-update", "engine-setup", "engine-backup")
)
JOBS = (UPDATE, SETUP, BACKUP)


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
    ended = remote_job.run(engine, job, argv, base.poll_interval(props), remote_job.progress(engine.host.name))
    if not ended.succeeded:
        remote_job.clear(engine, job, ended.state)
        raise StepError(
            engine.host.name,
            f"failed ({ended.how})",
            f"Its whole output is {job.output_file} on {engine.host.name}. Fix the cause there, then run "
            f"`pulumi up` again.",
            command=" ".join(argv),
            output=ended.last_lines(),
        )


@dataclass(frozen=True)
class Facts:
    """What the Engine machine shows before anything is done: each job's unit (a killed run's, running or
    ended), engine-upgrade-check's exit status, and whether a backup a killed run took is there with the
    Engine stopped. The last two are read only when no unit is loaded (None otherwise)."""

    units: dict
    upgrade_check: int | None = None
    taken_before: bool | None = None

    def loaded(self, job: remote_job.Job) -> bool:
        return remote_job.loaded(self.units.get(job.unit, {}))


def plan(facts: Facts, props: dict) -> list[str]:
    """The steps left, in the procedure's order (update, setup, the appliance's check, stop, backup, copy). A killed
    run's unit is
    followed to its end and engine-setup still runs after its update: once the setup packages are updated,
    engine-upgrade-check no longer says that the Engine itself is behind."""
    adopted = facts.loaded(BACKUP)
    steps = [] if adopted or facts.taken_before else _update_steps(facts, props) + ["appliance-check"]
    return steps + ["stop"] + ([] if facts.taken_before else ["backup"]) + ["copy"]


def _update_steps(facts: Facts, props: dict) -> list[str]:
    """Procedure 4: update the setup packages and run engine-setup, only if allowed and needed."""
    if not (facts.loaded(UPDATE) or facts.loaded(SETUP)):
        if facts.upgrade_check == host_facts.NO_UPGRADE:
            return []
        if not props["allowEngineUpdate"]:
            raise StepError(
                props["engine"]["name"],
                "engine-upgrade-check says an update is available",
                "The backup's Engine version must match the new Engine's: update the original Engine first "
                "(procedure 4: `yum update ovirt\\*setup\\*`, `engine-setup`), or set `backup.allowEngineUpdate: "
                "true` to let `pulumi up` do it. Nothing was changed.",
            )
    return ["setup"] if facts.loaded(SETUP) else ["update", "setup"]


def gather(props: dict, engine: Connection) -> Facts:
    """Reads what plan() needs, in the order it decides: the units first, the rest only when none is loaded."""
    facts = Facts({job.unit: remote_job.state(engine, job) for job in JOBS})
    if any(facts.loaded(job) for job in JOBS):
        return facts
    taken = sha256_of(engine, paths(props)["engineFile"]) is not None and not _engine_active(engine)
    if taken:
        return Facts(facts.units, taken_before=True)
    check = engine.run("engine-upgrade-check", check=False)
    if check.exit_status not in (host_facts.NO_UPGRADE, host_facts.UPGRADE_AVAILABLE):
        raise RemoteCommandError(props["engine"]["name"], "engine-upgrade-check", check)
    return Facts(facts.units, upgrade_check=check.exit_status, taken_before=False)


def _check_appliance(props: dict, engine: Connection) -> None:
    """The last moment to refuse without an outage: the Engine inside the appliance the deploy will use (read by
    DeploymentHostPackages once it was installed) restores a backup of the original Engine as it is now, updated."""
    inside = props.get("applianceEngine")
    if not inside:
        return  # a custom image, or an appliance without a manifest: the preview said so
    query = engine.run("rpm", "-q", "--qf", r"%{VERSION}\t%{RELEASE}\n", appliance.BACKUP_PACKAGE)
    version = appliance.package_version(*query.stdout.strip().split("\t", 1))
    refusal = appliance.verify_version(version, inside)
    if refusal is not None:
        raise StepError(
            props["engine"]["name"],
            f"would be backed up at version {version}, which the appliance's Engine {inside} does not restore "
            f"({refusal.why}; the deploy would fail with `{refusal.fatal}`)",
            "Nothing was stopped. Install an appliance whose Engine restores it on the deployment host, then run "
            "`pulumi up` again.",
        )


def _engine_active(engine: Connection) -> bool:
    return engine.run("systemctl", "is-active", "ovirt-engine", check=False).exit_status == 0


def _stop_record(props: dict) -> str:
    """Beside the backup on the Engine machine: when this tool stopped `ovirt-engine`, so that a run after a killed
    one still measures the outage window from the real stop."""
    return paths(props)["engineFile"] + ".stopped"


def _stop_original_engine(props: dict, engine: Connection) -> str | None:
    """Stopped and disabled; returns when it was stopped: now, or as the run that stopped it recorded it."""
    if _engine_active(engine):
        stopped = now()
        engine.run("mkdir", "-p", props["engineDirectory"])
        engine.write_file(_stop_record(props), (stopped + "\n").encode(), 0o644)
        engine.run("systemctl", "stop", "ovirt-engine")
    else:
        stopped = (engine.read_file(_stop_record(props)) or b"").decode().strip() or None
    if engine.run("systemctl", "is-enabled", "ovirt-engine", check=False).exit_status == 0:
        engine.run("systemctl", "disable", "ovirt-engine")
    return stopped


def _take_backup(props: dict, engine: Connection) -> None:
    where = paths(props)
    engine.run("mkdir", "-p", props["engineDirectory"])
    _job(
        props,
        engine,
        BACKUP,
        [
            "engine-backup",
            "--mode=backup",
            "--scope=all",
            f"--file={where['engineFile']}",
            f"--log={where['engineLog']}",
        ],
    )


def engine_version(archive) -> str | None:
    """The Engine version engine-backup recorded in the archive's `version` member, None without one; the
    archive (a file object) is read as a stream, so its size does not matter."""
    with tarfile.open(fileobj=archive, mode="r|*") as tar:
        for member in tar:
            if member.name.lstrip("./") == "version":
                return tar.extractfile(member).read().decode().strip()
    return None


def _recorded_version(props: dict):
    """Reads the copy's Engine version; an archive without one was not written by engine-backup."""

    def examine(archive) -> str:
        found = engine_version(archive)
        if found is None:
            raise StepError(
                props["engine"]["name"],
                f"{paths(props)['engineFile']} has no `version` member: it is not an engine-backup archive",
                "Check what wrote it and remove it, then run `pulumi up` again.",
            )
        return found

    return examine


def _copy_off_and_verify(props: dict, engine: Connection) -> dict:
    """To the backup server, and from the same read to the deployment host (HostedEngineDeployment checks that
    copy against the checksum before it restores it)."""
    where, server, deploy = paths(props), base.ssh_host(props, "backupServer"), base.ssh_host(props, "deploymentHost")
    server.run("mkdir", "-p", props["directory"])
    deploy.run("mkdir", "-p", props["deployBackupDirectory"])
    on_engine = sha256_of(engine, where["engineFile"])
    copied = copy_file(
        engine,
        where["engineFile"],
        server,
        where["file"],
        examine=_recorded_version(props),
        also=((deploy, backup_on_host(props["deployBackupDirectory"], props["fileName"])),),
    )
    sha, size = copied.sha256, copied.size
    copy_file(engine, where["engineLog"], server, where["log"])
    on_server = sha256_of(server, where["file"])
    if not (on_engine == sha == on_server):
        raise StepError(
            props["backupServer"]["name"],
            f"the backup's checksum differs between {props['engine']['name']} "
            f"({on_engine}), the copy ({sha}) and {props['backupServer']['name']} ({on_server}): the copy is damaged",
            "Check the disks and network, then run `pulumi up` again.",
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
    deploy = base.ssh_host(props, "deploymentHost")
    under_way = remote_job.running(remote_job.state(deploy, DEPLOY))
    if not (under_way or deployed(deploy)):
        return
    name, original = deploy.host.name, props["engine"]["name"]
    raise StepError(
        original,
        f"not starting the original Engine: the new self-hosted Engine "
        f"{'is being deployed' if under_way else 'is deployed'} on {name}, and two Engines must never manage the "
        f"same hosts",
        f"Nothing was changed. To keep the new Engine, leave this resource in the stack (or "
        f"`pulumi state delete` it to forget the backup). To go back to the original Engine on purpose, first "
        f"retire the new one on {name} (`hosted-engine --set-maintenance --mode=global`, "
        f"`hosted-engine --vm-shutdown`, then `ovirt-hosted-engine-cleanup`), then run `pulumi destroy` again.",
    )


class EngineBackupProvider(ResourceProvider):
    def check(self, olds, news):
        failures = [
            CheckFailure(k, f"`backup.{k}` must be an absolute path")
            for k in ("directory", "engineDirectory")
            if not str(news.get(k, "")).startswith("/")
        ]
        name = str(news.get("fileName", ""))
        if not name or "/" in name or name.startswith("."):
            failures.append(
                CheckFailure("fileName", "`backup.fileName` must be a plain file name, such as engine.backup")
            )
        return CheckResult(news, failures)

    def diff(self, _id, olds, news):
        hosts = [("engine", base.name_of), ("backupServer", base.name_of)]
        return base.diff(
            olds, news, replace=["fileName", "directory", "engineDirectory", *hosts], delete_before_replace=False
        )

    @timed
    def create(self, props):
        """Each long step is found again if a killed run left it (running or ended), never started twice,
        and the backup is copied only once engine-backup has ended."""
        engine = base.ssh_host(props, "engine")
        steps = {
            "update": lambda: _job(props, engine, UPDATE, ["yum", "update", "-y", "ovirt*setup*"]),
            "setup": lambda: _job(props, engine, SETUP, ["engine-setup", "--accept-defaults"]),
            "appliance-check": lambda: _check_appliance(props, engine),
            # before the backup starts: nothing changes after it
            "stop": lambda: outs.update(stoppedAt=_stop_original_engine(props, engine)),
            "backup": lambda: _take_backup(props, engine),
            "copy": lambda: outs.update(_copy_off_and_verify(props, engine)),
        }
        outs, ran = {}, Steps()
        for step in plan(gather(props, engine), props):
            ran.run(step, steps[step])
        for job in JOBS:
            remote_job.clear(engine, job)
        for step in ran.ran:  # the outage window opened when ovirt-engine stopped, maybe in a killed run
            if step["step"] == "stop" and outs.get("stoppedAt"):
                step["startedAt"] = outs["stoppedAt"]
        return CreateResult(outs["location"], {**props, **outs, "steps": ran.ran})

    def read(self, id_, props):
        server = base.ssh_host(props, "backupServer")
        actual = sha256_of(server, paths(props)["file"])
        if actual is None:
            return ReadResult(None, {})
        if props.get("sha256") and actual != props["sha256"]:
            raise StepError(
                props["backupServer"]["name"],
                f"the backup {props['location']} no longer matches its checksum (was "
                f"{props['sha256']}, now {actual}): it was changed or damaged",
                "Put the good copy back; to take a new "
                "backup instead, remove this resource from the state (`pulumi state delete`) and run `pulumi up`.",
            )
        return ReadResult(id_, props)

    def delete(self, _id, props):
        """The way back to the original Engine: enabled and started again; the backup files stay. Refused
        while a new Engine is deployed or being deployed: two Engines must never manage the same hosts."""
        _refuse_while_a_new_engine_stands(props)
        engine = base.ssh_host(props, "engine")
        engine.run("systemctl", "enable", "ovirt-engine")
        engine.run("systemctl", "start", "ovirt-engine")
        engine.run("rm", "-f", "--", _stop_record(props))


class EngineBackup(Resource, module="ovirt", name="EngineBackup"):
    """The original Engine's backup, kept on the backup server; outputs say where and what it holds."""

    location: pulumi.Output[str]
    sha256: pulumi.Output[str]
    size: pulumi.Output[int]
    engineVersion: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        engine: dict,
        backup_server: dict,
        deployment_host: dict,
        deploy_backup_directory: str,
        private_key,
        file_name: str,
        directory: str,
        engine_directory: str,
        allow_engine_update: bool,
        appliance_engine: pulumi.Input[str] = "",
        poll_interval: float = base.POLL_INTERVAL,
        opts=None,
    ):
        inputs = {
            "applianceEngine": appliance_engine,
            "engine": engine,
            "backupServer": backup_server,
            "deploymentHost": deployment_host,
            "deployBackupDirectory": deploy_backup_directory,
            "privateKey": private_key,
            "fileName": file_name,
            "directory": directory,
            "engineDirectory": engine_directory,
            "allowEngineUpdate": allow_engine_update,
            "pollInterval": poll_interval,
        }
        outputs = ("location", "logLocation", "size", "sha256", "engineVersion", "takenAt", "stoppedAt", "steps")
        super().__init__(
            EngineBackupProvider(), name, base.properties(inputs, outputs), base.options(opts, ["privateKey"])
        )
