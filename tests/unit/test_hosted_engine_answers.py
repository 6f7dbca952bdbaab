"""The deploy's answer file against the questions upstream's deploy asks (the lab's table of them, read
from ovirt-hosted-engine-setup's plugins), and the provider's readings of what the deploy and the HA
agents print: facts in, decisions out, no host.
"""

import itertools
import json

import pytest

from lab.commands import hosted_engine_questions as questions
from lab.commands.ovirt import parse_answer_file
from providers.host_facts import vm_status_score
from providers.hosted_engine_deployment import answer_file, answers, engine_vm_mac, modules_to_enable
from providers.remote_job import new_lines, unit_state
from tests.harness import OLD_ANSWER_FILE

SETUP_VERSIONS = ["2.4.9", "2.5.4-2", "2.6.6", "2.7.2"]  # 4.4.x (2.4, 2.5.4-2 on ovirt-4.4) and 4.5.x
STORAGE = {
    "nfs": {"type": "nfs", "connection": "storage.example.com:/exports/he", "nfsVersion": "v4_2", "mountOptions": ""},
    "glusterfs": {"type": "glusterfs", "connection": "storage.example.com:/engine", "mountOptions": ""},
    "iscsi": {
        "type": "iscsi",
        "portal": "192.0.2.20",
        "port": 3260,
        "target": "iqn.2003-01.org.example:he",
        "lun": "36001405d0c0ffee000000000000000a1",
        "discoverUser": "",
        "portalUser": "",
    },
    "fc": {"type": "fc", "lun": "36001405d0c0ffee000000000000000c1"},
}


def props(storage, static, mac):
    vm = {
        "memoryMB": 16384,
        "vcpus": 4,
        "rootSshAccess": "without-password",
        "fips": False,
        "etcHosts": True,
        "openScapProfile": None,
    }
    if static:
        vm.update(staticCIDR="192.0.2.60/24", dns=["192.0.2.1"])
    if mac:
        vm["macAddress"] = "00:16:3e:4c:61:62"
    return {
        "fqdn": "engine.example.com",
        "hostName": "she-host.example.com",
        "bridgeInterface": "eth0",
        "gateway": "192.0.2.1",
        "networkTest": {"type": "dns"},
        "dataCenterName": "Default",
        "clusterName": "Default",
        "renewPki": False,
        "enableKeycloak": False,
        "applianceOva": "",
        "adminPassword": "secret",
        "engineRootPassword": "secret",
        "rootSshPublicKey": "ssh-ed25519 AAAA",
        "storageDomainName": "hosted_storage",
        "vm": vm,
        "storage": {"diskSizeGB": 51, **STORAGE[storage]},
        "smtp": {"server": "localhost", "port": 25, "sender": "root@localhost", "recipients": ["root@localhost"]},
    }


def asked(text, version):
    """Goes through every stage as the deploy would with this answer file; the first question left open."""
    deploy = questions.Deploy(parse_answer_file(text), questions.setup_version(version))
    try:
        for stage in (questions.SETUP, questions.CUSTOMIZATION, questions.VALIDATION, questions.CLOSEUP):
            questions.ask(deploy, stage, lambda line: None)
    except questions.Unanswered as missing:
        return missing.question.key
    return None


@pytest.mark.parametrize(
    "version,storage,static,mac", list(itertools.product(SETUP_VERSIONS, STORAGE, (False, True), (False, True)))
)
def test_the_answer_file_leaves_no_question_open(version, storage, static, mac):
    assert asked(answer_file(answers(props(storage, static, mac))), version) is None


@pytest.mark.parametrize(
    "version,first", [("2.7.2", "OVEHOSTED_CORE/forceIpProceed"), ("2.4.9", "OVEHOSTED_NETWORK/network_test")]
)
def test_the_old_answer_file_stops_at_an_unanswered_question(version, first):
    assert asked(OLD_ANSWER_FILE, version) == first


def test_dhcp_is_bool_false_and_a_missing_mac_gets_a_stable_unicast_one():
    found = answers(props("nfs", static=False, mac=False))
    assert "OVEHOSTED_VM/cloudinitVMStaticCIDR=bool:False\n" in answer_file(found)
    assert found["OVEHOSTED_VM/vmMACAddr"] == engine_vm_mac("engine.example.com")
    assert questions.UNICAST_MAC.match(found["OVEHOSTED_VM/vmMACAddr"])
    assert found["OVEHOSTED_VM/vmMACAddr"] == answers(props("nfs", False, False))["OVEHOSTED_VM/vmMACAddr"]
    assert int(found["OVEHOSTED_VM/vmMACAddr"].split(":")[3], 16) < 0x80  # the deploy's own range


def test_smtp_port_and_cpus_are_strings_as_the_plugins_match_them():
    text = answer_file(answers(props("nfs", False, True)))
    assert "OVEHOSTED_NOTIF/smtpPort=str:25\n" in text and "OVEHOSTED_VM/vmVCpus=str:4\n" in text


def test_an_offline_deploy_reaches_the_role_through_the_user_extra_vars():
    online = answers(props("nfs", False, True))
    assert "OVEHOSTED_CORE/ansibleUserExtraVars" not in online
    found = answers({**props("nfs", False, True), "offlineDeployment": True})
    assert "OVEHOSTED_CORE/ansibleUserExtraVars=str:he_offline_deployment=true\n" in answer_file(found)


LISTING_EL8 = """Last metadata expiration check: 0:10:00 ago on Tue Dec  1 10:00:00 2026.
Name                Stream        Profiles    Summary
javapackages-tools  201801        common      javapackages-tools
mod_auth_openidc    2.3           common      mod_auth_openidc
nodejs              14            common      nodejs
nodejs              16            common      nodejs
pki-deps            10.6 [e]      common      pki-deps
postgresql          12            common      postgresql
postgresql          13            common      postgresql

Hint: [d]efault, [e]nabled, [x]disabled, [i]nstalled
"""


def test_modules_enabled_are_those_the_vm_has_and_lacks():
    wanted, absent = modules_to_enable(LISTING_EL8)
    assert wanted == ["javapackages-tools", "postgresql:12", "mod_auth_openidc:2.3", "nodejs:14"] and absent == []
    assert modules_to_enable("") == (
        [],
        ["javapackages-tools", "pki-deps", "postgresql:12", "mod_auth_openidc:2.3", "nodejs:14"],
    )  # an EL9 appliance: no module streams at all


def host_stats(engine_status, live=True, score=3400, hostname="she-host.example.com"):
    return {"hostname": hostname, "score": score, "engine-status": engine_status, "live-data": live}


def test_a_null_engine_status_still_scores_and_a_stale_entry_scores_nothing():
    stats = {"2": host_stats(None, hostname="host1.example.com"), "global_maintenance": False}
    assert vm_status_score(json.dumps(stats), {"host1.example.com"}) == 3400
    stats["2"]["live-data"] = False
    assert vm_status_score(json.dumps(stats), {"host1.example.com"}) == 0
    assert vm_status_score(json.dumps(stats), {"host2.example.com"}) is None


def test_the_output_is_followed_by_whole_lines_and_the_unit_by_its_properties():
    assert new_lines("one\ntwo\nthr", finished=False) == ["one", "two"]
    assert new_lines("one\ntwo\nthr", finished=True) == ["one", "two", "thr"]
    assert unit_state("ActiveState=failed\nSubState=failed\nExecMainStatus=1\n") == {
        "ActiveState": "failed",
        "SubState": "failed",
        "ExecMainStatus": "1",
    }
