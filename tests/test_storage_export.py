"""StorageExport's pure logic: config validation, the exports formats, clashes and the plan; and the lab's exportfs."""

import pytest

from components.site_config import StorageExportConfig, _Reader, _storage_exports
from lab.commands.nfs import read_exports, render_options
from lab.transport.vfs import VirtualFS
from providers.host_facts import ownership, parse_exportfs_verbose
from providers.storage_export import (
    Facts, desired, drop_in, parse_exports, plan, problems,
)

HOSTS = {"storage": object(), "deploy": object()}
DATA = {"path": "/exports/data", "clients": "*", "options": "rw,sync,no_subtree_check"}


class FakeConfig:
    def __init__(self, **values):
        self.values = values

    def get_object(self, key):
        return self.values.get(key)


def load_exports(entries):
    reader = _Reader(FakeConfig(storageExports=entries))
    return _storage_exports(reader, HOSTS), reader.problems


def test_a_valid_entry_is_read_with_defaults():
    exports, found = load_exports([{"host": "storage", "path": "/exports/data"}])
    assert found == []
    assert exports == [StorageExportConfig("storage", "/exports/data", "*", "rw,sync,no_subtree_check")]


@pytest.mark.parametrize("path, words", [
    ("exports/data", "absolute"),
    ("/exports/../etc", "`..`"),
    ("/exports//data/", "normalised: write it as /exports/data"),
    ("/exports/my data", "whitespace, quotes"),
    ("/exports/'x'", "whitespace, quotes"),
    ("/", "absolute"),
    (None, "absolute, normalised path"),
])
def test_bad_paths_are_reported_naming_the_setting_and_the_fix(path, words):
    _, found = load_exports([{"host": "storage", "path": path}])
    assert len(found) == 1 and found[0].startswith("`storageExports[0].path` ")
    assert words in found[0]


def test_every_problem_is_reported_together():
    _, found = load_exports([
        {"host": "nas", "path": "/exports/data", "options": "rw; rm -rf /", "clients": "a b"},
        {"host": "storage", "path": "/exports/data"},
        {"host": "storage", "path": "/exports/data"},
    ])
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


def test_parse_exportfs_verbose_joins_long_paths_and_names_the_world():
    text = ("/exports/data \t<world>(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash)\n"
            "/exports/hosted_engine\n\t\t192.0.2.0/24(sync,sec=sys,rw)\n")
    assert parse_exportfs_verbose(text) == [
        ("/exports/data", "*", "sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash"),
        ("/exports/hosted_engine", "192.0.2.0/24", "sync,sec=sys,rw"),
    ]


def fresh_facts(**changes):
    facts = Facts("storage", directory=(0, 0, "755"))
    for key, value in changes.items():
        setattr(facts, key, value)
    return facts


def ready_facts():
    return fresh_facts(kvm_gid=36, gid_36_name="kvm", vdsm_ids=(36, 36), uid_36_name="vdsm",
                       directory=(36, 36, "755"), lines=[("/etc/exports", 1, "/exports/data", "*", "sync,rw,no_subtree_check")],
                       exported=True)


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
        ("mkdir", "-p", "--", "/exports/data"), ("chown", "-R", "36:36", "/exports/data"), ("chmod", "0755", "/exports/data"),
    ]


@pytest.mark.parametrize("changes, words", [
    ({"gid_36_name": "backup"}, "gid 36 belongs to the group 'backup'"),
    ({"kvm_gid": 1036}, "the group kvm has gid 1036"),
    ({"uid_36_name": "alice"}, "uid 36 belongs to the user 'alice'"),
    ({"vdsm_ids": (991, 36)}, "the user vdsm has uid:gid 991:36"),
    ({"directory": (1000, 1000, "750")}, "/exports/data exists and belongs to 1000:1000"),
    ({"lines": [("/etc/exports", 3, "/exports/data", "*", "ro")]}, "/etc/exports:3 already exports /exports/data to *"),
])
def test_clashes_name_the_host_what_was_found_and_what_to_do(changes, words):
    found = fresh_facts(**changes).clashes(DATA)
    assert len(found) == 1 and found[0].startswith("storage: ") and words in found[0]
    assert "run again" in found[0] or "yourself" in found[0] or "edit or remove" in found[0] or "fix it" in found[0]


def test_root_owned_directory_and_own_drop_in_are_not_clashes():
    mine = [(drop_in("/exports/data"), 1, "/exports/data", "*", "ro")]
    assert fresh_facts(lines=mine).clashes(DATA) == []


def test_lab_exportfs_reads_exports_and_drop_ins_and_renders_like_nfs_utils():
    fs = VirtualFS()
    fs.mkdir("/etc/exports.d", parents=True)
    fs.write("/etc/exports", b"/a *(rw,sync,no_subtree_check)\n")
    fs.write("/etc/exports.d/x.exports", b"/b 192.0.2.0/24(ro,async,no_root_squash,anonuid=36)\n")
    fs.write("/etc/exports.d/ignored.conf", b"/c *(rw)\n")
    exports, errors = read_exports(fs)
    assert errors == [] and [(p, c) for p, c, *_ in exports] == [("/a", "*"), ("/b", "192.0.2.0/24")]
    assert render_options(*exports[0][2:]) == "sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,root_squash,no_all_squash"
    assert render_options(*exports[1][2:]) == "async,wdelay,hide,no_subtree_check,anonuid=36,sec=sys,ro,secure,no_root_squash,no_all_squash"


def test_ownership_is_read_from_stat_as_the_preflight_and_the_provider_run_it():
    assert ownership("36 36 755\n") == (36, 36, "755")
    assert ownership("stat: cannot statx '/x': No such file or directory") is None
