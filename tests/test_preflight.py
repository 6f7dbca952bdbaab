"""Preflight (components/preflight/) through the real engine: a site that breaks many prerequisites at
once reports every one of them in ONE failing preview and changes nothing; the default site passes."""

import json

import pytest
import yaml
from pulumi import automation as auto

from lab.ovirt_site import ship_appliance
from lab.testing import LabProcess, run, site_variant
from tests.harness import PROJECT_DIR, PROJECT_NAME, ProjectStack, lab_config

ADMIN_PASSWORD = "lab-admin-password"
READ_ONLY = (
    "hostname -f",
    "getent hosts ",
    "cat /proc/",
    "cat /sys/class/dmi/id/product_uuid",
    "cat /etc/vdsm/vdsm.id",  # original_engine_api: the deployment host's unique id
    "nproc",
    "engine-upgrade-check",
    "rpm -q ",
    "cat /etc/os-release",  # deploy_appliance: the deploy's distribution facts
    "dnf list --quiet ",  # deploy_appliance: the role's own availability check; dnf refreshes only its cache
    "sha1sum ",
    "showmount -e ",
    "stat -c ",
    "df -B1 --output=avail ",
    "du -sb ",  # backup_space: the Engine's databases on disk
    "systemctl is-active ",
    "systemctl show ",
    "virsh -r domcapabilities",
    "virsh -r domstate HostedEngineLocal",  # previous_deploy: a failed attempt's bootstrap VM
    "cat /root/backup/",  # previous_deploy: a failed deploy's record beside the backup's copy
    "ip -o -4 addr show",
    "ip -o link show",
    "ip route show default",
    "cat /usr/share/doc/",  # the appliance's rpm manifest
    "cat /etc/ovirt-engine",  # backup_contents: the original Engine's setup files
    "cat /etc/ovirt-hosted-engine/",
    "qemu-img info ",
    "tar -xzOf ",
)  # appliance_disk: the image


def lab_stack_settings() -> dict:
    config = yaml.safe_load((PROJECT_DIR / "stacks" / "Pulumi.lab.yaml").read_text())["config"]
    prefix = f"{PROJECT_NAME}:"
    return {k[len(prefix) :]: v for k, v in config.items() if not (isinstance(v, dict) and "secure" in v)}


def make_stack(tmp_path_factory, lab, client_key, change=None):
    stack = ProjectStack(tmp_path_factory.mktemp("project"), "preflight")
    settings = {**lab_stack_settings(), **lab_config(lab)}
    settings["engineApi"] = {"url": "https://127.0.0.1:1/ovirt-engine/api", "caFile": lab.info["engine_api"]["ca_file"]}
    settings["originalEngineApi"] = {"url": lab.info["engine_api"]["url"], "caFile": lab.info["engine_api"]["ca_file"]}
    if change:
        change(settings)
    stack.configure(settings, secrets(client_key))
    return stack


def secrets(client_key) -> dict:
    """The stack's secrets for the lab: its SSH key, the lab Engine's admin password, the Engine VM's root's."""
    return {
        "sshPrivateKey": client_key[0].read_text(),
        "adminPassword": ADMIN_PASSWORD,
        "engineRootPassword": "engine-vm-root-Pa55",
    }


def snapshot(lab) -> dict:
    """Every host's files, services and packages, and the original Engine API's state."""
    hosts = {}
    for path in sorted((lab.state_dir / "hosts").glob("*.json")):
        state = json.loads(path.read_text())
        hosts[path.stem] = {k: state[k] for k in ("files", "services", "packages", "multipath_config")}
        # The lab fills in a host's oVirt state (pending updates from the site file) on first read: not a change.
        hosts[path.stem]["ovirt"] = {k: v for k, v in state.get("ovirt", {}).items() if v and k != "update_pending"}
    api = lab.state_dir / "engine-api" / "state.json"
    return {"hosts": hosts, "api": json.loads(api.read_text()) if api.exists() else None}


def assert_read_only(lab, before_count, before_state):
    ran = lab.commands()[before_count:]
    assert ran, "the preflight read nothing from the site"
    assert [c for c in ran if c["kind"] != "exec" or not c["command"].startswith(READ_ONLY)] == []
    after = snapshot(lab)
    diff = {
        h: [k for k in after["hosts"][h] if after["hosts"][h][k] != before_state["hosts"][h][k]] for h in after["hosts"]
    }
    assert after == before_state, diff


def break_site(data, tmp):
    hosts = {h["name"]: h for h in data["hosts"]}
    hosts["engine"]["fqdn"] = "old-engine.lab.example"  # 1: FQDN differs, and has no DNS record
    hosts["engine"]["ram_mb"] = 32768  # 2: more RAM than the VM gets
    deploy = hosts["deploy"]
    deploy["cpu_flags"] = ["sse4_2", "avx2"]  # 8: no virtualization
    deploy["services"] = deploy["services"] + [{"name": "watchdog", "active": True, "enabled": True}]
    deploy["nics"] = [{"name": "ens3", "cidr": "192.0.2.30/24", "mac": "52:54:00:00:00:30"}]
    deploy["gateway"] = None  # 8: no default gateway, no eth0
    hosts["storage"]["disk_avail"] = {"/exports": 50 << 30}  # 10: too small
    exports = next(f for f in hosts["storage"]["files"] if f["path"] == "/etc/exports")
    exports["content"] = "/exports/data          *(rw,sync,no_subtree_check)\n"  # 5: the HE export not exported
    model = yaml.safe_load((PROJECT_DIR / "lab" / "engine_api" / "default_model.yaml").read_text())
    model["clusters"][0]["name"] = "Production"  # 9: no cluster Default
    for host in model["hosts"]:
        host["cluster"] = "Production"
    model["networks"][0]["usages"] = ["management", "display"]  # 4: not a VM network
    model["networks"][0]["clusters"] = ["Production"]
    model["storage_domains"] = []  # 11: no data domain
    model["vms"], model["disks"] = [], []  # (the VMs' disks were on it)
    (tmp / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    data["ovirt"] = {"engine_model": str(tmp / "model.yaml")}
    ship_appliance(deploy, "4.4.10")  # 3: an appliance of Engine 4.4.10


def break_stack(settings):
    settings["backup"]["allowEngineUpdate"] = False  # 3: update pending
    settings["hostedEngine"]["vm"]["staticCIDR"] = "198.51.100.60/24"  # 7: not the host's subnet
    settings.pop("storageExports")  # 5: nothing will export/chown it
    settings["hostedEngineNodes"] = []  # 11: no HA
    settings["haDrill"] = {"enabled": False}  # (the drill would need a node: a config error)


EXPECTED_ERRORS = [
    "`hostedEngine.fqdn` is engine.lab.example, but the original Engine (`roles.originalEngine` = engine) is old-engine.lab.example",
    "engine.lab.example (`hostedEngine.fqdn`) has no forward DNS record",
    "`hostedEngine.vm.memoryMB` is 16384, less than the original Engine machine's 32768 MiB",
    "the original Engine (engine) has updates pending (`engine-upgrade-check`)",
    "set `backup.allowEngineUpdate: true`",
    "the appliance on the deployment host (deploy), ovirt-engine-appliance-4.4-20240101000000.1.el8, holds Engine 4.4.10",
    "the management network ovirtmgmt is not a VM network in the original Engine",
    "the deployment host cannot see the NFS export storage.lab.example:/exports/hosted_engine",
    "storage.lab.example:/exports/hosted_engine (`hostedEngine.storage.connection`) is 0:0 755, not owned by vdsm:kvm (36:36)",
    "`hostedEngine.vm.staticCIDR` 198.51.100.60/24 is not in the deployment host's subnet (192.0.2.0/24",
    "the deployment host (deploy) has no vmx/svm CPU flag",
    "the deployment host (deploy) runs a third-party watchdog",
    "the deployment host (deploy) has no default gateway",
    "`hostedEngine.bridgeInterface` is eth0, which the deployment host (deploy) does not have",
    "`hostedEngine.clusterName` is Default, which the original Engine does not have (it has Production)",
    "has 50.0 GiB available; the hosted-engine storage domain needs at least 74 GiB",
    "`hostedEngine.storage.diskSizeGB` is 51 but storage.lab.example:/exports/hosted_engine has only 50.0 GiB",
]
EXPECTED_WARNINGS = [
    "data centre Default has no data storage domain besides the hosted-engine one",
    "only the deployment host will be a hosted-engine node",
]


@pytest.fixture(scope="module")
def broken_lab(tmp_path_factory, client_key):
    tmp = tmp_path_factory.mktemp("broken-site")
    site = site_variant(tmp / "site.yaml", lambda d: break_site(d, tmp))
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        yield lab


@pytest.fixture(scope="module")
def default_lab(tmp_path_factory, client_key):
    with LabProcess(tmp_path_factory.mktemp("lab"), authorized_keys=[client_key[1]], client_key=client_key[0]) as lab:
        yield lab


def test_a_site_that_breaks_many_prerequisites_reports_all_of_them_in_one_preview_and_changes_nothing(
    tmp_path_factory, broken_lab, client_key
):
    stack = make_stack(tmp_path_factory, broken_lab, client_key, break_stack)
    before_count, before_state = len(broken_lab.commands()), snapshot(broken_lab)
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview()
    text = str(failed.value)
    missing = [m for m in EXPECTED_ERRORS + EXPECTED_WARNINGS if m not in text]
    assert missing == [], text
    assert "preflight found" in text
    assert ADMIN_PASSWORD not in text
    assert_read_only(broken_lab, before_count, before_state)
    assert stack.stack.export_stack().deployment.get("resources") in (None, [])


def test_the_default_site_passes_every_check_with_warnings_only(tmp_path_factory, default_lab, client_key):
    stack = make_stack(tmp_path_factory, default_lab, client_key)
    before_count, before_state = len(default_lab.commands()), snapshot(default_lab)
    result = stack.preview()
    assert result.change_summary.get("create", 0) >= 11
    output = result.stdout + result.stderr  # diagnostics (pulumi.log.warn) come on stderr
    assert "preflight: the original Engine (engine) has updates pending" in output
    assert "`backup.allowEngineUpdate` is true" in output
    assert "reservation for MAC 00:16:3e:4c:61:62" in output
    assert "preflight found" not in output
    assert_read_only(default_lab, before_count, before_state)


def test_api_checks_are_skipped_with_a_note_once_the_original_engine_is_stopped(
    tmp_path_factory, default_lab, client_key
):
    client = default_lab.ssh("engine")
    try:
        assert run(client, "systemctl stop ovirt-engine")[0] == 0
        stack = make_stack(
            tmp_path_factory, default_lab, client_key, lambda s: s["hostedEngine"].update(clusterName="NoSuchCluster")
        )
        result = stack.preview()
        output = result.stdout + result.stderr
        assert "API cannot answer" in output and "checks are skipped" in output
        assert "`hostedEngine.clusterName` is NoSuchCluster" not in output
    finally:
        run(client, "systemctl start ovirt-engine")
        client.close()


def test_an_original_engine_api_that_cannot_be_reached_before_the_backup_fails_the_preview(
    tmp_path_factory, default_lab, client_key
):
    """The stack names no `originalEngineApi` (its default URL, the FQDN's, does not resolve here): an error
    naming the setting and the opt-out, and nothing changed."""
    stack = make_stack(tmp_path_factory, default_lab, client_key, lambda s: s.pop("originalEngineApi"))
    before_count, before_state = len(default_lab.commands()), snapshot(default_lab)
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview()
    text = str(failed.value)
    assert (
        "the original Engine's API at https://engine.lab.example/ovirt-engine/api did not answer before the backup"
        in text
    )
    assert "`originalEngineApi.url` (unset" in text and "`originalEngineApi.check: false`" in text, text
    assert_read_only(default_lab, before_count, before_state)


def test_a_stack_that_opts_out_of_the_api_checks_is_told_they_are_skipped(tmp_path_factory, default_lab, client_key):
    stack = make_stack(
        tmp_path_factory,
        default_lab,
        client_key,
        lambda s: s.update(
            originalEngineApi={"check": False}, hostedEngine={**s["hostedEngine"], "clusterName": "NoSuchCluster"}
        ),
    )
    output = (lambda r: r.stdout + r.stderr)(stack.preview())
    assert "`originalEngineApi.check` is false" in output and "checks are skipped" in output
    assert "`hostedEngine.clusterName` is NoSuchCluster" not in output


DNS_CASES = {
    # The Engine's FQDN resolves to an address of the deployment host.
    "engine-on-deploy": (
        lambda hosts: hosts["engine"].update(address=hosts["deploy"]["address"]),
        "resolves to 192.0.2.30, an address of the deployment host",
    ),
    # The deployment host's address resolves back to another name (the storage server, listed first).
    "deploy-reverse": (
        lambda hosts: hosts["storage"].update(address=hosts["deploy"]["address"]),
        "the reverse DNS record of 192.0.2.30 names storage.lab.example, not she-deploy.lab.example",
    ),
}


@pytest.mark.parametrize("case", sorted(DNS_CASES))
def test_dns_records_that_disagree_fail_the_preview_and_change_nothing(tmp_path_factory, client_key, case):
    change, message = DNS_CASES[case]
    tmp = tmp_path_factory.mktemp(case)
    site = site_variant(tmp / "site.yaml", lambda d: change({h["name"]: h for h in d["hosts"]}))
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        stack = make_stack(tmp_path_factory, lab, client_key)
        before_count, before_state = len(lab.commands()), snapshot(lab)
        with pytest.raises(auto.errors.CommandError) as failed:
            stack.preview()
        assert message in str(failed.value), str(failed.value)
        assert_read_only(lab, before_count, before_state)
