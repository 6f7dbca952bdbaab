"""The migration report: the lab site migrated through the real engine, then reported on, with no secret in it."""

import os
import re
import subprocess
import sys

import pytest

from components import preflight, report
from lab.testing import LabProcess
from tests.harness import PROJECT_DIR, ProjectStack, migration_settings, pinned_ports_site

ADMIN_PASSWORD = "lab-admin-password"
ROOT_PASSWORD = "report-root-Pa55"
STEPS = [
    "export-storage-exports-data",
    "export-storage-exports-hosted_engine",
    "multipath-host1-90-lab-san.conf",
    "multipath-host2-90-lab-san.conf",
    "multipath-deploy-90-boot-lun.conf",
    "deployment-host-packages",
    "engine-backup",
    "address-handover",
    "hosted-engine",
    "hosted-engine-node-host1",
    "hosted-engine-node-host2",
    "ha-drill",
    "evidence",
]
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# Inside the outage window, in order: every step of the backup from the stop on, the handover, the deploy's.
WINDOW = [
    ("engine-backup", "stop"),
    ("engine-backup", "backup"),
    ("engine-backup", "copy"),
    ("address-handover", "handover"),
    ("hosted-engine", "fetch"),
    ("hosted-engine", "start"),
    ("hosted-engine", "follow"),
    ("hosted-engine", "engine-answers"),
]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory, client_key):
    """The lab site, migrated with `up`: (stack, up result, lab)."""
    site, ports = pinned_ports_site(tmp_path_factory.mktemp("site") / "site.yaml")
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        stack = ProjectStack(tmp_path_factory.mktemp("project"), "site")
        stack.secrets = {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": ADMIN_PASSWORD,
            "engineRootPassword": ROOT_PASSWORD,
        }
        stack.configure(migration_settings(lab, ports), stack.secrets)
        result = stack.up()
        assert result.summary.result == "succeeded"
        yield stack, result, lab


def secrets_of(stack) -> list[str]:
    return [ADMIN_PASSWORD, ROOT_PASSWORD, *stack.secrets["sshPrivateKey"].splitlines()[1:-1]]


def assert_complete(text: str, stack, sha256: str) -> None:
    for step in STEPS:
        row = next((line for line in text.splitlines() if step in line and STAMP.search(line)), None)
        assert row, f"{step} has no timed row in the report:\n{text}"
    assert sha256 in text and "/backup/engine-lab.backup" in text
    assert "https://engine.lab.example/ovirt-engine/" in text
    assert text.count("3400") >= 2
    drill = re.search(
        r"(\| she-deploy\.lab\.example \| (host1|host2) \| [0-9.]+ s \|)|"
        r"(<td>she-deploy\.lab\.example</td><td>(host1|host2)</td><td>[0-9.]+ s</td>)",
        text,
    )
    assert drill, "the drill's row: which node took the Engine VM, and how long it took"
    for check in preflight.CHECKS:  # every check, with its result, on the lab's site that passes them all
        name = check.__name__.rsplit(".", 1)[-1]
        assert re.search(rf"(\| {name} \| (passed|warned) \|)|(<td>{name}</td><td>(passed|warned)</td>)", text), name
    assert_window(text)
    for secret in secrets_of(stack):
        assert secret not in text
    assert "ciphertext" not in text and report.SECRET_SIG not in text


def assert_window(text: str) -> None:
    """The window's length in the result, its picture (text bars or SVG) and its steps, in order, each timed."""
    assert re.search(r"Outage window(\s*\|\s*|</td><td>)[0-9.]+s, from ", text), "the window's length"
    steps = re.findall(
        r"(?:\| \d+ \| |<td>\d+</td><td>)([\w-]+)(?: \| |</td><td>)([\w-]+)(?: \| |</td><td>)[^|<]+(?: \| |</td><td>)\+",
        text,
    )
    assert steps == WINDOW, steps
    picture = "<svg" in text and text.count("<rect") == len(WINDOW) or text.count("█") >= len(WINDOW)
    assert picture and "update" not in [step for _, step in steps], "a picture of the window, from the stop on"


def test_the_stack_output_gives_the_window_measured_and_what_ran_in_it(migrated):
    _, result, _ = migrated
    window = result.outputs["outageWindow"].value
    measured = window["measured"]
    assert [(s["resource"], s["step"]) for s in measured["steps"]] == WINDOW
    assert window["seconds"] == measured["seconds"] > 0 and measured["stepsSeconds"] <= measured["seconds"]
    assert measured["openedAt"] == measured["steps"][0]["startedAt"]
    assert measured["closedAt"] == measured["steps"][-1]["finishedAt"]
    offsets = [s["offset"] for s in measured["steps"]]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert window["inside"][0].startswith("engine-backup: stop") and window["inside"][-1].startswith("hosted-engine:")


def test_the_backup_reaches_the_deployment_host_in_the_same_read_that_copies_it_off(migrated):
    """Written once to each, before the original machine is powered off: the deploy's check finds it and copies
    nothing from the backup server."""
    *_, lab = migrated
    ran = [(c["host"], c["command"]) for c in lab.commands()]
    backup = [(i, w) for i, w in enumerate(ran) if w[1].startswith("rename") and "engine-lab.backup.part" in w[1]]
    assert [w for _, w in backup] == [
        ("backup", "rename /backup/engine-lab.backup.part /backup/engine-lab.backup"),
        ("deploy", "rename /root/backup/engine-lab.backup.part /root/backup/engine-lab.backup"),
    ], ran
    assert backup[-1][0] < ran.index(("engine", "systemctl poweroff"))


def test_up_exports_the_report_with_every_step_timed_and_no_secret(migrated):
    stack, result, _ = migrated
    output = result.outputs["report"]
    assert output.secret is False
    assert_complete(output.value, stack, result.outputs["backup"].value["sha256"])
    assert "deploy (127.0.0.1:" in output.value and "engine (127.0.0.1:" in output.value  # which host


def test_the_report_command_writes_markdown_and_html_from_the_state(migrated, tmp_path):
    stack, result, _ = migrated
    out = tmp_path / "report.md"
    done = subprocess.run(
        [sys.executable, "-m", "cli.report", "--stack", "site", "--out", str(out)],
        cwd=stack.work_dir,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    sha256 = result.outputs["backup"].value["sha256"]
    assert_complete(out.read_text(), stack, sha256)
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page
    assert_complete(page, stack, sha256)


def test_the_plan_picture_of_the_lab_site_shows_every_step_in_order(tmp_path, lab, client_key):
    """Regenerates docs/lab-plan.svg from a preview of the lab stack's settings and checks it against the committed one."""
    stack = ProjectStack(tmp_path / "project", "lab")
    settings = migration_settings(lab, {"engine_vm_ssh_port": 1, "engine_api_new_port": 1})
    stack.configure(
        settings,
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": ADMIN_PASSWORD,
            "engineRootPassword": ROOT_PASSWORD,
        },
    )
    out = tmp_path / "lab-plan.svg"
    done = subprocess.run(
        [sys.executable, "-m", "cli.plan", "--stack", "lab", "--out", str(out)],
        cwd=stack.work_dir,
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    svg, dot = out.read_text(), out.with_suffix(".dot").read_text()
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    for step in STEPS:
        assert f">{step}<" in svg, step
    preparation = STEPS[:6]
    for before in preparation:
        assert f'"{before}" -> "engine-backup";' in dot
    for before, after in zip(STEPS[6:], STEPS[7:]):
        assert f'"{before}" -> "{after}";' in dot
    columns = {
        step: int(
            re.search(rf'<rect x="(\d+)"[^>]*/><text[^>]*>[^<]*</text><text[^>]*>{re.escape(step)}<', svg).group(1)
        )
        for step in STEPS
    }
    assert all(columns[p] < columns["engine-backup"] < columns["address-handover"] for p in preparation)
    assert columns["address-handover"] < columns["hosted-engine"]
    assert columns["hosted-engine"] < columns["hosted-engine-node-host1"] < columns["hosted-engine-node-host2"]
    if os.environ.get("REGENERATE_PLAN"):  # `REGENERATE_PLAN=1 ./run tests -k plan_picture` rewrites the committed one
        for suffix in (".svg", ".dot"):
            (PROJECT_DIR / "docs" / f"lab-plan{suffix}").write_text(out.with_suffix(suffix).read_text())
    committed = (PROJECT_DIR / "docs" / "lab-plan.svg").read_text()
    assert sorted(re.findall(r"<text[^>]*>([^<]*)</text>", committed)) == sorted(
        re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    ), "docs/lab-plan.svg is out of date: regenerate it with `REGENERATE_PLAN=1 ./run tests -k plan_picture`"
