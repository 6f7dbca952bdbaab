"""EngineBackup: the plan over what the Engine machine shows (tests/unit/cases/engine_backup/: units and
readings in, steps out), the reads that plan takes in the order it decides, the checks and the diff, and
the backup's Engine version read from archives of any size (the copy is examined as it is spooled, to
disk past 64 MiB, never kept whole in memory)."""

import contextlib
import io
import os
import tarfile

import pytest

from providers import remote_job
from providers.engine_backup import EngineBackupProvider, Facts, engine_version, gather, paths, plan
from providers.errors import StepError
from providers.ssh import RemoteCommandError, copy_file
from tests.harness import ScriptedHost, cases

PROPS = {
    "engine": {"name": "engine"},
    "backupServer": {"name": "backup"},
    "fileName": "engine.backup",
    "directory": "/backup",
    "engineDirectory": "/var/lib/ovirt-engine-backup",
    "allowEngineUpdate": False,
}
SHOW = "--property=" + remote_job.PROPERTIES
NO_UNIT = (0, "LoadState=not-found\nActiveState=inactive\nSubState=dead\n")


@pytest.mark.parametrize("case", cases("engine_backup"))
def test_the_plan_adopts_a_killed_runs_work_and_never_starts_a_step_twice(case):
    facts = Facts(case["units"], case["upgrade_check"], case["taken_before"])
    props = {**PROPS, "allowEngineUpdate": case["allowEngineUpdate"]}
    if "refused" in case:
        with pytest.raises(StepError) as refused:
            plan(facts, props)
        assert str(refused.value).startswith(case["refused"]) and str(refused.value).endswith("Nothing was changed.")
    else:
        assert plan(facts, props) == case["steps"]


def engine(**answers):
    units = {
        f"systemctl show ovirt-she-{step} {SHOW}": NO_UNIT
        for step in ("engine-update", "engine-setup", "engine-backup")
    }
    return ScriptedHost("engine", {**units, **answers})


def test_a_fresh_engine_is_read_for_a_backup_a_killed_run_took_then_for_an_update():
    host = engine(
        **{"sha256sum -- /var/lib/ovirt-engine-backup/engine.backup": (1, ""), "engine-upgrade-check": (1, "")}
    )
    facts = gather(PROPS, host)
    assert (facts.upgrade_check, facts.taken_before) == (1, False)
    assert host.ran[3:] == ["sha256sum -- /var/lib/ovirt-engine-backup/engine.backup", "engine-upgrade-check"]


def test_a_backup_with_the_engine_stopped_is_taken_before_and_no_update_is_checked():
    host = engine(
        **{
            "sha256sum -- /var/lib/ovirt-engine-backup/engine.backup": (0, "ab12  engine.backup\n"),
            "systemctl is-active ovirt-engine": (3, "inactive\n"),
        }
    )
    assert gather(PROPS, host).taken_before is True
    assert "engine-upgrade-check" not in host.ran


def test_a_loaded_unit_is_all_that_is_read():
    host = engine(**{f"systemctl show ovirt-she-engine-setup {SHOW}": (0, "LoadState=loaded\nSubState=running\n")})
    facts = gather(PROPS, host)
    assert facts.loaded(remote_job.Job("ovirt-she-engine-setup")) and len(host.ran) == 3
    assert plan(facts, PROPS) == ["setup", "appliance-check", "stop", "backup", "copy"]


def test_engine_upgrade_check_failing_is_an_error_naming_the_engine():
    host = engine(
        **{"sha256sum -- /var/lib/ovirt-engine-backup/engine.backup": (1, ""), "engine-upgrade-check": (2, "")}
    )
    with pytest.raises(RemoteCommandError, match="^engine: `engine-upgrade-check` exited with status 2"):
        gather(PROPS, host)


def test_paths_on_the_engine_and_the_backup_server():
    assert paths(PROPS) == {
        "engineFile": "/var/lib/ovirt-engine-backup/engine.backup",
        "engineLog": "/var/lib/ovirt-engine-backup/engine.backup.log",
        "file": "/backup/engine.backup",
        "log": "/backup/engine.backup.log",
    }


@pytest.mark.parametrize(
    "change, failing",
    [
        ({}, []),
        ({"directory": "backup"}, ["directory"]),
        ({"engineDirectory": ""}, ["engineDirectory"]),
        ({"fileName": "../engine.backup"}, ["fileName"]),
        ({"fileName": ".hidden"}, ["fileName"]),
    ],
)
def test_check_names_each_bad_setting(change, failing):
    assert [f.property for f in EngineBackupProvider().check({}, {**PROPS, **change}).failures] == failing


@pytest.mark.parametrize(
    "change, replaces",
    [
        ({}, []),
        ({"allowEngineUpdate": True}, []),
        ({"fileName": "other.backup"}, ["fileName"]),
        ({"directory": "/srv/backup", "engine": {"name": "engine2"}}, ["directory", "engine"]),
        ({"backupServer": {"name": "nas"}}, ["backupServer"]),
    ],
)
def test_diff_replaces_the_backup_when_where_it_is_taken_or_kept_changes(change, replaces):
    found = EngineBackupProvider().diff("id", PROPS, {**PROPS, **change})
    assert (found.changes, found.replaces, found.delete_before_replace) == (bool(replaces), replaces, False)


class LocalFiles:
    """The part of a Connection that copy_file uses (`sftp()`), over a local folder."""

    def __init__(self, root):
        self.root = root

    @contextlib.contextmanager
    def sftp(self):
        yield self

    def open(self, path, mode):
        handle = open(self.root / path.lstrip("/"), mode)
        handle.chmod = lambda mode: os.chmod(handle.name, mode)
        return handle

    def posix_rename(self, old, new):
        os.replace(self.root / old.lstrip("/"), self.root / new.lstrip("/"))


def archive(path, filler_bytes):
    """An engine-backup-like archive: a large member first, `./version` last."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        files = tarfile.TarInfo("./files")
        files.size = filler_bytes
        tar.addfile(files, io.BytesIO(os.urandom(filler_bytes)))
        version = tarfile.TarInfo("./version")
        version.size = len(b"4.5.6\n")
        tar.addfile(version, io.BytesIO(b"4.5.6\n"))


def test_a_backup_larger_than_the_memory_spool_still_gives_its_version(tmp_path):
    source, target = tmp_path / "engine", tmp_path / "backup"
    source.mkdir(), target.mkdir()
    archive(source / "engine.backup", 70 << 20)
    copied = copy_file(
        LocalFiles(source), "/engine.backup", LocalFiles(target), "/engine.backup", examine=engine_version
    )
    assert copied.size > 64 << 20 and copied.examined == "4.5.6"
    assert (target / "engine.backup").stat().st_size == copied.size


def test_an_archive_without_a_version_has_none(tmp_path):
    with tarfile.open(tmp_path / "x.tar", "w") as tar:
        tar.addfile(tarfile.TarInfo("./files"), io.BytesIO(b""))
    with open(tmp_path / "x.tar", "rb") as handle:
        assert engine_version(handle) is None


def test_one_read_writes_every_target_and_the_copies_are_whole(tmp_path):
    source, server, deploy = tmp_path / "engine", tmp_path / "backup", tmp_path / "deploy"
    for folder in (source, server, deploy):
        folder.mkdir()
    archive(source / "engine.backup", 3 << 20)
    copied = copy_file(
        LocalFiles(source),
        "/engine.backup",
        LocalFiles(server),
        "/engine.backup",
        examine=engine_version,
        also=((LocalFiles(deploy), "/engine.backup"),),
    )
    original = (source / "engine.backup").read_bytes()
    assert (server / "engine.backup").read_bytes() == original == (deploy / "engine.backup").read_bytes()
    assert copied.examined == "4.5.6" and not list(deploy.glob("*.part"))
