"""MultipathOverride: the drop-in's multipath.conf syntax both ways, the settings the procedure forbids, the
plan (tests/unit/cases/multipath_override/: settings and multipathd's state in, commands out) and the diff."""

import pytest

from providers import multipath_conf, multipath_override
from providers.errors import StepError
from providers.multipath_override import MultipathOverrideProvider, file_name_problems, plan
from tests.harness import ScriptedHost, as_lists, cases

SETTINGS = {
    "defaults": {"polling_interval": 10},
    "devices": [{"vendor": "NETAPP", "product": "LUN C-Mode", "no_path_retry": 8}],
    "multipaths": [{"wwid": "36001405a26b8bd4cd8a4b5f8e6f0c0d1", "no_path_retry": "queue"}],
}


def test_render_is_multipath_conf_syntax():
    text = multipath_conf.render(SETTINGS)
    assert "defaults {\n    polling_interval 10\n}" in text
    assert (
        'devices {\n    device {\n        no_path_retry 8\n        product "LUN C-Mode"\n        vendor NETAPP\n    }\n}'
        in text
    )
    assert "multipath {\n        no_path_retry queue\n        wwid 36001405a26b8bd4cd8a4b5f8e6f0c0d1\n    }" in text


def test_parse_reads_back_what_render_wrote():
    assert multipath_conf.parse(multipath_conf.render(SETTINGS)) == {
        "defaults": {"polling_interval": "10"},
        "devices": [{"vendor": "NETAPP", "product": "LUN C-Mode", "no_path_retry": "8"}],
        "multipaths": [{"wwid": "36001405a26b8bd4cd8a4b5f8e6f0c0d1", "no_path_retry": "queue"}],
    }


def test_parse_reads_a_hand_written_file_with_comments():
    text = '# site file\ndefaults {\n\tpolling_interval 7  # slower\n}\nblacklist {\n  devnode "^sda$"\n}\n'
    assert multipath_conf.parse(text) == {"defaults": {"polling_interval": "7"}, "blacklist": {"devnode": "^sda$"}}


def test_forbidden_settings_are_refused_with_the_reason():
    found = multipath_conf.problems(
        {"defaults": {"user_friendly_names": "yes"}, "devices": [{"find_multipaths": "yes"}]}
    )
    assert any("`defaults.user_friendly_names` must not be overridden" in p and "same name" in p for p in found)
    assert any("`devices[0].find_multipaths` must not be overridden" in p for p in found)


def test_values_that_could_break_the_file_are_refused():
    found = multipath_conf.problems({"defaults": {"polling_interval": '5"\n}\nmalicious {'}, "bogus": {}})
    assert any("unknown section `bogus`" in p for p in found)
    assert multipath_conf.problems({"defaults": {"polling_interval": '5"'}})


def test_vendor_only_settings_are_named_with_why():
    found = multipath_conf.vendor_only_settings(SETTINGS)
    assert [f.split(":")[0] for f in found] == [
        "`defaults.polling_interval`",
        "`devices[0].no_path_retry`",
        "`multipaths[0].no_path_retry`",
    ]
    assert multipath_conf.vendor_only_settings({"devices": [{"vendor": "X", "path_checker": "tur"}]}) == []


@pytest.mark.parametrize("case", cases("multipath_override"))
def test_the_plan_writes_or_removes_the_drop_in_and_reloads_a_running_multipathd(case):
    wanted = None if case["settings"] is None else multipath_conf.render(case["settings"])
    steps = plan(f"/etc/multipath/conf.d/{case['file']}", wanted, case["multipathd_active"])
    assert as_lists(steps) == case["commands"]


def test_a_drop_in_name_sets_its_order():
    assert file_name_problems("90-vendor.conf") == []
    for bad in ("vendor.conf", "90-vendor", "90-../x.conf", None):
        assert file_name_problems(bad) and "NN-name.conf" in file_name_problems(bad)[0]


HOST = {"name": "host1", "address": "192.0.2.11", "port": 22, "user": "root", "knownHosts": ""}
OLD = {"connection": HOST, "file": "90-vendor.conf", "settings": {"defaults": {"polling_interval": 10}}}


@pytest.mark.parametrize(
    "change, changes, replaces",
    [
        ({}, False, []),
        ({"settings": {"defaults": {"polling_interval": "10"}}}, False, []),  # the same file once rendered
        ({"settings": {"defaults": {"polling_interval": 5}}}, True, []),
        ({"file": "91-vendor.conf"}, True, ["file"]),
        ({"connection": {**HOST, "address": "192.0.2.12"}}, True, ["connection"]),
        ({"connection": {**HOST, "port": 2222}}, False, []),  # the same host on another port
    ],
)
def test_diff_updates_settings_in_place_and_replaces_another_file_or_host(change, changes, replaces):
    found = MultipathOverrideProvider().diff("id", OLD, {**OLD, **change})
    assert (found.changes, found.replaces, found.delete_before_replace) == (changes, replaces, False)


def host1(monkeypatch, **answers):
    host = ScriptedHost(
        "host1",
        {
            "systemctl is-active multipathd": (0, "active\n"),
            "mkdir -p /etc/multipath/conf.d": (0, ""),
            "systemctl reload multipathd": (0, ""),
            **answers,
        },
    )
    monkeypatch.setattr(multipath_override.base, "ssh_host", lambda props: host)
    return host


def test_the_drop_in_is_written_then_reloaded_and_read_back(monkeypatch):
    host = host1(monkeypatch)
    multipath_override._apply({"file": "90-vendor.conf"}, "defaults {\n}\n")
    assert host.ran == [
        "systemctl is-active multipathd",
        "mkdir -p /etc/multipath/conf.d",
        "write /etc/multipath/conf.d/90-vendor.conf",
        "systemctl reload multipathd",
    ]
    assert host.files["/etc/multipath/conf.d/90-vendor.conf"] == b"defaults {\n}\n"


def test_a_drop_in_that_does_not_read_back_as_written_fails_naming_the_host(monkeypatch):
    host = host1(monkeypatch)
    monkeypatch.setattr(host, "write_file", lambda path, data, mode=0o644: None)  # something undoes the write
    with pytest.raises(StepError, match=r"^host1: /etc/multipath/conf.d/90-vendor.conf is not as written"):
        multipath_override._apply({"file": "90-vendor.conf"}, "defaults {\n}\n")
