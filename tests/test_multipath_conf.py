"""The drop-in's multipath.conf syntax and the settings the procedure forbids."""

from providers import multipath_conf

SETTINGS = {
    "defaults": {"polling_interval": 10},
    "devices": [{"vendor": "NETAPP", "product": "LUN C-Mode", "no_path_retry": 8}],
    "multipaths": [{"wwid": "36001405a26b8bd4cd8a4b5f8e6f0c0d1", "no_path_retry": "queue"}],
}


def test_render_is_multipath_conf_syntax():
    text = multipath_conf.render(SETTINGS)
    assert "defaults {\n    polling_interval 10\n}" in text
    assert 'devices {\n    device {\n        no_path_retry 8\n        product "LUN C-Mode"\n        vendor NETAPP\n    }\n}' in text
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
    found = multipath_conf.problems({"defaults": {"user_friendly_names": "yes"}, "devices": [{"find_multipaths": "yes"}]})
    assert any("`defaults.user_friendly_names` must not be overridden" in p and "same name" in p for p in found)
    assert any("`devices[0].find_multipaths` must not be overridden" in p for p in found)


def test_values_that_could_break_the_file_are_refused():
    found = multipath_conf.problems({"defaults": {"polling_interval": '5"\n}\nmalicious {'}, "bogus": {}})
    assert any("unknown section `bogus`" in p for p in found)
    assert multipath_conf.problems({"defaults": {"polling_interval": '5"'}})


def test_vendor_only_settings_are_named_with_why():
    found = multipath_conf.vendor_only_settings(SETTINGS)
    assert [f.split(":")[0] for f in found] == ["`defaults.polling_interval`", "`devices[0].no_path_retry`", "`multipaths[0].no_path_retry`"]
    assert multipath_conf.vendor_only_settings({"devices": [{"vendor": "X", "path_checker": "tur"}]}) == []
