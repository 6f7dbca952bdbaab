"""engine-backup's verifyVersion, read from both sides: the preflight's rule (components/preflight/
engine_version.py) and the lab's restore (lab/commands/hosted_engine.py) each implement it on their own,
and one table of upstream's decisions holds for both; the appliance's Engine is read from the appliance's
rpm manifest (4.5.5's `rpm -qa` lines and 4.5.7's kiwi list), the appliance found by what it provides
(4.5.7's `ovirt-engine-appliance-centos9`); a site whose appliance would refuse the backup fails
`pulumi preview` naming the host and the fix, with nothing on the lab changed, and the lab's own restore
refuses that backup with upstream's FATAL line."""

import shlex
from types import SimpleNamespace

import pytest
import yaml
from pulumi import automation as auto

from components.preflight import engine_version
from lab import ovirt_site
from lab.commands import hosted_engine as lab_restore
from lab.site import DEFAULT_SITE, SiteError
from lab.testing import LabProcess, run, site_variant
from providers import appliance as appliance_reader
from providers.ssh import Result, is_read
from tests.harness import ANSWERS, answer_file, get, put
from tests.test_preflight import ADMIN_PASSWORD, READ_ONLY, make_stack, snapshot

REFUSED = "FATAL: Backup was created by version '{}' and can not be restored using the installed version {}"

# (backup's `version`, the installed engine-backup's PACKAGE_VERSION, what engine-backup prints or None)
VERIFY_VERSION_TABLE = [
    ("4.5.6", "4.5.5", REFUSED.format("4.5.6", "4.5.5")),  # the case: the backup is newer
    ("4.5.5", "4.5.6", None),
    ("4.5.6", "4.5.6", None),
    ("4.5.7", "4.5.6", REFUSED.format("4.5.7", "4.5.6")),
    ("4.5.6", "4.5.8_master", None),  # a master-snapshot appliance
    ("4.5.6_master", "4.5.6", REFUSED.format("4.5.6_master", "4.5.6")),  # LooseVersion: longer is newer
    ("4.5.0_master", "4.5.0.2", REFUSED.format("4.5.0_master", "4.5.0.2")),  # '_' against 2: TypeError, refused
    ("4.4.10", "4.5.0.2", None),  # 4.4 -> 4.5 from 4.5.0.2 ...
    ("4.4.10", "4.5.6", None),
    ("4.4.10", "4.5.0", REFUSED.format("4.4.10", "4.5.0")),  # ... not with 4.5.0 or 4.5.0.1
    ("4.4.10", "4.5.0.1", REFUSED.format("4.4.10", "4.5.0.1")),
    ("4.3.9", "4.4.10", REFUSED.format("4.3.9", "4.4.10")),  # 4.3 needs z >= 10 (from 4.4.3.4)
    ("4.3.10", "4.4.10", None),
    ("4.3.10", "4.5.6", None),
    ("4.3.9", "4.5.6", REFUSED.format("4.3.9", "4.5.6")),
    ("4.3", "4.4.10", None),  # no z: `[ "" -lt 10 ]` fails, the pair stands
    ("4.3.9", "4.4.3.3", None),  # before 4.4.3.4: no z rule ...
    ("4.3.9", "4.4.3.4", REFUSED.format("4.3.9", "4.4.3.4")),
    ("4.4.3", "4.4.1", None),  # ... and a newer z of the same X.Y passes
    ("4.4.8", "4.4.7", REFUSED.format("4.4.8", "4.4.7")),  # from 4.4.7: not newer, by LooseVersion
    ("4.4.10", "4.4.9", REFUSED.format("4.4.10", "4.4.9")),  # numbers, not text: 10 > 9
    ("4.5.6", "4.4.10", REFUSED.format("4.5.6", "4.4.10")),
    ("4.2.8", "4.3.11.4", REFUSED.format("4.2", "4.3")),  # 4.2 -> 4.3 refused; 4.3 prints the X.Y
    ("4.3.11", "4.4.0", None),
    ("4.5.6", "4.6.0", REFUSED.format("4.5.6", "4.6.0")),  # no 4.5 -> 4.6 pair anywhere
]


def project_rule(backup, installed):
    refusal = engine_version.verify_version(backup, installed)
    return None if refusal is None else refusal.fatal


@pytest.mark.parametrize("rule", [project_rule, lab_restore.verify_version], ids=["preflight", "lab"])
@pytest.mark.parametrize("backup,installed,expected", VERIFY_VERSION_TABLE)
def test_verify_version_decides_as_engine_backup_does(rule, backup, installed, expected):
    assert rule(backup, installed) == expected
    assert lab_restore.version_restorable(backup, installed) is (expected is None)


def test_a_refusal_says_which_rule_refused():
    assert engine_version.verify_version("4.5.6", "4.5.5").why == "the backup's 4.5.6 is newer than the installed 4.5.5"
    assert (
        engine_version.verify_version("4.4.10", "4.5.0").why == "engine-backup 4.5.0 restores only 4.5 backups, not 4.4"
    )
    assert engine_version.verify_version("4.2.8", "4.5.6").why == (
        "engine-backup 4.5.6 restores only 4.5 backups and 4.3 -> 4.5, 4.4 -> 4.5, not 4.2"
    )
    assert engine_version.verify_version("4.3.9", "4.5.6").why == "a 4.3 backup must come from 4.3.10 or later"


MANIFESTS = [  # (manifest text, the Engine's PACKAGE_VERSION)
    (
        "bash-4.4.20-5.el8.x86_64\novirt-engine-4.5.5-1.el8.noarch\novirt-engine-tools-4.5.5-1.el8.noarch\n"
        "ovirt-engine-tools-backup-4.5.5-1.el8.noarch\n",
        "4.5.5",
    ),
    (
        "ovirt-engine|(none)|4.5.7|1.el9|noarch|(none)|ASL 2.0\n"
        "ovirt-engine-tools-backup|(none)|4.5.7|1.el9|noarch|(none)|ASL 2.0\n",
        "4.5.7",
    ),
    ("ovirt-engine-tools-backup|(none)|4.5.8|0.master.20250101000000.el9|noarch|(none)|ASL 2.0\n", "4.5.8_master"),
    ("ovirt-engine-4.4.10.7-1.el8.noarch\n", "4.4.10.7"),  # no tools-backup line: ovirt-engine's version
    ("bash-4.4.20-5.el8.x86_64\nqemu-guest-agent-6.2.0-1.el8.x86_64\n", None),
]


@pytest.mark.parametrize("text,expected", MANIFESTS)
def test_both_sides_read_the_engine_from_either_manifest_format(text, expected):
    found = appliance_reader.engine_in_manifest(text)
    assert (found and found[0]) == expected
    assert ovirt_site.manifest_engine_version(text) == expected


def test_the_default_site_ships_the_appliance_its_builder_makes():
    """The default deploy host's appliance is exactly appliance_site_entries("4.5.6"), so the manifest, the
    rpm header and the image name agree, and the lab's default appliance_engine_version with them."""
    data = yaml.safe_load(DEFAULT_SITE.read_text())
    deploy = next(h for h in data["hosts"] if h["name"] == "deploy")
    expected = ovirt_site.ship_appliance(yaml.safe_load(yaml.safe_dump(deploy)), "4.5.6")
    entries = ovirt_site.appliance_site_entries("4.5.6")
    assert deploy["rpms"] == expected["rpms"] == {"ovirt-engine-appliance": entries["rpm"]}
    assert [f for f in deploy["files"] if f["path"] in entries["rpm"]["files"]] == entries["files"]
    manifest = next(f["content"] for f in entries["files"] if f["path"].endswith("-manifest-rpm"))
    assert ovirt_site.manifest_engine_version(manifest) == ovirt_site.DEFAULTS["appliance_engine_version"]


def test_a_site_pinning_another_version_than_its_appliance_manifest_is_refused(tmp_path):
    from lab.site import load

    path = site_variant(tmp_path / "site.yaml", lambda d: d.update(ovirt={"appliance_engine_version": "4.5.5"}))
    with pytest.raises(SiteError, match="lists Engine 4.5.6, but ovirt.appliance_engine_version is 4.5.5"):
        ovirt_site.check_appliances(load(path))


# --- the check, on canned command results ---------------------------------------------------------------


class CannedHosts:
    """hosts.run() answering from a table of (host, argv) -> Result, recording what was read."""

    def __init__(self, answers):
        self.answers, self.read = answers, []

    def run(self, name, *argv):
        self.read.append((name, argv))
        return self.answers.get((name, argv), Result(1, "", f"{argv[0]}: not in the test's table\n"))


def canned_site():
    return SimpleNamespace(
        migration=SimpleNamespace(
            original_engine="engine", deployment_host="deploy", backup=SimpleNamespace(allow_engine_update=True)
        )
    )


def answers(appliances, manifests=None):
    table = {
        ("engine", ("engine-upgrade-check",)): Result(1, "No upgrade\n", ""),
        ("engine", ("rpm", "-q", "--qf", r"%{VERSION}\t%{RELEASE}\n", "ovirt-engine-tools-backup")): Result(
            0, "4.5.6\t1.el8\n", ""
        ),
        (
            "deploy",
            ("rpm", "-q", "--whatprovides", "ovirt-engine-appliance", "--qf", appliance_reader.QUERY_FORMAT),
        ): Result(0, "".join(f"{n}\t{v}\t{r}\n" for n, v, r, _ in appliances), "")
        if appliances
        else Result(1, "no package provides ovirt-engine-appliance\n", ""),
    }
    for name, _, _, docs in appliances:
        table[("deploy", ("rpm", "-q", "--docfiles", name))] = Result(0, "".join(f"{d}\n" for d in docs), "")
    for path, text in (manifests or {}).items():
        table[("deploy", ("cat", path))] = Result(0, text, "")
    return table


def run_check(table, used):
    """engine_version's findings when deploy_appliance found that the deploy uses the package USED."""
    findings = SimpleNamespace(errors=[], warnings=[], notes=[])
    engine_version.check(canned_site(), CannedHosts(table), {"deploy_appliance": used}, findings, None, None)
    return findings


MANIFEST_457 = "/usr/share/doc/ovirt-engine-appliance-centos9/ovirt-engine-appliance-centos9-manifest-rpm"


def test_check_accepts_a_4_5_7_appliance_found_by_what_it_provides():
    table = answers(
        [("ovirt-engine-appliance-centos9", "4.5.7", "1.el9", [MANIFEST_457])], {MANIFEST_457: MANIFESTS[1][0]}
    )
    assert vars(run_check(table, "ovirt-engine-appliance-centos9")) == {"errors": [], "warnings": [], "notes": []}


def test_check_refuses_an_appliance_whose_engine_is_older_than_the_backup():
    path = "/usr/share/doc/ovirt-engine-appliance/ovirt-engine-appliance-manifest-rpm"
    findings = run_check(
        answers([("ovirt-engine-appliance", "4.5", "20231201.1.el8", [path])], {path: MANIFESTS[0][0]}),
        "ovirt-engine-appliance",
    )
    [error] = findings.errors
    assert error.startswith(
        "the appliance on the deployment host (deploy), ovirt-engine-appliance-4.5-20231201.1.el8, "
        "holds Engine 4.5.5 (ovirt-engine-tools-backup in its manifest " + path
    )
    assert REFUSED.format("4.5.6", "4.5.5") in error and "`dnf update ovirt-engine-appliance`" in error


def test_check_judges_only_the_appliance_the_deploy_uses():
    table = answers(
        [
            ("ovirt-engine-appliance", "4.5", "1", []),
            ("ovirt-engine-appliance-centos9", "4.5.7", "1.el9", [MANIFEST_457]),
        ]
    )
    assert vars(run_check(table, None)) == {"errors": [], "warnings": [], "notes": []}  # deploy_appliance said why
    findings = run_check(table, "ovirt-engine-appliance")
    assert findings.errors == []
    assert findings.notes == [
        "the deploy uses the appliance ovirt-engine-appliance on the deployment host (deploy), as its "
        "ovirt-ansible-collection picks it; ovirt-engine-appliance-centos9-4.5.7-1.el9 also provide "
        "ovirt-engine-appliance and are not used"
    ]
    assert [w.split(":")[0] for w in findings.warnings] == [
        "the Engine Appliance on the deployment host (deploy), ovirt-engine-appliance-4.5-1, ships no rpm manifest "
        "(`rpm -q --docfiles ovirt-engine-appliance` lists none), so the version of the Engine that will restore "
        "the backup cannot be compared with the original's (4.5.6)",
    ]
    [warning] = run_check(table, "ovirt-engine-appliance-centos9").warnings
    assert warning.startswith(
        "the Engine Appliance on the deployment host (deploy), ovirt-engine-appliance-centos9-4.5.7-1.el9, lists its "
        f"manifest {MANIFEST_457} but it is not on disk (installed without documentation"
    )


def test_check_says_when_the_original_engine_has_no_engine_backup():
    table = answers([])
    del table[("engine", ("rpm", "-q", "--qf", r"%{VERSION}\t%{RELEASE}\n", "ovirt-engine-tools-backup"))]
    table[("engine", ("rpm", "-q", "--qf", r"%{VERSION}\t%{RELEASE}\n", "ovirt-engine-tools-backup"))] = Result(
        1, "package ovirt-engine-tools-backup is not installed\n", ""
    )
    [error] = run_check(table, None).errors
    assert error.startswith("the original Engine (engine) has no ovirt-engine-tools-backup")
    assert "`dnf install ovirt-engine-tools-backup`" in error


# --- through the lab: rpm, the preview, the restore -----------------------------------------------------


def assert_read_only(lab, before_count, before_state):
    """tests/test_preflight.py's assert_read_only, a command also passing when the project counts it a read
    (providers.ssh.is_read), since other checks read what READ_ONLY does not list yet."""
    ran = lab.commands()[before_count:]
    assert ran, "the preflight read nothing from the site"
    assert [
        c
        for c in ran
        if c["kind"] != "exec" or not (c["command"].startswith(READ_ONLY) or is_read(shlex.split(c["command"])))
    ] == []
    assert snapshot(lab) == before_state


def variant(tmp_path_factory, name, engine=None, **options):
    def change(data):
        deploy = next(h for h in data["hosts"] if h["name"] == "deploy")
        ovirt_site.ship_appliance(deploy, engine, **options)
        data["ovirt"] = {"pause_seconds": 0.2}  # a refused restore's pause ends at once
        if options.get("kiwi"):  # an el9 appliance, which collection 3.2.2 picks by name
            ovirt_site.set_os_release(deploy, "centos", "9")
            data["ovirt"]["collection_version"] = "3.2.2"

    return site_variant(tmp_path_factory.mktemp(name) / "site.yaml", change)


@pytest.fixture(scope="module")
def older_lab(tmp_path_factory, client_key):
    """The deployment host's appliance holds Engine 4.5.5 (4.5.5-style package); the original runs 4.5.6."""
    site = variant(tmp_path_factory, "older", "4.5.5")
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        yield lab


@pytest.fixture(scope="module")
def kiwi_lab(tmp_path_factory, client_key):
    """A 4.5.7 kiwi appliance, `ovirt-engine-appliance-centos9`, holding Engine 4.5.7."""
    site = variant(tmp_path_factory, "kiwi", "4.5.7", kiwi=True)
    with LabProcess(
        tmp_path_factory.mktemp("lab"), site=site, authorized_keys=[client_key[1]], client_key=client_key[0]
    ) as lab:
        yield lab


def test_lab_rpm_answers_the_queries_the_check_makes(kiwi_lab):
    deploy, engine = kiwi_lab.ssh("deploy"), kiwi_lab.ssh("engine")
    try:
        assert run(
            deploy, r"rpm -q --whatprovides ovirt-engine-appliance --qf '%{NAME}\t%{VERSION}\t%{RELEASE}\n'"
        ) == (0, "ovirt-engine-appliance-centos9\t4.5.7\t1.el9\n", "")
        assert run(deploy, "rpm -q ovirt-engine-appliance") == (
            1,
            "package ovirt-engine-appliance is not installed\n",
            "",
        )
        assert run(deploy, "rpm -q ovirt-engine-appliance-centos9") == (
            0,
            "ovirt-engine-appliance-centos9-4.5.7-1.el9.x86_64\n",
            "",
        )
        assert run(deploy, "rpm -q --docfiles ovirt-engine-appliance-centos9") == (0, MANIFEST_457 + "\n", "")
        assert run(deploy, "rpm -ql ovirt-engine-appliance-centos9")[1].splitlines() == [
            "/etc/ovirt-hosted-engine/10-appliance-centos9.conf",
            MANIFEST_457,
            "/usr/share/ovirt-engine-appliance",
            "/usr/share/ovirt-engine-appliance/ovirt-engine-appliance-centos9-4.5.7-1.el9.qcow2",
        ]
        assert "ovirt-engine-tools-backup|(none)|4.5.7|1.el9|noarch|" in run(deploy, f"cat {MANIFEST_457}")[1]
        assert run(deploy, "rpm -q --whatprovides ovirt-engine-no-such") == (
            1,
            "no package provides ovirt-engine-no-such\n",
            "",
        )
        assert run(deploy, "rpm -q --qf '%{NOSUCHTAG}' ovirt-engine-appliance-centos9") == (
            1,
            "",
            "error: incorrect format: unknown tag\n",
        )
        assert run(engine, r"rpm -q --qf '%{VERSION}\t%{RELEASE}\n' ovirt-engine-tools-backup") == (
            0,
            "4.5.6\t1.el8\n",
            "",
        )
        assert run(engine, "rpm -ql ovirt-engine") == (0, "(contains no files)\n", "")
    finally:
        deploy.close()
        engine.close()


def test_a_4_5_7_appliance_found_by_what_it_provides_passes_the_preview(tmp_path_factory, kiwi_lab, client_key):
    stack = make_stack(tmp_path_factory, kiwi_lab, client_key)
    before_count, before_state = len(kiwi_lab.commands()), snapshot(kiwi_lab)
    output = (lambda r: r.stdout + r.stderr)(stack.preview())
    assert "preflight found" not in output and "Engine Appliance" not in output, output
    ran = [c["command"] for c in kiwi_lab.commands()[before_count:] if c["host"] == "deploy"]
    assert f"cat {MANIFEST_457}" in ran and "rpm -q --docfiles ovirt-engine-appliance-centos9" in ran
    assert_read_only(kiwi_lab, before_count, before_state)


def test_an_appliance_older_than_the_backup_fails_the_preview_and_changes_nothing(
    tmp_path_factory, older_lab, client_key
):
    stack = make_stack(tmp_path_factory, older_lab, client_key)
    before_count, before_state = len(older_lab.commands()), snapshot(older_lab)
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview()
    text = str(failed.value)
    assert (
        "the appliance on the deployment host (deploy), ovirt-engine-appliance-4.5-20240101000000.1.el8, holds "
        "Engine 4.5.5 (ovirt-engine-tools-backup in its manifest "
        "/usr/share/doc/ovirt-engine-appliance/ovirt-engine-appliance-manifest-rpm)"
    ) in text, text
    assert "the backup's 4.5.6 is newer than the installed 4.5.5" in text
    assert REFUSED.format("4.5.6", "4.5.5") in text and "`dnf update ovirt-engine-appliance`" in text
    assert ADMIN_PASSWORD not in text
    assert_read_only(older_lab, before_count, before_state)
    assert stack.stack.export_stack().deployment.get("resources") in (None, [])


def test_the_lab_restore_refuses_the_backup_with_the_appliance_manifest_engine(older_lab):
    """The witness agrees: the deploy's engine-backup is the appliance's 4.5.5 and refuses a 4.5.6 backup."""
    engine, deploy = older_lab.ssh("engine"), older_lab.ssh("deploy")
    try:
        assert run(engine, "engine-backup --mode=backup --file=/root/engine.backup --log=/root/backup.log")[0] == 0
        put(deploy, "/root/engine.backup", get(engine, "/root/engine.backup"))
        put(deploy, "/root/answers.conf", answer_file(ANSWERS))
        status, out, _ = run(
            deploy,
            "hosted-engine --deploy --restore-from-file=/root/engine.backup --config-append=/root/answers.conf",
            timeout=30,
        )
    finally:
        engine.close()
        deploy.close()
    assert f"engine-backup --mode=restore failed:\n\n{REFUSED.format('4.5.6', '4.5.5')}\n" in out, out
    assert status == 1 and "Timeout when waiting for file /tmp/ansible." in out
