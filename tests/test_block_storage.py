"""Block and Gluster storage (procedure 3, 3.2, 3.3 and 6.18): the lab's storage commands with real paramiko
(lab/commands/storage.py), and the preflight's storage checks through the real engine: a site whose
hosted-engine storage breaks a prerequisite fails its preview with the message naming the setting and the
fix, and changes nothing; a valid iSCSI site passes them."""

import pytest
import yaml
from pulumi import automation as auto

from lab.testing import LabProcess, run, site_variant
from tests.harness import PROJECT_DIR
from tests.test_preflight import READ_ONLY, make_stack, snapshot

HE_TARGET = "iqn.2003-01.org.linux-iscsi.storage.x8664:sn.hosted-engine"
DATA_TARGET = "iqn.2003-01.org.linux-iscsi.storage.x8664:sn.data"
HE_LUN = "36001405d0c0ffee000000000000000a1"
DATA_LUN = "36001405d0c0ffee000000000000000b1"
FC_LUN = "3600a098038303053453f463045727a41"
STORAGE_READS = READ_ONLY + (
    "blockdev --getss ",
    "blkid -p ",
    "iscsiadm -m discovery -t sendtargets ",
    "gluster volume info ",
    "cat /etc/",
)


# --- the lab's commands, with real paramiko ------------------------------------------------------------


@pytest.fixture(scope="module")
def clients(lab):
    opened = {name: lab.ssh(name) for name in ("deploy", "host1", "storage", "engine")}
    yield opened
    for client in opened.values():
        client.close()


def test_blockdev_reports_the_logical_sector_size_of_a_multipath_device(clients):
    assert run(clients["deploy"], f"blockdev --getss /dev/mapper/{HE_LUN}") == (0, "512\n", "")
    assert run(clients["host1"], f"blockdev --getsize64 /dev/mapper/{FC_LUN}") == (0, f"{100 << 30}\n", "")
    status, out, err = run(clients["deploy"], "blockdev --getss /dev/mapper/36000000000000000000000000000dead")
    assert (status, out) == (1, "") and "cannot open /dev/mapper/36000000000000000000000000000dead" in err
    status, _, err = run(clients["storage"], f"blockdev --getss /dev/mapper/{HE_LUN}")
    assert status == 1, "the storage server does not see the LUNs as a SAN host"


def test_blkid_probe_exits_2_on_an_empty_lun(clients):
    assert run(clients["deploy"], f"blkid -p /dev/mapper/{FC_LUN}") == (2, "", "")


def test_multipath_lists_every_lun_the_host_sees(clients):
    status, out, _ = run(clients["deploy"], "multipath -ll")
    assert status == 0
    for wwid in (HE_LUN, DATA_LUN, FC_LUN):
        assert f"\n{wwid} dm-" in "\n" + out
    assert "size=100G features='0' hwhandler='1 alua' wp=rw" in out
    assert "active ready running" in out


def test_iscsiadm_sendtargets_discovery_lists_portal_tpgt_and_target(clients, lab):
    status, out, err = run(
        clients["deploy"], "iscsiadm -m discovery -t sendtargets -p storage.lab.example -o nonpersistent"
    )
    assert status == 0, err
    assert out.splitlines() == [f"192.0.2.20:3260,1 {HE_TARGET}", f"192.0.2.20:3260,1 {DATA_TARGET}"]
    assert run(clients["deploy"], "iscsiadm -m node") == (21, "", "iscsiadm: No records found\n")
    # discovery without -o nonpersistent records the nodes, as the real tool does
    assert run(clients["host1"], "iscsiadm -m discovery -t st -p 192.0.2.20:3260")[0] == 0
    status, out, _ = run(clients["host1"], "iscsiadm -m node")
    assert status == 0 and f"192.0.2.20:3260,1 {HE_TARGET}" in out.splitlines()


def test_iscsiadm_exit_statuses_follow_open_iscsi(clients):
    status, _, err = run(clients["deploy"], "iscsiadm -m discovery -t sendtargets -p 192.0.2.99")
    assert status == 4 and "Could not perform SendTargets discovery: encountered connection failure" in err
    status, _, err = run(clients["deploy"], "iscsiadm -m discovery -t sendtargets -p no-such.lab.example")
    assert status == 7 and "cannot resolve host name no-such.lab.example" in err
    status, _, err = run(clients["engine"], "iscsiadm -m node")
    assert status == 127


def test_iscsiadm_login_is_refused_with_status_24_for_an_initiator_outside_the_acl(clients):
    client = clients["host1"]
    run(client, "iscsiadm -m discovery -t sendtargets -p 192.0.2.20")
    status, out, _ = run(client, f"iscsiadm -m node -T {HE_TARGET} -p 192.0.2.20:3260 -l")
    assert status == 0 and f"Login to [iface: default, target: {HE_TARGET}, portal: 192.0.2.20,3260] successful." in out
    assert (
        run(
            client,
            "mkdir -p /etc/iscsi && echo InitiatorName=iqn.1994-05.com.redhat:stranger > /etc/iscsi/initiatorname.iscsi",
        )[0]
        == 0
    )
    try:
        status, out, err = run(client, f"iscsiadm -m node -T {HE_TARGET} -p 192.0.2.20:3260 -l")
        assert status == 24
        assert "iscsiadm: initiator reported error (24 - iSCSI login failed due to authorization failure)" in err
        assert run(client, f"iscsiadm -m node -T {DATA_TARGET} -p 192.0.2.20:3260 -l")[0] == 0, "no ACL: anyone may"
    finally:  # host1 is the SPM that later previews check: it gets its own IQN back (the site's, once no file)
        assert run(client, "rm /etc/iscsi/initiatorname.iscsi")[0] == 0


def test_initiator_name_and_the_lio_configuration_are_readable(clients):
    assert run(clients["deploy"], "cat /etc/iscsi/initiatorname.iscsi") == (
        0,
        "InitiatorName=iqn.1994-05.com.redhat:she-deploy\n",
        "",
    )
    status, out, _ = run(clients["storage"], "cat /etc/target/saveconfig.json")
    assert status == 0
    targets = {t["wwn"]: t["tpgs"][0] for t in yaml.safe_load(out)["targets"]}
    assert targets[HE_TARGET]["attributes"]["generate_node_acls"] == 0
    assert "iqn.1994-05.com.redhat:she-deploy" in [a["node_wwn"] for a in targets[HE_TARGET]["node_acls"]]
    assert targets[DATA_TARGET]["attributes"]["generate_node_acls"] == 1


def test_gluster_volume_info_prints_the_cli_layout(clients):
    status, out, _ = run(clients["storage"], "gluster volume info engine")
    assert status == 0
    lines = out.splitlines()
    assert lines[:2] == ["", "Volume Name: engine"]
    for expected in (
        "Type: Replicate",
        "Status: Started",
        "Number of Bricks: 1 x 3 = 3",
        "Transport-type: tcp",
        "Bricks:",
        "Brick1: storage.lab.example:/gluster_bricks/engine/engine",
        "Options Reconfigured:",
        "features.shard: on",
        "performance.strict-o-direct: on",
        "network.remote-dio: off",
        "storage.owner-uid: 36",
        "network.ping-timeout: 30",
    ):
        assert expected in lines, expected
    assert any(line.startswith("Volume ID: ") for line in lines)
    assert run(clients["storage"], "gluster volume info nosuch") == (1, "", "Volume nosuch does not exist\n")
    assert run(clients["deploy"], "gluster volume info engine")[0] == 127


def test_host_prints_bind_forward_and_reverse_answers(clients):
    client = clients["deploy"]
    assert run(client, "host storage.lab.example") == (0, "storage.lab.example has address 192.0.2.20\n", "")
    assert run(client, "host 192.0.2.20") == (
        0,
        "20.2.0.192.in-addr.arpa domain name pointer storage.lab.example.\n",
        "",
    )
    assert run(client, "host nosuch.lab.example") == (1, "Host nosuch.lab.example not found: 3(NXDOMAIN)\n", "")
    assert run(client, "host 192.0.2.199") == (1, "Host 199.2.0.192.in-addr.arpa. not found: 3(NXDOMAIN)\n", "")


# --- the preflight's storage checks, through the real engine ---------------------------------------------


def assert_storage_read_only(lab, before_count, before_state):
    ran = lab.commands()[before_count:]
    assert ran, "the preflight read nothing from the site"
    assert [c for c in ran if c["kind"] != "exec" or not c["command"].startswith(STORAGE_READS)] == []
    assert any(c["command"].startswith(STORAGE_READS[len(READ_ONLY) :]) for c in ran), "no storage fact was read"
    assert snapshot(lab) == before_state


def break_storage(data, tmp):
    storage = data["storage"]
    luns = {lun["wwid"]: lun for lun in storage["luns"]}
    luns[HE_LUN]["block_size"] = 4096  # 3.2: a 4K LUN
    luns[FC_LUN]["data"] = "LVM2_member"  # 6.18: the FC LUN holds data
    he_target = next(t for t in storage["iscsi"]["targets"] if t["iqn"] == HE_TARGET)
    he_target["acl"] = ["iqn.1994-05.com.redhat:host1"]  # 6: the deployment host is not in the ACL
    storage["gluster"]["volumes"][0].update(  # 6.18: replica 2, options missing
        replica=2,
        bricks=["storage.lab.example:/gluster_bricks/engine/engine", "host1.lab.example:/gluster_bricks/engine/engine"],
        groups=[],
        options={"storage.owner-uid": "36", "network.remote-dio": "enable"},
    )
    model = yaml.safe_load((PROJECT_DIR / "lab" / "engine_api" / "default_model.yaml").read_text())
    model["storage_domains"].append(
        {
            "name": "san-data",
            "type": "data",
            "datacenter": "Default",
            "status": "active",
            "storage": {
                "type": "iscsi",
                "logical_units": [  # 3: shared target
                    {"id": DATA_LUN, "address": "192.0.2.20", "port": 3260, "target": HE_TARGET}
                ],
            },
        }
    )
    (tmp / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    data["ovirt"] = {"engine_model": str(tmp / "model.yaml")}


ISCSI = {
    "type": "iscsi",
    "portal": "storage.lab.example",
    "port": 3260,
    "target": HE_TARGET,
    "lun": HE_LUN,
    "diskSizeGB": 51,
}
FC = {"type": "fc", "lun": FC_LUN, "diskSizeGB": 51}
GLUSTER = {"type": "glusterfs", "connection": "storage.lab.example:/engine", "diskSizeGB": 51}


@pytest.fixture(scope="module")
def broken_storage_lab(tmp_path_factory, client_key):
    tmp = tmp_path_factory.mktemp("broken-storage")
    site = site_variant(tmp / "site.yaml", lambda d: break_storage(d, tmp))
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        yield lab


def failing_preview(tmp_path_factory, lab, client_key, storage):
    stack = make_stack(tmp_path_factory, lab, client_key, lambda s: s["hostedEngine"].update(storage=storage))
    before_count, before_state = len(lab.commands()), snapshot(lab)
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview()
    assert_storage_read_only(lab, before_count, before_state)
    assert stack.stack.export_stack().deployment.get("resources") in (None, [])
    return str(failed.value)


def assert_all_in(expected, text):
    assert [m for m in expected if m not in text] == [], text


def test_an_iscsi_lun_with_4k_blocks_on_a_shared_target_fails_the_preview(
    tmp_path_factory, broken_storage_lab, client_key
):
    text = failing_preview(tmp_path_factory, broken_storage_lab, client_key, ISCSI)
    assert_all_in(
        [
            "preflight found",
            f"LUN {HE_LUN} (`hostedEngine.storage.lun`) has 4096-byte logical blocks (`blockdev --getss /dev/mapper/{HE_LUN}` on deploy)",
            "configure the LUN in legacy 512-byte mode",
            f"iSCSI target {HE_TARGET} (`hostedEngine.storage.target`) is already used by storage domain san-data of the original Engine",
            "create a new target for it and set `hostedEngine.storage.target`",
            # the procedure's STORAGE_DOMAIN_UNREACHABLE case, a warning
            "filters connections by initiator ACL and the deployment host's IQN iqn.1994-05.com.redhat:she-deploy is not in it",
        ],
        text,
    )


def test_an_fc_lun_holding_data_fails_the_preview(tmp_path_factory, broken_storage_lab, client_key):
    text = failing_preview(tmp_path_factory, broken_storage_lab, client_key, FC)
    assert_all_in(
        [
            f"FC LUN {FC_LUN} (`hostedEngine.storage.lun`) holds existing data (`blkid -p /dev/mapper/{FC_LUN}`: LVM2_member)",
            f"`wipefs -a /dev/mapper/{FC_LUN}`",
        ],
        text,
    )
    assert "4096-byte" not in text


def test_a_replica_2_gluster_volume_missing_options_fails_the_preview(tmp_path_factory, broken_storage_lab, client_key):
    text = failing_preview(tmp_path_factory, broken_storage_lab, client_key, GLUSTER)
    assert_all_in(
        [
            "gluster volume engine (`hostedEngine.storage.connection`) is replica 2 (`Number of Bricks: 1 x 2 = 2`): only "
            "replica 1 and replica 3 Gluster storage are supported",
            "run `gluster volume set engine group virt`",
            "run `gluster volume set engine performance.strict-o-direct on`",
            "lacks network.remote-dio off, it is enable: run `gluster volume set engine network.remote-dio off`",
            "run `gluster volume set engine storage.owner-gid 36`",
            "run `gluster volume set engine network.ping-timeout 30`",
        ],
        text,
    )
    assert "storage.owner-uid 36`" not in text


def test_a_valid_iscsi_site_passes_the_storage_checks(tmp_path_factory, lab, client_key):
    stack = make_stack(tmp_path_factory, lab, client_key, lambda s: s["hostedEngine"].update(storage=ISCSI))
    before_count, before_state = len(lab.commands()), snapshot(lab)
    result = stack.preview()
    output = result.stdout + result.stderr
    assert "preflight found" not in output
    warnings = [line for line in output.splitlines() if "warning:" in line]
    assert not [w for w in warnings if "LUN" in w or "iSCSI" in w], warnings
    assert result.change_summary.get("create", 0) >= 11
    assert_storage_read_only(lab, before_count, before_state)
    ran = [(c["host"], c["command"]) for c in lab.commands()[before_count:]]
    assert ("deploy", "iscsiadm -m discovery -t sendtargets -p storage.lab.example:3260 -o nonpersistent") in ran
    assert ("deploy", f"blockdev --getss /dev/mapper/{HE_LUN}") in ran
    assert ("storage", "cat /etc/target/saveconfig.json") in ran
