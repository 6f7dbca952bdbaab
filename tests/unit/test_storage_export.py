"""StorageExport's pure logic: config validation, the exports formats, the facts read from what the storage
server prints, clashes and the plan (tests/unit/cases/storage_export/: reads in, commands out)."""

import pytest

from components.site_config import StorageExportConfig, _Reader, _storage_exports
from providers.storage_export import (
    Facts,
    StorageExportProvider,
    desired,
    drop_in,
    facts_from,
    parse_exports,
    parse_getent,
    plan,
    problems,
)
from tests.harness import FakeConfig, as_lists, cases

HOSTS = {"storage": object(), "deploy": object()}
DATA = {"path": "/exports/data", "clients": "*", "options": "rw,sync,no_subtree_check"}


def load_exports(entries):
    reader = _Reader(FakeConfig({"storageExports": entries}))
    return _storage_exports(reader, HOSTS), reader.problems


def test_a_valid_entry_is_read_with_defaults():
    exports, found = load_exports([{"host": "storage", "path": "/exports/data"}])
    assert found == []
    assert exports == [StorageExportConfig("storage", "/exports/data", "*", "rw,sync,no_subtree_check")]


@pytest.mark.parametrize(
    "path, words",
    [
        ("exports/data", "absolute"),
        ("/exports/../etc", "`..`"),
        ("/exports//data/", "normalised: write it as /exports/data"),
        ("/exports/my data", "whitespace, quotes"),
        ("/exports/'x'", "whitespace, quotes"),
        ("/", "absolute"),
        (None, "absolute, normalised path"),
    ],
)
def test_bad_paths_are_reported_naming_the_setting_and_the_fix(path, words):
    _, found = load_exports([{"host": "storage", "path": path}])
    assert len(found) == 1 and found[0].startswith("`storageExports[0].path` ")
    assert words in found[0]


def test_every_problem_is_reported_together():
    _, found = load_exports(
        [
            {"host": "nas", "path": "/exports/data", "options": "rw; rm -rf /", "clients": "a b"},
            {"host": "storage", "path": "/exports/data"},
            {"host": "storage", "path": "/exports/data"},
        ]
    )
    text = "\n".join(found)
    assert "`storageExports[0].host` is 'nas', which is not one of `hosts`: storage, deploy" in text
    assert "`storageExports[0].options` is 'rw; rm -rf /'" in text and "rw,sync,no_subtree_check" in text
    assert "`storageExports[0].clients` is 'a b'" in text
    assert "`storageExports[2]` exports /exports/data on storage again, as `storageExports[1]` does" in text


def test_problems_accepts_common_options():
    assert problems({**DATA, "options": "rw,sync,no_subtree_check,anonuid=36,anongid=36"}) == {}
    assert problems({**DATA, "clients": "192.0.2.0/24"}) == {}
    assert set(problems({**DATA, "options": "rw,(x)"})) == {"options"}


def test_parse_exports_handles_defaults_comments_and_several_clients():
    text = "# comment\n/exports/data  *(rw,sync)  # trailing\n/srv -ro a.example b.example(rw)\n\n/bare\n"
    assert parse_exports(text) == [
        (2, "/exports/data", "*", "rw,sync"),
        (3, "/srv", "a.example", "ro"),
        (3, "/srv", "b.example", "ro,rw"),
        (5, "/bare", "*", ""),
    ]


def fresh_facts(**changes):
    facts = Facts("storage", directory=(0, 0, "755"))
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def ready_facts():
    return fresh_facts(
        kvm_gid=36,
        gid_36_name="kvm",
        vdsm_ids=(36, 36),
        uid_36_name="vdsm",
        directory=(36, 36, "755"),
        lines=[("/etc/exports", 1, "/exports/data", "*", "sync,rw,no_subtree_check")],
        exported=True,
    )


def test_plan_for_a_fresh_server_follows_the_procedure():
    assert plan(fresh_facts(), DATA) == [
        ("groupadd", "kvm", "-g", "36"),
        ("useradd", "vdsm", "-u", "36", "-g", "36"),
        ("chown", "-R", "36:36", "/exports/data"),
        ("mkdir", "-p", "/etc/exports.d"),
        ("write", "/etc/exports.d/ovirt-exports-data.exports", "/exports/data *(rw,sync,no_subtree_check)\n"),
        ("exportfs", "-r"),
    ]


def test_a_ready_server_needs_nothing_and_only_drift_is_closed():
    assert ready_facts().state(DATA) == desired()
    assert plan(ready_facts(), DATA) == []
    drifted = ready_facts()
    drifted.directory = (36, 36, "700")
    assert plan(drifted, DATA) == [("chmod", "0755", "/exports/data")]
    assert drifted.state(DATA)["mode"] == "700"


def test_a_missing_directory_is_made():
    assert plan(fresh_facts(directory=None), DATA)[2:5] == [
        ("mkdir", "-p", "--", "/exports/data"),
        ("chown", "-R", "36:36", "/exports/data"),
        ("chmod", "0755", "/exports/data"),
    ]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"gid_36_name": "backup"}, "gid 36 belongs to the group 'backup'"),
        ({"kvm_gid": 1036}, "the group kvm has gid 1036"),
        ({"uid_36_name": "alice"}, "uid 36 belongs to the user 'alice'"),
        ({"vdsm_ids": (991, 36)}, "the user vdsm has uid:gid 991:36"),
        ({"directory": (1000, 1000, "750")}, "/exports/data exists and belongs to 1000:1000"),
        (
            {"lines": [("/etc/exports", 3, "/exports/data", "*", "ro")]},
            "/etc/exports:3 already exports /exports/data to *",
        ),
    ],
)
def test_clashes_name_the_host_what_was_found_and_what_to_do(changes, words):
    found = fresh_facts(**changes).clashes(DATA)
    assert len(found) == 1 and found[0].startswith("storage: ") and words in found[0]
    assert "run again" in found[0] or "yourself" in found[0] or "edit or remove" in found[0] or "fix it" in found[0]


def test_root_owned_directory_and_own_drop_in_are_not_clashes():
    mine = [(drop_in("/exports/data"), 1, "/exports/data", "*", "ro")]
    assert fresh_facts(lines=mine).clashes(DATA) == []


@pytest.mark.parametrize("case", cases("storage_export"))
def test_the_plan_closes_only_the_difference_read_from_the_host(case):
    facts = facts_from("storage", case["props"], case["reads"])
    clashes = facts.clashes(case["props"])
    assert len(clashes) == len(case["clashes"]) and all(c.startswith(w) for c, w in zip(clashes, case["clashes"]))
    if case["commands"] is not None:
        assert as_lists(plan(facts, case["props"])) == case["commands"]
    if case["commands"] == []:
        assert facts.state(case["props"]) == desired()


def test_getent_lines_are_split_on_colons_and_blank_lines_dropped():
    assert parse_getent("kvm:x:36:qemu,sanlock\n\nbackup:x:34:\n") == [
        ["kvm", "x", "36", "qemu,sanlock"],
        ["backup", "x", "34", ""],
    ]
    assert parse_getent("") == []


def test_only_lines_for_this_path_are_facts_and_stat_failing_means_no_directory():
    reads = {
        "groups": "",
        "users": "",
        "stat": None,
        "exportfs": "",
        "exports": {"/etc/exports": "/exports/data2 *(rw)\n/exports/data a(rw) b(ro)\n"},
    }
    facts = facts_from("storage", DATA, reads)
    assert facts.directory is None and facts.exported is False
    assert facts.lines == [
        ("/etc/exports", 2, "/exports/data", "a", "rw"),
        ("/etc/exports", 2, "/exports/data", "b", "ro"),
    ]


def test_exported_means_this_client_with_at_least_the_wanted_options():
    base = {"groups": "", "users": "", "stat": None, "exports": {}}
    listed = "/exports/data \t<world>(sync,wdelay,rw,no_subtree_check)\n"
    assert facts_from("s", DATA, {**base, "exportfs": listed}).exported
    assert not facts_from("s", {**DATA, "options": "rw,async"}, {**base, "exportfs": listed}).exported
    assert not facts_from("s", {**DATA, "clients": "192.0.2.0/24"}, {**base, "exportfs": listed}).exported


HOST = {"name": "storage", "address": "192.0.2.20", "port": 22, "user": "root", "knownHosts": ""}
OLD = {**DATA, "connection": HOST, "state": desired()}


@pytest.mark.parametrize(
    "olds, news, changes, replaces",
    [
        (OLD, OLD, False, []),
        (OLD, {**OLD, "connection": {**HOST, "port": 2222}}, False, []),  # the same server on another port
        (OLD, {**OLD, "options": "ro,sync"}, True, []),
        (OLD, {**OLD, "clients": "192.0.2.0/24"}, True, []),
        ({**OLD, "state": {**desired(), "mode": "700"}}, OLD, True, []),  # refresh found it drifted
        ({**OLD, "state": None}, OLD, True, []),
        (OLD, {**OLD, "path": "/exports/other"}, True, ["path"]),
        (OLD, {**OLD, "connection": {**HOST, "name": "nas"}}, True, ["connection"]),
    ],
)
def test_diff_closes_drift_in_place_and_replaces_another_directory_or_server(olds, news, changes, replaces):
    found = StorageExportProvider().diff("id", olds, news)
    assert (found.changes, found.replaces, found.delete_before_replace) == (changes, replaces, True)


def test_check_names_each_bad_property_with_its_fix():
    found = StorageExportProvider().check({}, {"path": "/x/../y", "clients": "a b", "options": "rw"}).failures
    assert [(f.property, f.reason.split(" ")[0]) for f in found] == [("path", "`path`"), ("clients", "`clients`")]
