"""The lab's simulated hosts, driven through real paramiko clients over loopback."""

import json
import os
import subprocess
import sys

import paramiko
import pytest

from lab import site as site_mod
from lab.testing import REPO_ROOT, LabProcess, make_client_key, run, site_variant


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_client_key(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory, keys):
    with LabProcess(tmp_path_factory.mktemp("lab"), authorized_keys=[keys[1]], client_key=keys[0]) as lab:
        yield lab


@pytest.fixture(scope="module")
def clients(lab):
    opened = {}

    def get(name):
        if name not in opened:
            opened[name] = lab.ssh(name)
        return opened[name]

    yield get
    for client in opened.values():
        client.close()


def sh(clients, host, command, stdin=None):
    return run(clients(host), command, stdin)


# --- accounts (procedure 3.1) -------------------------------------------------


def test_nfs_storage_preparation_on_storage_host(clients, lab):
    assert sh(clients, "storage", "getent group kvm") == (2, "", "")
    assert sh(clients, "storage", "groupadd kvm -g 36") == (0, "", "")
    assert sh(clients, "storage", "getent group kvm") == (0, "kvm:x:36:\n", "")
    assert sh(clients, "storage", "useradd vdsm -u 36 -g 36") == (0, "", "")
    assert sh(clients, "storage", "id vdsm") == (0, "uid=36(vdsm) gid=36(kvm) groups=36(kvm)\n", "")
    assert sh(clients, "storage", "id -u vdsm; id -g vdsm") == (0, "36\n36\n", "")
    assert sh(clients, "storage", "chown -R 36:36 /exports/data && chmod 0755 /exports/data") == (0, "", "")
    assert sh(clients, "storage", "stat -c '%u:%g %a' /exports/data") == (0, "36:36 755\n", "")
    assert sh(clients, "storage", "stat -c '%U:%G %F %n' /exports/data") == (
        0,
        "vdsm:kvm directory /exports/data\n",
        "",
    )
    status, out, _ = sh(clients, "storage", "cat /etc/group")
    assert status == 0 and out.endswith("kvm:x:36:\n")
    assert "vdsm:x:36:36::/home/vdsm:/bin/bash\n" in sh(clients, "storage", "cat /etc/passwd")[1]


def test_account_errors_use_shadow_utils_exit_values(clients):
    assert sh(clients, "host1", "groupadd kvm -g 36") == (9, "", "groupadd: group 'kvm' already exists\n")
    assert sh(clients, "host1", "groupadd other -g 36") == (4, "", "groupadd: GID '36' already exists\n")
    assert sh(clients, "host1", "useradd vdsm") == (9, "", "useradd: user 'vdsm' already exists\n")
    assert sh(clients, "host1", "useradd other -u 36") == (4, "", "useradd: UID 36 is not unique\n")
    assert sh(clients, "host1", "useradd other -g 4242") == (6, "", "useradd: group '4242' does not exist\n")
    assert sh(clients, "host1", "id nosuch") == (1, "", "id: 'nosuch': no such user\n")
    assert sh(clients, "host1", "getent passwd 36") == (
        0,
        "vdsm:x:36:36:Node Virtualization Manager:/var/lib/vdsm:/sbin/nologin\n",
        "",
    )
    assert sh(clients, "host1", "getent group 4242")[0] == 2


# --- shell --------------------------------------------------------------------


def test_quoted_filename_stays_one_argument(clients, lab):
    name = "/tmp/a b; touch evil"
    assert sh(clients, "backup", f"echo hi > '{name}'") == (0, "", "")
    assert sh(clients, "backup", "ls -1 /tmp") == (0, "a b; touch evil\n", "")
    assert sh(clients, "backup", f'cat "{name}"') == (0, "hi\n", "")
    assert [c["command"] for c in lab.commands("backup")][-3] == f"echo hi > '{name}'"


def test_unimplemented_fails_loudly(clients):
    assert sh(clients, "backup", "frobnicate --now") == (127, "", "lab: command not implemented: frobnicate\n")
    assert sh(clients, "backup", "echo $(id)") == (127, "", "lab: unsupported shell construct: $(\n")
    assert sh(clients, "backup", "echo `id`")[0] == 127
    assert sh(clients, "backup", "echo $HOME")[0] == 127
    assert sh(clients, "backup", "true && frobnicate")[0] == 127


def test_lists_pipes_redirections_and_globs(clients):
    script = "printf 'a\\n' > /tmp/g1.conf; echo b >> /tmp/g1.conf; echo c > /tmp/g2.conf; cat /tmp/g*.conf | sha256sum"
    import hashlib

    digest = hashlib.sha256(b"a\nb\nc\n").hexdigest()
    assert sh(clients, "engine", script) == (0, f"{digest}  -\n", "")
    assert sh(clients, "engine", "stat /nope 2>&1 | cat") == (
        0,
        "stat: cannot statx '/nope': No such file or directory\n",
        "",
    )
    assert sh(clients, "engine", "stat /nope 2>/dev/null || echo missing") == (0, "missing\n", "")
    assert sh(clients, "engine", "stat /nope") == (1, "", "stat: cannot statx '/nope': No such file or directory\n")
    assert sh(clients, "engine", "sh -c 'echo one && false' || echo two") == (0, "one\ntwo\n", "")
    assert sh(clients, "engine", "sha256sum < /tmp/g2.conf >/dev/null") == (0, "", "")
    assert sh(clients, "engine", "echo '/tmp/g*.conf' \"*\"") == (0, "/tmp/g*.conf *\n", "")
    assert sh(
        clients,
        "engine",
        "install -D -m 0640 -o ovirt -g ovirt /dev/stdin /srv/x/y.txt && stat -c '%a %U:%G %s' /srv/x/y.txt",
        stdin=b"data\n",
    ) == (0, "640 ovirt:ovirt 5\n", "")
    assert sh(clients, "engine", "test -d /srv/x && [ -s /srv/x/y.txt ] && ! test -e /srv/q")[0] == 0


# --- SSH ----------------------------------------------------------------------


def test_unknown_host_key_is_refused_by_client(lab, tmp_path):
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        client.connect(
            "127.0.0.1",
            port=lab.port("engine"),
            username="root",
            key_filename=str(lab.client_key),
            look_for_keys=False,
            allow_agent=False,
        )
    # A known_hosts entry with another host's key for this port is a mismatch.
    wrong = tmp_path / "known_hosts"
    wrong.write_text(f"[127.0.0.1]:{lab.port('engine')} {lab.info['hosts']['storage']['host_key']}\n")
    client.load_host_keys(str(wrong))
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(
            "127.0.0.1",
            port=lab.port("engine"),
            username="root",
            key_filename=str(lab.client_key),
            look_for_keys=False,
            allow_agent=False,
        )


def test_wrong_client_key_is_refused_by_server(lab, tmp_path):
    other, _ = make_client_key(tmp_path, "other")
    with pytest.raises(paramiko.AuthenticationException):
        lab.ssh("engine", key_filename=other)


def test_no_interactive_shell(clients):
    with pytest.raises(paramiko.SSHException):
        clients("engine").invoke_shell()


def test_sftp_round_trip_with_mode(clients, lab, tmp_path):
    local = tmp_path / "answers.conf"
    local.write_bytes(b"[environment:default]\nOVEHOSTED_X=str:y\n")
    sftp = clients("deploy").open_sftp()
    sftp.put(str(local), "/root/answers.conf")
    sftp.chmod("/root/answers.conf", 0o600)
    with sftp.open("/root/new.txt", "w") as f:
        f.write(b"new\n")
    assert sftp.stat("/root/new.txt").st_mode & 0o7777 == 0o644
    sftp.get("/root/answers.conf", str(tmp_path / "back.conf"))
    assert (tmp_path / "back.conf").read_bytes() == local.read_bytes()
    assert "answers.conf" in sftp.listdir("/root")
    sftp.mkdir("/root/d")
    sftp.rename("/root/new.txt", "/root/d/new.txt")
    sftp.close()
    assert sh(clients, "deploy", "stat -c '%a %U %s' /root/answers.conf") == (
        0,
        f"600 root {local.stat().st_size}\n",
        "",
    )
    assert sh(clients, "deploy", "cat /root/d/new.txt") == (0, "new\n", "")
    logged = [c["command"] for c in lab.commands("deploy") if c["kind"] == "sftp"]
    assert "write /root/answers.conf" in logged and "mkdir /root/d" in logged


# --- services -----------------------------------------------------------------


def test_systemctl_exit_codes(clients):
    assert sh(clients, "engine", "systemctl is-active ovirt-engine") == (0, "active\n", "")
    assert sh(clients, "engine", "systemctl stop ovirt-engine && systemctl disable ovirt-engine.service")[0] == 0
    assert sh(clients, "engine", "systemctl is-active ovirt-engine") == (3, "inactive\n", "")
    assert sh(clients, "engine", "systemctl is-enabled ovirt-engine") == (1, "disabled\n", "")
    assert sh(clients, "engine", "systemctl status ovirt-engine")[0] == 3
    assert sh(clients, "engine", "systemctl status nosuch") == (4, "", "Unit nosuch.service could not be found.\n")
    assert sh(clients, "engine", "systemctl start nosuch") == (
        5,
        "",
        "Failed to start nosuch.service: Unit nosuch.service not found.\n",
    )
    assert sh(clients, "engine", "systemctl reload ovirt-engine") == (
        1,
        "",
        "ovirt-engine.service is not active, cannot reload.\n",
    )
    assert sh(clients, "engine", "systemctl is-enabled httpd") == (0, "enabled\n", "")


def test_multipath_dropin_applies_on_reload_not_before(clients, lab):
    dropin = 'devices {\n  device {\n    vendor "LAB"\n    product "ARRAY"\n    no_path_retry 8\n  }\n}\ndefaults {\n  polling_interval 10\n}\n'
    sftp = clients("host1").open_sftp()
    with sftp.open("/etc/multipath/conf.d/90-lab.conf", "w") as f:
        f.write(dropin.encode())
    sftp.close()
    status, before, _ = sh(clients, "host1", "multipathd show config")
    assert status == 0 and "\tpolling_interval 5\n" in before and "LAB" not in before
    assert '\tuser_friendly_names "no"\n' in before and "\tno_path_retry 16\n" in before  # VDSM 4.40.40 and later
    assert sh(clients, "host1", "systemctl reload multipathd") == (0, "", "")
    status, after, _ = sh(clients, "host1", "multipathd show config")
    assert "\tpolling_interval 10\n" in after
    assert '\tdevice {\n\t\tvendor "LAB"\n\t\tproduct "ARRAY"\n\t\tno_path_retry 8\n\t}\n' in after
    counts = lab.host_state("host1")["services"]["multipathd"]["counts"]
    assert counts == {"reload": 1}
    assert "systemctl reload multipathd" in [c["command"] for c in lab.commands("host1")]


def test_restart_is_recorded_separately(clients, lab):
    assert sh(clients, "host2", "systemctl restart multipathd.service") == (0, "", "")
    assert lab.host_state("host2")["services"]["multipathd"]["counts"] == {"restart": 1}


# --- lifecycle and site -------------------------------------------------------


def test_state_and_host_keys_survive_restart(tmp_path, keys):
    lab = LabProcess(tmp_path / "state", authorized_keys=[keys[1]], client_key=keys[0])
    with lab:
        first_key = lab.info["hosts"]["storage"]["host_key"]
        with lab.ssh("storage") as client:
            assert run(client, "groupadd kvm -g 36")[0] == 0
    assert not (tmp_path / "state" / "lab.json").exists()
    with lab:
        assert lab.info["hosts"]["storage"]["host_key"] == first_key
        with lab.ssh("storage") as client:
            assert run(client, "getent group kvm") == (0, "kvm:x:36:\n", "")
    assert [c["command"] for c in lab.commands("storage")] == ["groupadd kvm -g 36", "getent group kvm"]


def test_cli_start_status_stop(tmp_path, keys):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "lab", *args, "--state", str(tmp_path)],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    started = cli("start", "--random-ports", "--authorized-key", str(keys[1]))
    assert started.returncode == 0, started.stderr
    try:
        info = json.loads((tmp_path / "lab.json").read_text())
        assert f"ssh -p {info['hosts']['engine']['port']}" in started.stdout
        known = (tmp_path / "known_hosts").read_text()
        assert f"[127.0.0.1]:{info['hosts']['engine']['port']} ssh-ed25519 AAAA" in known
        assert "already running" in cli("start", "--random-ports").stdout
        assert cli("status").returncode == 0
    finally:
        assert cli("stop").returncode == 0
    assert cli("status").returncode == 3
    assert not (tmp_path / "lab.json").exists()


def test_site_file_defaults_and_extra_sections(tmp_path):
    default = site_mod.load()
    assert [h.name for h in default.hosts] == ["engine", "storage", "deploy", "host1", "host2", "backup"]
    assert default.host("deploy").fqdn == "she-deploy.lab.example"
    assert {h.ssh_port for h in default.hosts} == set(range(2221, 2227))
    path = site_variant(tmp_path / "site.yaml", lambda d: d.update(engine_api={"url": "https://x"}))
    assert site_mod.load(path).extra == {"engine_api": {"url": "https://x"}}

    def bad_role(data):
        data["hosts"][0]["role"] = "toaster"

    with pytest.raises(site_mod.SiteError, match="toaster"):
        site_mod.load(site_variant(tmp_path / "bad.yaml", bad_role))
