"""SSH host keys are checked: an unknown key is refused with what to do, a changed key is refused."""

import pytest
from pulumi import automation as auto

from components.site_config import HostConfig, SiteConfig
from providers.ssh import Host, HostKeyError, connect
from tests.harness import ProjectStack, lab_config


def host(lab, known_hosts: str) -> Host:
    return Host("host1", "127.0.0.1", lab.port("host1"), "root", known_hosts)


def test_an_unknown_host_key_is_refused_with_its_fingerprint_and_the_line_to_add(lab, client_key):
    with pytest.raises(HostKeyError) as refused:
        connect(host(lab, ""), client_key[0].read_text())
    message = str(refused.value)
    offered = lab.info["hosts"]["host1"]["host_key"]
    assert "SHA256:" in message and "`ssh.knownHostsFile`" in message and "hosts.host1.hostKey" in message
    assert f"[127.0.0.1]:{lab.port('host1')} {offered}" in message


def test_a_changed_host_key_is_refused(lab, client_key):
    other = lab.info["hosts"]["host2"]["host_key"]  # a real key, but not host1's
    with pytest.raises(HostKeyError) as refused:
        connect(host(lab, f"[127.0.0.1]:{lab.port('host1')} {other}\n"), client_key[0].read_text())
    assert "now offers the host key" in str(refused.value) and "not the trusted" in str(refused.value)


def test_a_pinned_host_key_is_trusted_alone(lab, client_key):
    pinned = lab.info["hosts"]["host1"]["host_key"]
    site = SiteConfig("root", "", {"host1": HostConfig("host1", "127.0.0.1", lab.port("host1"), pinned)})
    trusted = Host.from_props(site.connection("host1"))
    assert trusted.known_hosts == f"[127.0.0.1]:{lab.port('host1')} {pinned}\n"
    assert connect(trusted, client_key[0].read_text()).run("hostname").exit_status == 0


def test_up_against_an_untrusted_host_fails_and_changes_nothing(tmp_path, lab, client_key):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    stack = ProjectStack(tmp_path / "project")
    override = {"host": "host2", "file": "90-trust.conf", "settings": {"defaults": {"max_fds": 2048}}}
    stack.configure(
        {**lab_config(lab, empty), "multipathOverrides": [override]}, {"sshPrivateKey": client_key[0].read_text()}
    )
    before = len(lab.commands("host2"))
    with pytest.raises(auto.errors.CommandError) as failure:
        stack.up()
    assert "which the stack does not trust" in str(failure.value)
    assert lab.commands("host2")[before:] == []
    assert "MultipathOverride" not in stack.export()
