"""A checkpoint torn by a kill (issue 17) is repaired by runbook step 9's first line, `./run recover-state`.

The decisions (is this checkpoint good, which copy to restore) are checked on their own, without a CLI.
Then, with the real CLI, a lab stack with one storage export is brought up, its checkpoint torn the way a
SIGKILL inside the CLI's write leaves it (an empty `.attrs` sidecar; a `.json` cut short), and step 9 is
run line by line as the README has it: without its first line it stops at the load error; with it the
stack converges with no change. A real kill mid-update shows the line changes nothing when nothing tore.
"""

import gzip
import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cli import checkpoint
from cli.checkpoint import Candidate, Refused, Verdict, choose, inspect, restore_order
from lab.testing import run
from tests.harness import PROJECT_NAME, block, fault_took_effect

STACK = "site-a"
GOOD_ATTRS = b'{"user.content_type":"text/plain; charset=utf-8","md5":"nyzJ1pge3ls/bOt4Kxq6BQ=="}\n'
DATA = {"host": "storage", "path": "/exports/data", "clients": "*", "options": "rw,sync,no_subtree_check"}


def checkpoint_bytes(stack=STACK, resources=3, time_="2026-12-01T23:45:10.015219373Z") -> bytes:
    """A checkpoint as the DIY backend writes it (compact JSON, version 3)."""
    latest = {
        "manifest": {"time": time_, "magic": "ca47", "version": "v3.252.0"},
        "resources": [{"urn": f"urn:pulumi:{stack}::p::t::r{i}", "type": "t"} for i in range(resources)]
        + [{"urn": f"urn:pulumi:{stack}::p::pulumi:providers:p::default", "type": "pulumi:providers:p"}],
    }
    return json.dumps(
        {"version": 3, "checkpoint": {"stack": f"organization/{PROJECT_NAME}/{stack}", "latest": latest}},
        separators=(",", ":"),
    ).encode()


# --- is this checkpoint good -------------------------------------------------------------------------


def test_a_whole_checkpoint_is_good_with_its_resources_and_time():
    verdict = inspect(checkpoint_bytes(), GOOD_ATTRS, STACK)
    assert verdict == Verdict(None, 3, "2026-12-01T23:45:10Z", ".json")
    assert inspect(checkpoint_bytes(), None, STACK).problem is None  # no sidecar: fileblob reads it as plain


def test_an_empty_sidecar_is_the_eof_the_cli_fails_with():
    assert "EOF" in inspect(checkpoint_bytes(), b"", STACK).problem
    assert "not JSON" in inspect(checkpoint_bytes(), b'{"md5":"nyz', STACK).problem
    assert "not a JSON object" in inspect(checkpoint_bytes(), b"[1]", STACK).problem


def test_every_cut_of_a_checkpoint_is_torn():
    whole = checkpoint_bytes()
    for cut in range(len(whole)):
        assert inspect(whole[:cut], GOOD_ATTRS, STACK).problem, f"a checkpoint cut at byte {cut} passed"


def test_gzip_checkpoints_are_read_and_a_cut_one_is_torn():
    packed = gzip.compress(checkpoint_bytes())
    assert inspect(packed, GOOD_ATTRS, STACK) == Verdict(None, 3, "2026-12-01T23:45:10Z", ".json.gz")
    assert "gzip" in inspect(packed[:-9], GOOD_ATTRS, STACK).problem


def test_the_stack_its_version_and_its_deployment_are_checked():
    assert "not of site-a" in inspect(checkpoint_bytes("site-b"), None, STACK).problem
    assert "version 9" in inspect(b'{"version":9,"checkpoint":{}}', None, STACK).problem
    assert "no checkpoint object" in inspect(b'{"version":3}', None, STACK).problem
    assert "list of resources" in inspect(b'{"version":3,"checkpoint":{"latest":{"resources":5}}}', None, STACK).problem
    # A stack created and never updated, as `pulumi stack init` leaves it, loads with no resources.
    assert inspect(b'{"version":0,"checkpoint":{"stack":"organization/p/site-a"}}', None, STACK) == Verdict(None)


def test_zstd_is_refused_rather_than_guessed_without_a_zstd_reader():
    if importlib.util.find_spec("zstandard"):
        pytest.skip("zstandard is installed: zstd checkpoints are read")
    with pytest.raises(checkpoint.CannotCheck, match="zstandard"):
        inspect(b"\x28\xb5\x2f\xfd" + b"\0" * 8, None, STACK)


# --- which copy to restore -------------------------------------------------------------------------------


def candidate(name, kind, stamp):
    return Candidate(Path(name), kind, stamp)


def test_the_newest_copy_comes_first_and_the_bak_wins_a_tie():
    bak, stale_bak = candidate("s.json.bak", ".bak", 50), candidate("s.json.gz.bak", ".bak", 10)
    backups = [candidate(f"s.{n}.json", "backup", n) for n in (20, 40, 30)]
    history = candidate("s-40.checkpoint.json", "history", 40)
    order = restore_order([stale_bak, *backups, history, bak])
    assert [c.path.name for c in order] == [
        "s.json.bak",
        "s.40.json",
        "s-40.checkpoint.json",
        "s.30.json",
        "s.20.json",
        "s.json.gz.bak",
    ]


def test_the_first_good_copy_is_chosen_and_no_later_one_read():
    good, torn = Verdict(None, 3), Verdict("its .attrs sidecar is empty")
    copies = [candidate("a", ".bak", 3), candidate("b", "backup", 2), candidate("c", "backup", 1)]

    def inspected():
        yield copies[0], torn
        yield copies[1], good
        raise AssertionError("read past the first good copy")

    assert choose(inspected()) == ((copies[1], good), [(copies[0], torn)])
    assert choose([(copies[0], torn)]) == (None, [(copies[0], torn)])
    assert choose([]) == (None, [])


# --- where the checkpoint is --------------------------------------------------------------------------------


def test_the_backend_is_picked_as_the_cli_picks_it():
    creds = Path("/h/.pulumi/credentials.json")
    project = {"backend": {"url": "file:///from-project"}}
    login = {"current": "s3://bucket"}
    assert checkpoint.backend_url({"PULUMI_BACKEND_URL": "file:///e"}, project, login, creds)[0] == "file:///e"
    assert checkpoint.backend_url({}, project, login, creds) == ("file:///from-project", "backend.url in Pulumi.yaml")
    assert checkpoint.backend_url({}, {}, login, creds)[0] == "s3://bucket"
    with pytest.raises(Refused, match="PULUMI_BACKEND_URL"):
        checkpoint.backend_url({}, {}, {}, creds)


def test_file_urls_resolve_as_the_cli_resolves_them():
    cwd, home = Path("/work/p"), Path("/root")
    assert checkpoint.state_root("file:///srv/state", cwd, home) == Path("/srv/state")
    assert checkpoint.state_root("file://~/state?no_tmp_dir=true", cwd, home) == Path("/root/state")
    assert checkpoint.state_root("file://./state", cwd, home) == Path("/work/p/state")
    assert checkpoint.state_root("s3://bucket/x", cwd, home) is None


def test_project_scoped_and_flat_layouts():
    scoped = checkpoint.stack_files(Path("/s"), 1, "proj", "site-a")
    assert scoped.base == Path("/s/.pulumi/stacks/proj/site-a")
    assert scoped.backups == Path("/s/.pulumi/backups/proj/site-a")
    assert checkpoint.stack_files(Path("/s"), 0, "proj", "site-a").base == Path("/s/.pulumi/stacks/site-a")


# --- the command on a backend laid out as the CLI lays it out --------------------------------------------


def write_blob(path: Path, data: bytes, attrs: bytes | None = GOOD_ATTRS, mtime_ns: int | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if attrs is not None:
        Path(f"{path}.attrs").write_bytes(attrs)
    if mtime_ns:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def backend(tmp_path) -> tuple[Path, dict]:
    """A file backend with a stack's checkpoint, its .bak (older) and two backups (older still)."""
    state = tmp_path / "state"
    stacks, backups = state / ".pulumi/stacks" / PROJECT_NAME, state / ".pulumi/backups" / PROJECT_NAME / STACK
    write_blob(state / ".pulumi/meta.yaml", b"version: 1\n")
    write_blob(stacks / f"{STACK}.json", checkpoint_bytes(resources=4), mtime_ns=4_000_000_000_000_000_000)
    write_blob(
        stacks / f"{STACK}.json.bak",
        checkpoint_bytes(resources=3, time_="2026-12-01T10:00:03Z"),
        mtime_ns=3_000_000_000_000_000_000,
    )
    for n in (1, 2):
        write_blob(backups / f"{STACK}.{n}000000000000000000.json", checkpoint_bytes(resources=n))
    (tmp_path / "project").mkdir()
    (tmp_path / "project/Pulumi.yaml").write_text(f"name: {PROJECT_NAME}\nruntime: python\n")
    return stacks, {"PULUMI_BACKEND_URL": f"file://{state}", "HOME": str(tmp_path)}


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_good_checkpoint_is_left_as_it_is(tmp_path):
    stacks, env = backend(tmp_path)
    before = snapshot(tmp_path / "state")
    status, message = checkpoint.recover(STACK, env, tmp_path / "project")
    assert status == 0 and "loads (4 resources); nothing to repair" in message
    assert snapshot(tmp_path / "state") == before


def test_a_torn_sidecar_is_kept_aside_and_the_bak_put_back(tmp_path):
    stacks, env = backend(tmp_path)
    (stacks / f"{STACK}.json.attrs").write_bytes(b"")
    torn = (stacks / f"{STACK}.json").read_bytes()
    status, message = checkpoint.recover(STACK, env, tmp_path / "project")
    assert status == 0, message
    assert len(message.splitlines()) == 2 and "sidecar is empty" in message
    assert f"{STACK}.json.bak (state of 2026-12-01T10:00:03Z, 3 resources)" in message and "step 9" in message
    assert (stacks / f"{STACK}.json").read_bytes() == (stacks / f"{STACK}.json.bak").read_bytes()
    assert (stacks / f"{STACK}.json.attrs").read_bytes() == GOOD_ATTRS
    [aside] = stacks.glob(f"{STACK}.json.torn-*[0-9Z]")
    assert aside.read_bytes() == torn and Path(f"{aside}.attrs").read_bytes() == b""
    assert checkpoint.recover(STACK, env, tmp_path / "project")[0] == 0  # and now it loads


def test_a_torn_bak_falls_back_to_the_newest_backup(tmp_path):
    stacks, env = backend(tmp_path)
    (stacks / f"{STACK}.json").write_bytes(checkpoint_bytes()[:100])
    (stacks / f"{STACK}.json.bak.attrs").write_bytes(b"")
    status, message = checkpoint.recover(STACK, env, tmp_path / "project")
    assert status == 0 and f"{STACK}.2000000000000000000.json" in message and "2 resources" in message
    assert inspect((stacks / f"{STACK}.json").read_bytes(), None, STACK).resources == 2


def test_with_nothing_good_left_it_says_what_to_do_and_changes_nothing(tmp_path):
    stacks, env = backend(tmp_path)
    for path in [
        stacks / f"{STACK}.json",
        stacks / f"{STACK}.json.bak",
        *(tmp_path / "state/.pulumi/backups").rglob("*.json"),
    ]:
        Path(f"{path}.attrs").write_bytes(b"")
    before = snapshot(tmp_path / "state")
    status, message = checkpoint.recover(STACK, env, tmp_path / "project")
    assert status == 1 and "No good copy is left" in message and "pulumi stack import" in message
    assert snapshot(tmp_path / "state") == before


def test_a_backend_that_is_no_file_has_nothing_to_repair(tmp_path):
    status, message = checkpoint.recover(STACK, {"PULUMI_BACKEND_URL": "s3://bucket/x"}, tmp_path)
    assert status == 0 and "not a file:// backend" in message


def test_a_stack_the_backend_lacks_is_refused_naming_the_setting(tmp_path):
    _, env = backend(tmp_path)
    with pytest.raises(Refused, match="no checkpoint of stack site-b .*PULUMI_BACKEND_URL"):
        checkpoint.recover("site-b", env, tmp_path / "project")


# --- with the real CLI ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(lab_stack):
    lab_stack.configure({**lab_stack.lab_settings, "storageExports": [DATA]}, {"sshPrivateKey": lab_stack.private_key})
    assert lab_stack.up().summary.result == "succeeded"
    return lab_stack


def stack_checkpoint(stack) -> Path:
    state = Path(stack.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    return state / ".pulumi/stacks" / PROJECT_NAME / f"{stack.stack.name}.json"


def step_9(stack, lines=slice(None)) -> list[tuple[str, subprocess.CompletedProcess]]:
    assert block(9)[0].startswith("./run recover-state "), block(9)
    return stack.run_runbook(9, lines)


def output(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def killed_in_sidecar_write(path: Path) -> str:
    """What a SIGKILL inside the CLI's next write leaves: the checkpoint copied to .bak first (backupTarget),
    then its sidecar truncated by fileblob's setAttrs, the new content never renamed into place."""
    for name in (path.name, f"{path.name}.attrs"):
        shutil.copyfile(path.with_name(name), path.with_name(name.replace(".json", ".json.bak", 1)))
    Path(f"{path}.attrs").write_bytes(b"")
    return f"{path}.bak"


def cut_short(path: Path) -> str:
    """A checkpoint cut in half (a crash before the data reached the disk): the backup of the last update,
    written from it, is newer than its .bak."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return str(path.parents[2] / "backups" / PROJECT_NAME / path.stem) + "/"


def kept_aside(path: Path) -> set[Path]:
    return {p for p in path.parent.glob(f"{path.name}.torn-*") if not p.name.endswith(".attrs")}


@pytest.mark.parametrize("tear", [killed_in_sidecar_write, cut_short], ids=["empty .attrs", "cut-short .json"])
def test_step_9_repairs_a_torn_checkpoint_and_the_stack_converges(stack, tear):
    assert stack.up().summary.result == "succeeded"
    path = stack_checkpoint(stack)
    whole, earlier = path.read_bytes(), kept_aside(path)
    resources = sum(
        not r["type"].startswith("pulumi:providers:") for r in json.loads(stack.export())["deployment"]["resources"]
    )
    expected_source = tear(path)
    torn = path.read_bytes(), Path(f"{path}.attrs").read_bytes()

    failed = step_9(stack, slice(1, None))
    line, done = failed[-1]
    assert done.returncode != 0, f"step 9 without its first line passed on a torn checkpoint: {failed}"
    assert "failed to load checkpoint" in output(done), output(done)
    if tear is killed_in_sidecar_write:  # the case: `pulumi cancel`, the first command, fails
        assert len(failed) == 1 and "failed to load checkpoint: EOF" in output(done), output(done)

    first = step_9(stack, slice(0, 1))[0][1]
    assert first.returncode == 0, output(first)
    assert "is torn" in first.stdout and f"Restored {expected_source}" in first.stdout, first.stdout
    assert f"{resources} resources" in first.stdout, first.stdout
    assert path.read_bytes() == whole, "the checkpoint put back is the one before the tear"
    [aside] = kept_aside(path) - earlier
    assert (aside.read_bytes(), Path(f"{aside}.attrs").read_bytes()) == torn, "the torn files are kept as they were"

    ran = step_9(stack, slice(1, None))
    assert [done.returncode for _, done in ran] == [0, 0, 0], [(line, output(done)) for line, done in ran]
    assert re.search(rf"Resources:\n +{resources} unchanged\n\n", ran[-1][1].stdout), ran[-1][1].stdout
    assert set(stack.preview().change_summary) <= {"same", "read"}


def test_after_a_real_kill_step_9_converges_and_its_first_line_repairs_only_a_torn_checkpoint(stack, lab):
    assert run(lab.ssh("storage"), "chmod 0700 /exports/data")[0] == 0  # drift, so up has an update to kill
    stack.stack.refresh()
    lab.inject_fault("slow", host="storage", match="^chmod", seconds=4, times=1)
    stack.up_killed_when(fault_took_effect(lab, "storage", "chmod"))
    folder = stack_checkpoint(stack).parent
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    first = step_9(stack, slice(0, 1))[0][1]
    assert first.returncode == 0, output(first)
    if "is torn" not in first.stdout:  # a kill lands inside the checkpoint's write about once in 36
        assert "nothing to repair" in first.stdout, first.stdout
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before, "a good checkpoint was changed"
    ran = step_9(stack, slice(1, None))
    assert [done.returncode for _, done in ran] == [0, 0, 0], [(line, output(done)) for line, done in ran]
    time.sleep(4)  # the killed run's chmod, already sent, ends on the host
    assert run(lab.ssh("storage"), "stat -c %a /exports/data")[1].strip() == "755"
    assert set(stack.preview().change_summary) <= {"same", "read"}
