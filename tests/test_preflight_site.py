"""What the restored Engine demands of the whole site (components/preflight/restored_storage.py, cluster_fit.py,
appliance_disk.py): a site that breaks it fails `pulumi preview` naming the host, the domain or the setting and the
fix, with nothing changed; the default site passes. The lab's deploy is the witness: the restored Engine sets the
fresh host Non Operational as ovirt-engine does (lab/engine_api/host_up.py), the SPM's attach of the hosted-engine
domain fails, and the role's pre-checks and boot_disk.py refuse what they refuse."""

import uuid

import pytest

from lab.engine_api.state import SPECS
from lab.testing import LabProcess
from tests.harness import ANSWERS, put, restore_deploy
from tests.test_preflight import make_stack
from tests.test_preflight_restore import (
    check_results,
    failed_preview,
    lab_for,
    model_with,
    passed_preview,
)

DEPLOY_ONLY = "192.0.2.30"
SKYLAKE = ["Skylake-Server", "Skylake-Server-noTSX-IBRS"]  # without the default cluster's Cascadelake-Server-noTSX


def hosts_of(data):
    return {h["name"]: h for h in data["hosts"]}


def add_data2(model):
    """A second NFS data domain of data centre Default, active, on the storage server."""
    model["storage_domains"].append(
        {
            "name": "data2",
            "type": "data",
            "datacenter": "Default",
            "status": "active",
            "storage": {"type": "nfs", "address": "storage.lab.example", "path": "/exports/data2"},
        }
    )


def with_data2(data, tmp, clients="*"):
    storage = hosts_of(data)["storage"]
    storage["directories"].append({"path": "/exports/data2", "mode": 0o755})
    exports = next(f for f in storage["files"] if f["path"] == "/etc/exports")
    exports["content"] += f"/exports/data2         {clients}(rw,sync,no_subtree_check)\n"
    data["ovirt"] = {"engine_model": model_with(tmp, add_data2), "pause_seconds": 0.3}


OLD_LIBVIRT = {"version": "7.6.0", "release": "5.module_el8", "arch": "x86_64"}  # VDSM 4.50.3.4 then lacks level 4.7


def break_site(data, tmp):
    """data2 exported to host1 only; the deployment host without the cluster's CPU model, with a libvirt too old for
    the cluster's level, in FIPS mode against a cluster whose mode is disabled, and without firewalld running."""
    with_data2(data, tmp, clients="192.0.2.41")

    def edit(model):
        add_data2(model)
        model["clusters"][0]["fips_mode"] = "disabled"

    data["ovirt"]["engine_model"] = model_with(tmp, edit)
    deploy = hosts_of(data)["deploy"]
    deploy.update(cpu_models=SKYLAKE, fips=True)
    deploy.setdefault("rpms", {})["libvirt"] = OLD_LIBVIRT
    deploy["services"].append({"name": "firewalld", "active": False, "enabled": False})


@pytest.fixture(scope="module")
def broken_lab(tmp_path_factory, client_key):
    with lab_for(tmp_path_factory, client_key, "broken-site", break_site) as lab:
        yield lab


def hosted_engine_export_to_deploy_only(settings):
    export = next(e for e in settings["storageExports"] if e["path"] == "/exports/hosted_engine")
    export["clients"] = DEPLOY_ONLY


def test_a_site_the_restored_engine_would_refuse_fails_the_preview_naming_each_demand(
    tmp_path_factory, broken_lab, client_key
):
    stack = make_stack(tmp_path_factory, broken_lab, client_key, hosted_engine_export_to_deploy_only)
    text = " ".join(failed_preview(stack, broken_lab).split())
    # 1: a data domain of the data centre the deployment host cannot mount
    assert (
        "the deployment host (deploy) cannot reach the data domain data2 (nfs storage.lab.example:/exports/data2) "
        "of data centre Default: storage.lab.example exports /exports/data2 only to 192.0.2.41" in text
    ), text
    assert "STORAGE_DOMAIN_UNREACHABLE" in text and "give deploy access to it before the backup" in text
    assert "domain data " not in text  # the default data domain is exported to everyone
    # 2: the hosted-engine storage, as `up` will export it, from the SPM and the other Up host
    assert (
        "host1 (`hosts.host1`), the SPM of data centre Default, cannot reach the hosted-engine storage "
        "`hostedEngine.storage` (nfs storage.lab.example:/exports/hosted_engine): `storageExports` exports "
        f"/exports/hosted_engine only to {DEPLOY_ONLY}; the attach of the hosted-engine storage domain runs on it "
        "and fails" in text
    ), text
    assert "host2 (`hosts.host2`), an Up host of data centre Default" in text
    # 3: the cluster's CPU type, FIPS mode, firewalld
    assert (
        "the deployment host (deploy) lacks the CPU feature(s) model_Cascadelake-Server-noTSX of cluster Default's "
        "CPU type Secure Intel Cascadelake Server Family" in text
    ), text
    assert "it fits Secure Intel Skylake Server Family at most" not in text  # no ssbd/md_clear on the lab CPU
    assert "it fits Intel Skylake Server Family at most" in text and "(event 515)" in text
    assert (
        "the deployment host's VDSM (deploy: vdsm 4.50.3.4, libvirt 7.6.0, qemu-kvm 6.2.0) supports cluster levels "
        "4.2,4.3,4.4,4.5,4.6, not 4.7 of cluster Default" in text
    ), text
    assert "(VDS_CLUSTER_VERSION_NOT_SUPPORTED, event 154)" in text
    assert (
        "FIPS mode is enabled on the deployment host (deploy; /proc/sys/crypto/fips_enabled) but disabled in "
        "cluster Default" in text
    )
    assert "`fips-mode-setup --disable` on deploy and reboot it before the backup" in text
    assert "firewalld is not running on the deployment host (deploy; SubState=dead, LoadState=loaded)" in text
    assert "`systemctl unmask firewalld && systemctl enable --now firewalld` there" in text


def test_a_custom_appliance_that_is_not_an_ova_fails_the_preview(tmp_path_factory, broken_lab, client_key):
    image = "/usr/share/ovirt-engine-appliance/manifest.qcow2"  # any file that is not a gzipped tar
    client = broken_lab.ssh("deploy")
    try:
        put(client, image, b"QFI\xfb" + b"\0" * 508)
    finally:
        client.close()
    stack = make_stack(tmp_path_factory, broken_lab, client_key, lambda s: s["hostedEngine"].update(applianceOva=image))
    text = " ".join(failed_preview(stack, broken_lab).split())
    assert f"the appliance OVA {image} on the deployment host (deploy) holds no readable OVF disk size" in text, text
    assert "give `hostedEngine.applianceOva` an OVA (a qcow2 is refused), or leave it empty" in text


# --- the default site ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_lab(tmp_path_factory, client_key):
    with LabProcess(tmp_path_factory.mktemp("lab"), authorized_keys=[client_key[1]], client_key=client_key[0]) as lab:
        yield lab


def test_the_default_site_meets_the_restored_engines_demands(tmp_path_factory, default_lab, client_key):
    output = passed_preview(make_stack(tmp_path_factory, default_lab, client_key), default_lab)
    results = check_results(output)
    assert (results.get("restored_storage"), results.get("cluster_fit")) == ("passed", "passed"), results
    assert "/storagedomains" in output  # restored_storage read the data centre's domains


# --- the witness: the lab's deploy --------------------------------------------------------------------------


def assert_no_new_engine(lab, out):
    assert "engine_api_new" not in lab.refresh(), out


def cpu_lacking(data, tmp):
    hosts_of(data)["deploy"]["cpu_models"] = SKYLAKE
    data["ovirt"] = {"pause_seconds": 0.3}


def libvirt_too_old(data, tmp):
    hosts_of(data)["deploy"].setdefault("rpms", {})["libvirt"] = OLD_LIBVIRT
    data["ovirt"] = {"pause_seconds": 0.3}


def data2_for_host1(data, tmp):
    with_data2(data, tmp, clients="192.0.2.41")


@pytest.mark.parametrize(
    "name,modify,error",
    [
        (
            "cpu",
            cpu_lacking,
            "code 515: Host she-deploy.lab.example moved to Non-Operational state as host does not meet the "
            "cluster's minimum CPU level. Missing CPU features : model_Cascadelake-Server-noTSX,",
        ),
        (
            "cluster-level",
            libvirt_too_old,
            "code 154: Host she-deploy.lab.example is compatible with versions (4.2,4.3,4.4,4.5,4.6) and cannot join "
            "Cluster Default which is set to version 4.7.,",
        ),
        (
            "storage",
            data2_for_host1,
            "code 522: Host she-deploy.lab.example cannot access the Storage Domain(s) data2 attached to the Data "
            "Center Default. Setting Host state to Non-Operational.,",
        ),
    ],
)
def test_the_restored_engine_sets_a_host_that_does_not_fit_non_operational_and_the_deploy_pauses_then_fails(
    tmp_path_factory, client_key, name, modify, error
):
    with lab_for(tmp_path_factory, client_key, name, modify) as lab:
        status, out, _ = restore_deploy(lab, pauses=True)
        assert status == 1 and f"The host has been set in non_operational status, deployment errors: {error}" in out
        assert "Check if the host is up" in out and f"{error} fix accordingly and re-deploy." in out
        assert "Add storage domain" not in out
        assert_no_new_engine(lab, out)


def test_the_spm_that_cannot_reach_the_hosted_engine_storage_fails_its_attach(tmp_path_factory, client_key):
    def restrict(data, tmp):
        exports = next(f for f in hosts_of(data)["storage"]["files"] if f["path"] == "/etc/exports")
        exports["content"] = exports["content"].replace(
            "/exports/hosted_engine *(", f"/exports/hosted_engine {DEPLOY_ONLY}("
        )

    with lab_for(tmp_path_factory, client_key, "spm", restrict) as lab:
        status, out, _ = restore_deploy(lab)
        assert status == 1 and "TASK [ovirt.ovirt.hosted_engine_setup : Add storage domain]" in out, out
        assert "Storage domain cannot be reached. Please ensure it is accessible from the host(s)." in out
        assert_no_new_engine(lab, out)


def test_the_deploy_refuses_a_host_without_firewalld_running(tmp_path_factory, client_key):
    def no_firewalld(data, tmp):
        hosts_of(data)["deploy"]["services"].append({"name": "firewalld", "active": False, "enabled": True})

    with lab_for(tmp_path_factory, client_key, "firewalld", no_firewalld) as lab:
        status, out, _ = restore_deploy(lab)
        assert status == 1 and "firewalld is required to be enabled and active in order to correctly deploy" in out
        assert "Start libvirt" not in out
        assert_no_new_engine(lab, out)


def test_the_deploy_refuses_a_custom_appliance_that_is_not_a_gzipped_tar(tmp_path_factory, default_lab):
    client = default_lab.ssh("deploy")
    try:
        put(client, "/root/appliance.qcow2", b"QFI\xfb" + b"\0" * 508)
    finally:
        client.close()
    status, out, _ = restore_deploy(  # stops at the customization: the original machine stays on for the next tests
        default_lab, dict(ANSWERS, **{"OVEHOSTED_VM/ovfArchive": "str:/root/appliance.qcow2"}), hand_over=False
    )
    assert status == 1 and "[ ERROR ] Failed to execute stage 'Environment customization': not a gzip file" in out, out
    assert_no_new_engine(default_lab, out)


# --- the deployment host's old record (restore_host_redeploy.yml) ------------------------------------------


def old_record(name, uuid=None):
    """The original Engine knows the deployment host's name as the address of host NAME (system UUID UUID), in
    maintenance in cluster Default."""

    def modify(data, tmp):
        def edit(model):
            record = {"name": name, "address": "she-deploy.lab.example", "cluster": "Default", "status": "maintenance"}
            if uuid:
                record["hardware"] = dict(SPECS["hosts"]["hardware"], uuid=uuid.upper())  # the restore upper()s both
            model["hosts"].append(record)

        data["ovirt"] = {"engine_model": model_with(tmp, edit)}

    return modify


def test_an_old_record_of_the_deployment_host_under_another_name_fails_the_preview_and_the_deploy(
    tmp_path_factory, client_key
):
    with lab_for(tmp_path_factory, client_key, "old-record", old_record("old-deploy")) as lab:
        text = " ".join(failed_preview(make_stack(tmp_path_factory, lab, client_key), lab).split())
        assert (
            "the original Engine has host old-deploy in cluster Default with the deployment host's name "
            "she-deploy.lab.example as its address, and the restore keeps it" in text
        ), text
        assert "Remove old-deploy from the original Engine, or rename it she-deploy.lab.example" in text
        status, out, _ = restore_deploy(lab)
        assert status == 1 and "Host is not up, please check logs, perhaps also on the engine machine" in out, out
        assert_no_new_engine(lab, out)


@pytest.mark.parametrize(
    "record",
    [
        old_record("she-deploy.lab.example"),  # its name is the deploy's host name
        old_record("old-deploy", str(uuid.uuid5(uuid.NAMESPACE_DNS, "she-deploy.lab.example"))),  # its unique id
    ],
    ids=["by-name", "by-unique-id"],
)
def test_an_old_record_of_the_deployment_host_is_removed_by_the_restore(tmp_path_factory, client_key, record):
    with lab_for(tmp_path_factory, client_key, "named-record", record) as lab:
        output = " ".join(passed_preview(make_stack(tmp_path_factory, lab, client_key), lab).split())
        assert "in the backed-up environment: it will be removed" in output, output
        status, out, _ = restore_deploy(lab)
        assert status == 0, out
        connection = lab.engine_connection(new=True)
        try:
            hosts = connection.system_service().hosts_service().list()
        finally:
            connection.close()
        assert "old-deploy" not in [h.name for h in hosts]
        (host,) = [h for h in hosts if h.name == "she-deploy.lab.example"]
        assert host.status.value == "up"  # the fresh record the deploy added


# --- the vNIC profile of the Engine VM's NIC (01_create_target_hosted_engine_vm.yml) ------------------------


def without_ovirtmgmt_profile(data, tmp):
    """The management network's only vNIC profile was renamed."""

    def edit(model):
        model["networks"][0]["vnic_profiles"] = ["management"]

    data["ovirt"] = {"engine_model": model_with(tmp, edit)}


def test_a_cluster_without_the_ovirtmgmt_vnic_profile_fails_the_preview_and_the_deploys_add_vm(
    tmp_path_factory, client_key
):
    with lab_for(tmp_path_factory, client_key, "profile", without_ovirtmgmt_profile) as lab:
        connection = lab.engine_connection()
        try:
            (profile,) = connection.system_service().vnic_profiles_service().list()
        finally:
            connection.close()
        assert profile.name == "management"
        text = " ".join(failed_preview(make_stack(tmp_path_factory, lab, client_key), lab).split())
        assert "no network of cluster Default has a vNIC profile named ovirtmgmt" in text, text
        assert "add a vNIC profile ovirtmgmt to the management network of Default" in text
        status, out, _ = restore_deploy(lab)
        assert status == 1 and "Profile 'ovirtmgmt' was not found in cluster 'Default'" in out, out
        assert "Copy local VM disk to shared storage" not in out
        assert_no_new_engine(lab, out)


# --- fencing (restore_backup.yml, 02_engine_vm_configuration.yml) --------------------------------------------


def power_managed(data, tmp):
    def edit(model):
        model["hosts"][0]["power_management"] = {"enabled": True}

    data["ovirt"] = {"engine_model": model_with(tmp, edit)}


def test_the_preview_names_the_hosts_the_new_engine_could_fence(tmp_path_factory, client_key, default_lab):
    assert "may fence" not in passed_preview(make_stack(tmp_path_factory, default_lab, client_key), default_lab)
    with lab_for(tmp_path_factory, client_key, "fencing", power_managed) as lab:
        output = " ".join(passed_preview(make_stack(tmp_path_factory, lab, client_key), lab).split())
        assert "once the new Engine runs it may fence (power-cycle) host1 if it stops answering" in output, output


# --- 4: the FQDN's address, which the Engine VM takes over ---------------------------------------------------


def test_the_preview_says_who_holds_the_fqdns_address_and_wants_the_handover_named(
    tmp_path_factory, client_key, default_lab
):
    def unset(settings):
        settings["hostedEngine"].pop("addressHandover")

    text = " ".join(failed_preview(make_stack(tmp_path_factory, default_lab, client_key, unset), default_lab).split())
    assert (
        "engine.lab.example resolves to 192.0.2.10, which the original Engine machine engine holds, and the Engine VM "
        "must take that address" in text
    ), text
    assert "Set `hostedEngine.addressHandover: power-off` to shut it down after the backup is copied off" in text
    output = passed_preview(make_stack(tmp_path_factory, default_lab, client_key), default_lab)
    assert "engine.lab.example (192.0.2.10) is answered by the original Engine machine engine today" in output
    assert check_results(output).get("engine_address") == "warned", check_results(output)


def test_the_deploy_fails_at_its_last_wait_while_the_original_machine_keeps_the_address(tmp_path_factory, client_key):
    """Both machines on one address: the HA agent's liveliness check reaches the old one (Apache, no Engine), the
    role's health wait runs out and its rescue finds the VM running on the FQDN's address."""
    with lab_for(tmp_path_factory, client_key, "duplicate", lambda data, tmp: None) as lab:
        status, out, _ = restore_deploy(lab, hand_over=False)
        assert status == 1 and "The engine failed to start inside the engine VM; please check engine.log." in out, out
        assert "Wait for the engine to come up on the target VM" in out
        assert_no_new_engine(lab, out)


def test_the_deploy_fails_when_the_vms_static_address_is_not_the_fqdns(tmp_path_factory, client_key):
    with lab_for(tmp_path_factory, client_key, "static", lambda data, tmp: None) as lab:
        static = {
            **ANSWERS,
            "OVEHOSTED_VM/cloudinitVMStaticCIDR": "str:192.0.2.60/24",
            "OVEHOSTED_VM/cloudinitVMDNS": "str:192.0.2.53",
        }
        status, out, _ = restore_deploy(lab, answers=static)
        assert status == 1, out
        assert (
            "Engine VM IP address is 192.0.2.60 while the engine's he_fqdn engine.lab.example resolves to "
            "192.0.2.10. If you are using DHCP, check your DHCP reservation configuration" in out
        )
        assert_no_new_engine(lab, out)


def test_too_little_room_for_the_backup_is_said_at_preview(tmp_path_factory, client_key):
    """The Engine's databases take 20 GiB on disk; the backup server has 5 GiB where the backup goes."""

    def modify(data, _):
        hosts = {h["name"]: h for h in data["hosts"]}
        hosts["engine"]["disk_used"] = {"/var/lib/pgsql/data": 20 << 30}
        hosts["backup"]["disk_avail"] = {"/": 5 << 30}

    with lab_for(tmp_path_factory, client_key, "small-backup-disk", modify) as lab:
        text = " ".join(passed_preview(make_stack(tmp_path_factory, lab, client_key), lab).split())
        assert (
            "backup:/backup (`backup.directory`) has 5.0 GiB available, and the backup may need up to 20.0 GiB (the "
            "Engine's databases on disk, /var/lib/pgsql/data on engine)" in text
        ), text
        assert "deploy:/root/backup" not in text and "engine:/tmp" not in text


DATA_TARGET = "iqn.2003-01.org.linux-iscsi.storage.x8664:sn.data"
DATA_LUN = "36001405d0c0ffee000000000000000b1"
SAN_INITIATORS = [f"iqn.1994-05.com.redhat:{h}" for h in ("she-deploy", "host1", "host2")]


def chap_data_domain(user, password="san-Pa55"):
    """A data domain on an iSCSI target that asks CHAP user sanuser of its ACL's initiators; the original Engine's
    connection of the domain keeps USER and PASSWORD."""

    def modify(data, tmp):
        target = next(t for t in data["storage"]["iscsi"]["targets"] if t["iqn"] == DATA_TARGET)
        target.update(acl=SAN_INITIATORS, chap={"userid": "sanuser", "password": "san-Pa55"})
        unit = {"id": DATA_LUN, "address": "192.0.2.20", "port": 3260, "target": DATA_TARGET}
        storage = {"type": "iscsi", "logical_units": [{**unit, "username": user, "password": password}]}
        domain = {"name": "san-data", "type": "data", "datacenter": "Default", "status": "active", "storage": storage}
        data["ovirt"] = {
            "engine_model": model_with(tmp, lambda m: m["storage_domains"].append(domain)),
            "pause_seconds": 0.3,
        }

    return modify


def test_a_data_domain_whose_chap_user_the_target_refuses_fails_the_preview(tmp_path_factory, client_key):
    with lab_for(tmp_path_factory, client_key, "chap-user", chap_data_domain("otheruser")) as lab:
        text = " ".join(failed_preview(make_stack(tmp_path_factory, lab, client_key), lab).split())
        assert (
            f"the deployment host (deploy) cannot reach the data domain san-data (iscsi LUN(s) {DATA_LUN}) of data "
            f"centre Default: target {DATA_TARGET} asks CHAP user sanuser of iqn.1994-05.com.redhat:she-deploy, and "
            f"the Engine logs in to it as otheruser"
        ) in text, text


def test_a_chap_password_the_api_does_not_give_is_a_doubt_and_the_restored_engine_is_the_judge(
    tmp_path_factory, client_key
):
    """The user matches, the password the Engine keeps does not: the preview can only warn; the restored Engine sets
    the fresh host Non Operational (522) as upstream's connectStorageServer login fails."""
    with lab_for(tmp_path_factory, client_key, "chap-password", chap_data_domain("sanuser", "wrong")) as lab:
        text = " ".join(passed_preview(make_stack(tmp_path_factory, lab, client_key), lab).split())
        assert "asks CHAP of iqn.1994-05.com.redhat:she-deploy and the Engine's connection has the user sanuser" in text
        status, out, _ = restore_deploy(lab, pauses=True)
        assert (
            status == 1 and "code 522: Host she-deploy.lab.example cannot access the Storage Domain(s) san-data" in out
        )
