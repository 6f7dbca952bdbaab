"""The pure parts of the steps after the move: the decommission gate, the evidence archive's secret scan and
format, and the vm-status reading the drill waits on."""

import io
import json
import tarfile

from providers import host_facts
from providers.decommission import gate_problems
from providers.evidence import archive, leaked, secret_needles

VM_STATUS = json.dumps(
    {
        "1": {
            "hostname": "a",
            "score": 3400,
            "live-data": True,
            "engine-status": {"vm": "up", "health": "good", "detail": "Up"},
        },
        "2": {
            "hostname": "b",
            "score": 3400,
            "live-data": False,
            "engine-status": {"vm": "down", "health": "bad", "detail": "unknown"},
        },
        "global_maintenance": False,
    }
)


def test_the_decommission_gate_names_every_missing_proof():
    assert gate_problems({"host1": 3400, "host2": 0}, VM_STATUS, True, None) == [
        "node host2 scores 0",
        "`hosted-engine --vm-status` shows b with score 3400 (stale)",
        "the HA drill has not passed",
    ]
    assert gate_problems({"host1": 3400}, None, False, None) == [
        "`hosted-engine --vm-status` did not answer on the deployment host"
    ]
    fresh = VM_STATUS.replace('"live-data": false', '"live-data": true')
    assert gate_problems({"host1": 3400}, fresh, True, "host1") == []


def test_the_drill_reads_which_node_runs_the_engine_vm_with_good_health():
    assert host_facts.engine_vm_host(VM_STATUS) == "a"
    assert host_facts.engine_vm_host(VM_STATUS.replace('"good"', '"bad"')) is None
    assert [e["hostname"] for e in host_facts.vm_status_entries(VM_STATUS)] == ["a", "b"]


def test_secrets_are_looked_for_whole_and_a_private_key_line_by_line():
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAline1\nBBBBline2\n-----END OPENSSH PRIVATE KEY-----\n"
    needles = secret_needles(["Pa55word", key, ""])
    assert needles == ["Pa55word", "AAAAline1", "BBBBline2"]
    members = {"deploy/log": b"ok", "engine-vm/setup.log": b"password=Pa55word", "vm-status": b"..BBBBline2.."}
    assert leaked(members, needles) == ["engine-vm/setup.log", "vm-status"]


def test_the_archive_holds_every_member_readable_only_by_its_owner():
    data = archive({"b/two": b"2", "a/one": b"1"}, 1_700_000_000)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert [(m.name, m.mode, tar.extractfile(m).read()) for m in tar.getmembers()] == [
            ("a/one", 0o600, b"1"),
            ("b/two", 0o600, b"2"),
        ]
