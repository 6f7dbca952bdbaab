"""The SSH transport's pure parts: which commands only read (and may be re-run after a dropped connection),
host properties, the retry policy, known_hosts, keys, output split into lines, and what its errors say."""

import paramiko
import pytest

from providers import ssh
from providers.retry import RetryPolicy
from providers.ssh import ConnectionLost, Host, RemoteCommandError, Result, is_read


@pytest.mark.parametrize(
    "argv",
    [
        ["cat", "/etc/exports"],
        ["getent", "group", "kvm"],
        ["systemctl", "is-active", "multipathd"],
        ["systemctl", "show", "x", "--property=LoadState"],
        ["rpm", "-q", "ovirt-engine"],
        ["exportfs", "-v"],
        ["hosted-engine", "--vm-status", "--json"],
        ["dnf", "module", "list"],
        ["tar", "-tzf", "x"],
        ["tar", "-xOzf", "x", "version"],
        ["qemu-img", "info", "x"],
        ["ip", "-j", "addr", "show"],
        ["virsh", "-r", "domcapabilities"],
        ["iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", "192.0.2.20:3260", "-o", "nonpersistent"],
    ],
)
def test_reads_are_recognised(argv):
    assert is_read(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["systemctl", "reload", "multipathd"],
        ["rpm", "-i", "x"],
        ["exportfs", "-r"],
        ["tar", "-xzf", "x"],
        ["dnf", "module", "-y", "enable", "x"],
        ["hosted-engine", "--deploy"],
        ["rm", "-f", "--", "/x"],
        ["tar", "--extract", "-f", "x"],
        ["virsh", "destroy", "HostedEngine"],
        ["iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", "192.0.2.20:3260"],  # records the nodes
        ["iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", "192.0.2.20", "-o", "nonpersistent", "--login"],
    ],
)
def test_changes_are_never_taken_for_reads(argv):
    assert not is_read(argv)


def test_host_properties_round_trip_and_name_a_port_as_known_hosts_does():
    host = Host("host1", "192.0.2.11", 2222, "root", "")
    assert Host.from_props({**host.to_props(), "port": 2222.0}) == host  # numbers cross Pulumi's wire as doubles
    assert host.known_hosts_name == "[192.0.2.11]:2222"
    assert Host("h", "192.0.2.11", 22, "root", "").known_hosts_name == "192.0.2.11"


def test_the_retry_policy_doubles_up_to_its_cap_and_stops_at_its_attempts():
    policy = RetryPolicy(attempts=6, first_delay=1, max_delay=4, total_seconds=1000)
    assert list(policy.pauses()) == [1, 2, 4, 4, 4]


def test_no_pause_is_offered_past_the_deadline():
    assert list(RetryPolicy(attempts=5, first_delay=1, total_seconds=1.5).pauses()) == [1]  # 2 s would end past it


def test_the_retry_policy_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("OVIRT_SHE_SSH_ATTEMPTS", "2")
    monkeypatch.setenv("OVIRT_SHE_SSH_FIRST_DELAY", "0.1")
    assert RetryPolicy.from_env("OVIRT_SHE_SSH_") == RetryPolicy(attempts=2, first_delay=0.1)


def test_the_engine_apis_policy_is_the_same_kind_with_its_own_numbers(monkeypatch):
    engine = RetryPolicy(attempts=4, total_seconds=float("inf"))
    assert list(engine.pauses()) == [0.5, 1, 2]
    monkeypatch.setenv("OVIRT_SHE_ENGINE_ATTEMPTS", "2")
    assert RetryPolicy.from_env("OVIRT_SHE_ENGINE_", engine) == RetryPolicy(attempts=2, total_seconds=float("inf"))


def test_the_public_key_line_is_that_of_the_private_key(client_key):
    private, public = (path.read_text() for path in client_key)
    assert ssh.public_key_line(private) == " ".join(public.split()[:2])
    with pytest.raises(ValueError, match="`sshPrivateKey` setting is not an OpenSSH or PEM private key"):
        ssh.load_private_key("not a key")


def test_known_hosts_lines_are_trusted_by_each_name_and_comments_skipped(client_key):
    key = ssh.load_private_key(client_key[0].read_text())
    line = f"{key.get_name()} {key.get_base64()}"
    client = paramiko.SSHClient()
    ssh._trusted_keys(client, f"# the site\n\n[192.0.2.11]:2222,host1 {line}\n")
    assert client.get_host_keys().lookup("[192.0.2.11]:2222")[key.get_name()] == key
    assert client.get_host_keys().lookup("host1") is not None
    assert ssh.fingerprint(key).startswith("SHA256:") and "=" not in ssh.fingerprint(key)


def test_output_is_handed_on_in_whole_lines_as_it_arrives():
    seen = []
    lines = ssh._LineSplitter(seen.append)
    for chunk in (b"one\ntw", b"o\n", b"thr", b"ee"):
        lines.feed(chunk)
    assert seen == ["one", "two"]
    lines.close()
    assert seen == ["one", "two", "three"]


def test_a_failed_command_names_the_host_the_command_its_output_and_the_next_step():
    failed = RemoteCommandError("host1", "systemctl reload multipathd", Result(1, "", "Job failed.\n"))
    assert str(failed) == (
        "host1: `systemctl reload multipathd` exited with status 1:\nJob failed.\nIt was not "
        "retried (it is not a connection failure): fix the cause on host1, then run `pulumi up` again."
    )
    assert (failed.host, failed.command, failed.output, failed.result.exit_status) == (
        "host1",
        "systemctl reload multipathd",
        "Job failed.",
        1,
    )


def test_a_dropped_change_says_its_effect_is_unknown_and_a_dropped_read_to_check_the_host():
    change = str(ConnectionLost("host1", "exportfs -r", idempotent=False, attempts=1, cause=None))
    assert "whether it took effect is unknown; it was not run again because it changes the host" in change
    read = str(ConnectionLost("host1", "cat /x", idempotent=True, attempts=5, cause=EOFError("eof")))
    assert read.startswith("host1: `cat /x` (a read) did not complete in 5 attempts") and "eof" in read
