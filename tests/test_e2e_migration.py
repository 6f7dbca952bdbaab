"""The whole migration end to end: the lab stack's settings on a fresh lab, through the real engine.

The steps share one lab and one stack and run in order: plan, migrate, re-run, drift, growth.
"""

import collections
import concurrent.futures
import io
import json
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from pulumi import automation as auto

from lab.testing import run
from tests.harness import (
    ProjectStack,
    assert_no_stack_file_beside_project,
    changing_commands,
    engine_vm_client,
    migration_settings,
)

ADMIN_PASSWORD = "lab-admin-password"  # the original Engine's, restored from the backup
ROOT_PASSWORD = "engine-vm-root-Pa55"
# Storage and multipath preparation are independent of each other (one tier), then one step after another.
INSIDE_THE_WINDOW = [
    ("engine-backup", "stop"),
    ("engine-backup", "backup"),
    ("engine-backup", "copy"),
    ("address-handover", "handover"),
    ("hosted-engine", "follow"),
    ("hosted-engine", "engine-answers"),
]
PROCEDURE_TIERS = [
    ("StorageExport", "MultipathOverride", "DeploymentHostPackages"),
    ("EngineBackup",),
    ("AddressHandover",),
    ("HostedEngineDeployment",),
    ("hosted-engine-node-host1",),
    ("hosted-engine-node-host2",),
    ("HighAvailabilityDrill",),
    ("MigrationEvidence",),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, migration_lab, client_key):
    stack = ProjectStack(tmp_path_factory.mktemp("project"), "site")
    settings = migration_settings(migration_lab, migration_lab.ports)
    stack.settings = settings
    stack.secrets = {
        "sshPrivateKey": client_key[0].read_text(),
        "adminPassword": ADMIN_PASSWORD,
        "engineRootPassword": ROOT_PASSWORD,
    }
    stack.configure(settings, stack.secrets)
    return stack


def wait_for_command(lab, prefix, timeout=60):
    deadline = time.monotonic() + timeout
    while not any(c["command"].startswith(prefix) for c in lab.commands()):
        assert time.monotonic() < deadline, f"no `{prefix}` ran on the lab"
        time.sleep(0.2)


def ssh_run(lab, host, command):
    client = lab.ssh(host)
    try:
        return run(client, command)
    finally:
        client.close()


def test_preview_lists_every_step_in_the_procedures_order_and_changes_nothing(stack, migration_lab):
    before = len(changing_commands(migration_lab))
    result = stack.preview()
    assert result.change_summary == {"create": 15}
    tiers = [[result.stdout.find(step) for step in tier] for tier in PROCEDURE_TIERS]
    assert all(p >= 0 for tier in tiers for p in tier), tiers
    assert all(max(earlier) < min(later) for earlier, later in zip(tiers, tiers[1:])), tiers
    assert changing_commands(migration_lab)[before:] == []  # the preflight only reads
    assert_no_stack_file_beside_project(stack)
    window = result.stdout[result.stdout.index("outageWindow") :]
    assert window.index("deployment-host-packages: ovirt-hosted-engine-setup") < window.index("inside")
    inside = [window.index(f"{name}: {step}, ") for name, step in INSIDE_THE_WINDOW]
    assert window.index("inside") < inside[0] and inside == sorted(inside), "what runs while no Engine runs, in order"


def test_up_migrates_the_site_and_a_second_up_at_once_is_refused(stack, migration_lab):
    before = len(migration_lab.connections())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        events = []
        first = pool.submit(stack.up, on_event=events.append)
        wait_for_command(migration_lab, "engine-backup --mode=backup")
        with pytest.raises(auto.errors.CommandError) as second:
            stack.up()
        assert "locked" in str(second.value)
        result = first.result()
    assert result.summary.result == "succeeded"
    # The deploy's streamed output is logged under the deployment, not the Stack (providers/progress.py)
    lines = {e.diagnostic_event.message.strip(): e.diagnostic_event.urn for e in events if e.diagnostic_event}
    assert lines["deploy: [ INFO  ] Stage: Initializing"].endswith("HostedEngineDeployment::hosted-engine")
    assert lines["deploy: [ INFO  ] Hosted Engine successfully deployed"].endswith("::hosted-engine")
    assert lines["engine: Start of engine-backup with mode 'backup'"].endswith("EngineBackup::engine-backup")
    # The preflight and the resources share one SSH connection per host (the refused `up` opened none).
    per_host = collections.Counter(c["host"] for c in migration_lab.connections()[before:])
    assert len(per_host) == 7 and set(per_host.values()) == {1}, per_host
    outputs = {k: v.value for k, v in result.outputs.items()}
    engine = migration_lab.host_state("engine")["services"]["ovirt-engine"]
    assert engine["active"] is False and engine["enabled"] is False
    # The Engine VM took the FQDN's address, which the original machine gave up by powering off after the copies
    assert migration_lab.host_state("engine")["powered_off"] is True
    status, record, _ = ssh_run(migration_lab, "backup", "cat /backup/engine-lab.backup.handover")
    assert status == 0 and json.loads(record)["address"] == "192.0.2.10", record
    assert json.loads(record)["originalEngine"] == "powered-off"

    status, listing, _ = ssh_run(migration_lab, "backup", "sha256sum /backup/engine-lab.backup")
    assert status == 0 and listing.split()[0] == outputs["backup"]["sha256"]
    assert outputs["backup"]["engineVersion"] == "4.5.6"

    migration_lab.refresh()
    api = migration_lab.engine_connection(new=True, username="admin@internal", password=ADMIN_PASSWORD)
    system = api.system_service()
    # The drill moved the Engine VM off the deployment host, which is back in service
    drill = outputs["haDrill"]
    vm = system.vms_service().list(search="name=HostedEngine")[0]
    runs_on = system.hosts_service().host_service(vm.host.id).get()
    assert drill["fromNode"] == "she-deploy.lab.example" and drill["toNode"] == runs_on.name, drill
    assert vm.status.value == "up" and runs_on.name in ("host1", "host2") and drill["seconds"] > 0
    assert all(h.status.value == "up" for h in system.hosts_service().list())
    assert "hosted_storage" in [d.name for d in system.storage_domains_service().list()]
    assert {h.name for h in system.hosts_service().list()} >= {"host1", "host2"}  # restored from the backup

    status, modules, _ = run(engine_vm_client(migration_lab, outputs["engineVmHostKey"]), "dnf module list --enabled")
    assert status == 0 and all(m in modules for m in ("javapackages-tools", "pki-deps", "postgresql"))

    assert outputs["nodeScores"] == {"host1": 3400, "host2": 3400}
    status, vm_status, _ = ssh_run(migration_lab, "host1", "hosted-engine --vm-status --json")
    entries = [e for e in json.loads(vm_status).values() if isinstance(e, dict)]
    assert status == 0 and all(e["score"] > 0 for e in entries) and len(entries) == 3
    assert [e["hostname"] for e in entries if e["engine-status"]["health"] == "good"] == [runs_on.address]


def test_the_evidence_archive_on_the_backup_server_holds_every_log_and_no_secret(stack, migration_lab):
    outputs = {k: v.value for k, v in stack.stack.outputs().items()}
    evidence = outputs["evidence"]
    assert evidence["location"] == "/backup/evidence-engine-lab.tar.gz"
    status, listing, _ = ssh_run(migration_lab, "backup", f"sha256sum {evidence['location']}")
    assert status == 0 and listing.split()[0] == evidence["sha256"]
    assert evidence["sha256"] in outputs["report"]
    client = migration_lab.ssh("backup")
    try:
        with client.open_sftp() as sftp, sftp.open(evidence["location"], "rb") as remote:
            data = remote.read()
    finally:
        client.close()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    names = sorted(members)
    assert "backup/backup/engine-lab.backup.log" in names
    assert any(n.startswith("deploy/var/log/ovirt-hosted-engine-setup/ovirt-hosted-engine-setup-") for n in names)
    assert any(n.startswith("engine-vm/var/log/ovirt-engine/setup/restore-backup-") for n in names)
    assert (
        sum(n.startswith("engine-vm/var/log/ovirt-engine/host-deploy/ovirt-host-deploy-ansible-") for n in names) == 2
    )
    for node in ("deploy", "host1", "host2"):
        entries = json.loads(members[f"{node}/hosted-engine-vm-status-json.txt"])
        assert all(e["score"] == 3400 for e in entries.values() if isinstance(e, dict)), node
    blob = b"".join(members.values())
    for secret in [ADMIN_PASSWORD, ROOT_PASSWORD, *stack.secrets["sshPrivateKey"].splitlines()[2:-1]]:
        assert secret.encode() not in blob


def test_two_hosts_were_never_out_of_service_at_once(migration_lab):
    """Replays the new Engine's audit log of host status changes."""
    api = migration_lab.engine_connection(new=True, username="admin@internal", password=ADMIN_PASSWORD)
    names = {h.id: h.name for h in api.system_service().hosts_service().list()}
    status = {}
    events = sorted(api.system_service().events_service().list(), key=lambda e: int(e.id))
    assert any("was switched to Maintenance Mode" in e.description for e in events)
    for event in events:
        status[names[event.host.id]] = event.description
        out_of_service = [n for n, d in status.items() if "Maintenance" in d or "Installing" in d]
        assert len(out_of_service) <= 1, out_of_service


def test_second_up_changes_nothing(stack, migration_lab):
    before = len(changing_commands(migration_lab))
    result = stack.up()
    assert result.summary.resource_changes == {"same": 15, "read": 1}  # the read is the preflight's
    assert changing_commands(migration_lab)[before:] == []


@pytest.mark.parametrize("forget", ["destroy", "destroy --target", "state delete"])
def test_the_drill_and_the_evidence_forgotten_by_the_state_are_found_again_not_done_again(stack, migration_lab, forget):
    """Removed from the state (a destroy refused at the protected nodes, a targeted destroy, `pulumi state delete`),
    the next `up` adopts the drill's record and the archive: no host goes to maintenance again, the Engine VM stays
    where it is, the archive's bytes stay."""
    urns = [r["urn"] for r in json.loads(stack.export())["deployment"]["resources"]]
    leaves = [u for end in ("::evidence", "::ha-drill") for u in urns if u.endswith(end)]  # the dependent first
    before = {k: v.value for k, v in stack.stack.outputs().items()}
    _, archive, _ = ssh_run(migration_lab, "backup", f"sha256sum {before['evidence']['location']}")
    changed = len(changing_commands(migration_lab))  # neither the forgetting nor the next `up` changes the site
    if forget == "destroy":  # refused at the protected nodes, after the leaves went
        done = stack.run_cli("destroy", "--yes", "--skip-preview")
        assert done.returncode != 0 and "protected" in done.stdout + done.stderr, done.stdout + done.stderr
        urns_left = [r["urn"] for r in json.loads(stack.export())["deployment"]["resources"]]
        assert not set(leaves) & set(urns_left), "the destroy kept the drill and the evidence"
    for urn in leaves if forget != "destroy" else ():
        if forget == "state delete":
            done = stack.run_cli("state", "delete", urn, "--yes")
        else:
            done = stack.run_cli("destroy", "--target", urn, "--yes", "--skip-preview")
        assert done.returncode == 0, done.stdout + done.stderr
    api = migration_lab.engine_connection(new=True, password=ADMIN_PASSWORD).system_service()
    maintenance = sum(e.code == 15 for e in api.events_service().list())  # VDS_MAINTENANCE
    result = stack.up()
    changes = result.summary.resource_changes
    assert changes.get("create") == 2 and set(changes) <= {"same", "create", "read"}, changes
    after = {k: v.value for k, v in result.outputs.items()}
    assert (after["haDrill"], after["evidence"]) == (before["haDrill"], before["evidence"])
    assert sum(e.code == 15 for e in api.events_service().list()) == maintenance, "a host went to maintenance again"
    assert changing_commands(migration_lab)[changed:] == [], "the site was changed"
    assert ssh_run(migration_lab, "backup", f"sha256sum {before['evidence']['location']}")[1] == archive


def test_local_maintenance_is_refused_where_the_engine_vm_runs_and_each_mode_clears_the_other(migration_lab):
    """set_maintenance.py: local maintenance needs the Engine VM elsewhere; LOCAL and GLOBAL are set together."""
    api = migration_lab.engine_connection(new=True, username="admin@internal", password=ADMIN_PASSWORD)
    system = api.system_service()
    here = system.hosts_service().host_service(system.vms_service().list(search="name=HostedEngine")[0].host.id).get()
    other = "host2" if here.name == "host1" else "host1"
    assert ssh_run(migration_lab, here.name, "hosted-engine --set-maintenance --mode=local") == (
        1,
        "",
        "Unable to enter local maintenance mode: the engine VM is running on the current host, please migrate "
        "it before entering local maintenance mode.\n",
    )

    def mine(host):
        entries = json.loads(ssh_run(migration_lab, host, "hosted-engine --vm-status --json")[1])
        return next(e for e in entries.values() if isinstance(e, dict) and e["hostname"].startswith(host + "."))

    assert ssh_run(migration_lab, other, "hosted-engine --set-maintenance --mode=local")[0] == 0
    assert mine(other)["maintenance"] is True and mine(other)["score"] == 0
    assert ssh_run(migration_lab, other, "hosted-engine --set-maintenance --mode=global")[0] == 0
    assert (
        mine(other)["maintenance"] is False
        and "GLOBAL MAINTENANCE" in ssh_run(migration_lab, other, "hosted-engine --vm-status")[1]
    )
    assert ssh_run(migration_lab, other, "hosted-engine --set-maintenance --mode=none")[0] == 0
    assert (
        mine(other)["score"] == 3400 and "GLOBAL" not in ssh_run(migration_lab, other, "hosted-engine --vm-status")[1]
    )


def test_an_export_mode_changed_on_the_storage_server_shows_in_refresh_and_up_puts_it_back(stack, migration_lab):
    assert ssh_run(migration_lab, "storage", "chmod 0700 /exports/data")[0] == 0
    refreshed = stack.stack.refresh()
    assert refreshed.summary.resource_changes.get("update") == 1
    assert stack.up().summary.resource_changes.get("update") == 1
    assert ssh_run(migration_lab, "storage", "stat -c %a /exports/data")[1].strip() == "755"


def test_a_third_existing_host_previews_as_exactly_one_new_node(stack, migration_lab):
    grown = json.loads(json.dumps(stack.settings))
    grown["hosts"]["host3"] = {"address": "127.0.0.1", "port": migration_lab.port("host2")}
    grown["hostedEngineNodes"] = ["host1", "host2", "host3"]
    stack.configure(grown, stack.secrets)
    try:
        result = stack.preview()
        assert result.change_summary == {"create": 1, "same": 15, "read": 1}
        assert "hosted-engine-node-host3" in result.stdout
    finally:
        stack.configure(stack.settings, stack.secrets)


def test_a_node_dropped_from_the_stack_is_undeployed_on_purpose_and_comes_back_when_added(stack, migration_lab):
    """Dropping a node is refused while it is protected; unprotected as the runbook's step 6 says, it is
    undeployed alone."""
    fewer = json.loads(json.dumps(stack.settings))
    fewer["hostedEngineNodes"] = ["host1"]
    stack.configure(fewer, stack.secrets)
    try:
        with pytest.raises(auto.errors.CommandError, match="protect"):
            stack.up()
        assert ssh_run(migration_lab, "host2", "hosted-engine --vm-status")[0] == 0, "refused, host2 stays a node"
        stack.cli("state", "unprotect", "--yes", stack.urn("hosted-engine-node-host2"))
        assert stack.up().summary.resource_changes.get("delete") == 1
        status, vm_status, _ = ssh_run(migration_lab, "host1", "hosted-engine --vm-status --json")
        hostnames = {e["hostname"] for e in json.loads(vm_status).values() if isinstance(e, dict)}
        assert status == 0 and not any("host2" in h for h in hostnames) and any("host1" in h for h in hostnames)
        assert ssh_run(migration_lab, "host2", "hosted-engine --vm-status")[0] != 0
    finally:
        stack.configure(stack.settings, stack.secrets)
    assert stack.up().summary.resource_changes.get("create") == 1
    assert ssh_run(migration_lab, "host2", "hosted-engine --vm-status")[0] == 0


def test_state_and_commands_hold_no_secret(stack, migration_lab):
    state = stack.export() + stack.stack_file.read_text()
    recorded = Path(migration_lab.state_dir / "commands.jsonl").read_text()
    key_lines = stack.secrets["sshPrivateKey"].splitlines()[2:-1]
    for secret in [ADMIN_PASSWORD, ROOT_PASSWORD, *key_lines]:
        assert secret not in state
        assert secret not in recorded


def test_decommissioning_waits_for_every_node_and_keeps_the_handed_over_machine_off(stack, migration_lab):
    """The gate: a node at score 0 stops it with nothing changed; once every node scores, the decommission is done,
    and the preview said it is the point of no return. The address handover has already powered the original
    machine off, so `ovirt-engine` cannot be masked there: the decommission says so and leaves it off."""
    stack.settings = {**stack.settings, "decommission": {"originalEngine": "keep-disabled"}}
    stack.configure(stack.settings, stack.secrets)
    preview = stack.preview()
    assert preview.change_summary.get("create") == 1
    assert "This is the point of no return: the way back through EngineBackup" in preview.stdout + preview.stderr

    api = migration_lab.engine_connection(new=True, username="admin@internal", password=ADMIN_PASSWORD)
    system = api.system_service()
    here = system.hosts_service().host_service(system.vms_service().list(search="name=HostedEngine")[0].host.id).get()
    resting = "host2" if here.name == "host1" else "host1"
    assert ssh_run(migration_lab, resting, "hosted-engine --set-maintenance --mode=local")[0] == 0
    with pytest.raises(auto.errors.CommandError) as refused:
        stack.up()
    assert (
        f"not decommissioning the original Engine (engine): `hosted-engine --vm-status` shows {resting}.lab.example "
        "with score 0" in str(refused.value)
    )

    assert ssh_run(migration_lab, resting, "hosted-engine --set-maintenance --mode=none")[0] == 0
    events = []
    result = stack.up(on_event=events.append)
    assert result.summary.result == "succeeded" and result.outputs["originalEngine"].value == "powered-off"
    said = " ".join(e.diagnostic_event.message for e in events if e.diagnostic_event)
    assert "is off since the address handover, so `ovirt-engine` could not be masked there" in said
    engine = migration_lab.host_state("engine")
    assert engine["powered_off"] is True and engine["services"]["ovirt-engine"]["enabled"] is False
    assert set(stack.up().summary.resource_changes) <= {"same", "read"}


def test_the_report_opens_in_a_real_browser_with_every_section(stack, tmp_path):
    """The HTML report from the state, loaded by headless Chromium (Debian's, installed by scripts/setup.sh):
    every section is in the page it renders, with the drill, the evidence archive and the decommission."""
    from components import report

    outputs = {k: v.value for k, v in stack.stack.outputs().items()}
    page = tmp_path / "report.html"
    page.write_text(report.to_html(report.from_state("site", json.loads(stack.export()), outputs)))
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is not installed: scripts/setup.sh installs it"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    for section in (
        "Result",
        "Preflight",
        "Steps, in the procedure's order",
        "Hosted-engine nodes (hosted-engine --vm-status score)",
        "High-availability drill",
    ):
        assert f"<h2>{section}</h2>" in dom, section
    drill = outputs["haDrill"]
    assert f"<td>{drill['fromNode']}</td><td>{drill['toNode']}</td>" in dom
    assert outputs["evidence"]["sha256"] in dom and "decommissioned: ovirt-engine masked" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri()], capture_output=True, timeout=120
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000  # a page, not a blank
