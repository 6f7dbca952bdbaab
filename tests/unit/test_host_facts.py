"""What hosts print, read once for the providers and the preflight: stat's ownership, exportfs -v, and the
HA agents' vm-status."""

import json

import pytest

from providers.host_facts import (
    appliance_candidates,
    engine_vm_host,
    os_release,
    ownership,
    parse_exportfs_verbose,
    vm_status_score,
)


def test_ownership_is_read_from_stat_as_the_preflight_and_the_provider_run_it():
    assert ownership("36 36 755\n") == (36, 36, "755")
    assert ownership("stat: cannot statx '/x': No such file or directory") is None
    assert ownership("") is None


def test_exportfs_verbose_joins_long_paths_and_names_the_world():
    text = (
        "/exports/data \t<world>(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash)\n"
        "/exports/hosted_engine\n\t\t192.0.2.0/24(sync,sec=sys,rw)\n\n/lonely\n"
    )
    assert parse_exportfs_verbose(text) == [
        ("/exports/data", "*", "sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash"),
        ("/exports/hosted_engine", "192.0.2.0/24", "sync,sec=sys,rw"),
    ]


def agent(hostname, score=3400, live=True, vm="up", health="good"):
    return {"hostname": hostname, "score": score, "live-data": live, "engine-status": {"vm": vm, "health": health}}


def test_the_engine_vm_runs_where_an_agent_says_it_is_up_with_good_health():
    stats = {"1": agent("host1", vm="down", health="bad"), "2": agent("host2"), "global_maintenance": False}
    assert engine_vm_host(json.dumps(stats)) == "host2"
    stats["2"]["engine-status"]["health"] = "bad"
    assert engine_vm_host(json.dumps(stats)) is None


def test_a_host_is_scored_by_any_of_its_names():
    stats = {"1": agent("host1.example.com", score=1800), "2": agent("192.0.2.12")}
    assert vm_status_score(json.dumps(stats), {"host1", "host1.example.com"}) == 1800
    assert vm_status_score(json.dumps(stats), {"host2", "192.0.2.12"}) == 3400


@pytest.mark.parametrize(
    ("collection", "os_id", "version_id", "expected"),
    [
        ((3, 2, 1), "centos", "9", ("ovirt-engine-appliance", None)),
        ((3, 2, 2), "centos", "9", ("ovirt-engine-appliance-centos9", "ovirt-engine-appliance-centos9")),
        ((3, 2, 2), "rhel", "9.4", ("ovirt-engine-appliance-redhat9", "ovirt-engine-appliance-centos9")),
        ((3, 3), "almalinux", "9.5", ("ovirt-engine-appliance-almalinux9", "ovirt-engine-appliance-centos9")),
        ((3, 2, 2), "fedora", "40", (None, "ovirt-engine-appliance-centos40")),
    ],
)
def test_the_appliance_package_is_named_as_the_collection_names_it(collection, os_id, version_id, expected):
    release = os_release(f'NAME="Some OS"\nID="{os_id}"\nVERSION_ID="{version_id}"\n')
    assert appliance_candidates(collection, release) == expected
