"""Bad input: every generated stack config is either rejected naming its setting, or accepted and safe.

Three layers: the config reader (hundreds of generated configs), the quoting every remote command
goes through (checked with the lab's own shell parser), and a real migration whose accepted settings
are full of shell metacharacters, after which no host ran anything it was not asked to.
"""

import copy
import shlex

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import site_config
from lab.testing import run
from lab.transport import shell
from providers.engine_backup import EngineBackupProvider
from providers.hosted_engine_deployment import HostedEngineDeploymentProvider
from providers.hosted_engine_node import HostedEngineNodeProvider
from providers.multipath_override import MultipathOverrideProvider
from providers.storage_export import StorageExportProvider
from tests.harness import FakeConfig, ProjectStack, migration_settings

HOSTILE = [
    "; touch /tmp/PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a && touch PWNED",
    "x | tee PWNED",
    "a\nb",
    "'\"",
    "ünïcødé ☃",
    "x" * 5000,
    "",
    " ",
    "-rf",
    "--help",
    "../../etc/passwd",
    "a\x00b",
    "*",
    "~root",
    "${IFS}",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(HOSTILE),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A valid whole-migration config, as the lab stack has it."""
    folder = tmp_path_factory.mktemp("config")
    (folder / "known_hosts").write_text("")
    (folder / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    return {
        "ssh": {"user": "root", "knownHostsFile": str(folder / "known_hosts")},
        "hosts": {
            name: {"address": "127.0.0.1", "port": 2220 + i}
            for i, name in enumerate(["engine", "storage", "deploy", "host1", "host2", "backup"])
        },
        "storageExports": [{"host": "storage", "path": "/exports/data"}],
        "multipathOverrides": [
            {"host": "host1", "file": "90-x.conf", "settings": {"devices": [{"vendor": "X", "path_checker": "tur"}]}}
        ],
        "roles": {"originalEngine": "engine", "deploymentHost": "deploy", "backupServer": "backup"},
        "backup": {"directory": "/backup", "fileName": "engine.backup"},
        "hostedEngine": {
            "fqdn": "engine.lab.example",
            "gateway": "192.0.2.1",
            "vm": {"memoryMB": 16384, "vcpus": 4},
            "storage": {"type": "nfs", "connection": "storage.lab.example:/exports/he"},
        },
        "engineApi": {"url": "https://127.0.0.1:8444/ovirt-engine/api", "caFile": str(folder / "ca.pem")},
        "hostedEngineNodes": ["host1", "host2"],
    }


def paths(value, prefix=()):
    """Every setting path in a config, leaves and branches."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, prefix + (index,))


def with_value(config: dict, path: tuple, value, delete: bool) -> dict:
    changed = copy.deepcopy(config)
    target = changed
    for step in path[:-1]:
        target = target[step]
    if delete and isinstance(target, dict):
        target.pop(path[-1])
    else:
        target[path[-1]] = value
    return changed


def test_the_base_config_is_accepted(base):
    assert site_config.load(FakeConfig(base)).migration.nodes == ["host1", "host2"]


@pytest.mark.parametrize(
    "path,value,setting",
    [
        (("hostedEngine", "smtp", "server"), "SMTP.example.com", "hostedEngine.smtp.server"),  # ha_notifications.py
        (("hostedEngine", "smtp", "server"), "smtp_relay", "hostedEngine.smtp.server"),
        (("hostedEngine", "smtp", "recipients"), ["ops@Example.COM"], "hostedEngine.smtp.recipients"),
        (("hostedEngine", "storage", "nfsVersion"), "v5", "hostedEngine.storage.nfsVersion"),  # constants.NfsVersions
        (("hostedEngine", "storage", "diskSizeGB"), 0, "hostedEngine.storage.diskSizeGB"),  # vm/image.py: int() > 0
        (("hostedEngine", "dataCenterName"), "Data Centre 1", "hostedEngine.dataCenterName"),
        (("hostedEngine", "dataCenterName"), "Prod", "hostedEngine.clusterName"),  # validate_data_center_name.yml
        (("hostedEngine", "networkTest"), {"type": "arp"}, "hostedEngine.networkTest.type"),
        (("hostedEngine", "networkTest"), {"type": "tcp"}, "hostedEngine.networkTest.address"),
        (("hostedEngine", "vm", "staticCIDR"), "192.0.2.60", "hostedEngine.vm.staticCIDR"),  # 4.4 needs the prefix
        (("hostedEngine", "vm", "rootSshAccess"), "no", "hostedEngine.vm.rootSshAccess"),
    ],
)
def test_what_the_deploy_would_refuse_is_refused_at_preview(base, path, value, setting):
    changed = copy.deepcopy(base)
    target = changed
    for step in path[:-1]:
        target = target.setdefault(step, {})
    target[path[-1]] = value
    with pytest.raises(site_config.ConfigError) as refused:
        site_config.load(FakeConfig(changed))
    assert f"`{setting}`" in str(refused.value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=VALUES, delete=st.booleans())
def test_a_bad_value_anywhere_is_rejected_naming_the_setting_or_accepted(base, data, value, delete):
    path = data.draw(st.sampled_from([p for p in paths(base) if p]))
    config = with_value(base, path, value, delete)
    try:
        site = site_config.load(FakeConfig(config))
    except site_config.ConfigError as error:
        problems = str(error).splitlines()[1:]
        assert problems and all(line.startswith("  - ") and "`" in line for line in problems), str(error)
        assert all(len(line) < 600 for line in problems), "an error message must stay readable"
        return
    assert resource_failures(site) == [], f"accepted at preview, refused by a resource: {path} = {value!r}"


def resource_failures(site) -> list[str]:
    """What the resources' own checks would refuse in an accepted site: the reader must have said it at preview."""
    checks = [
        (StorageExportProvider(), {"path": e.path, "clients": e.clients, "options": e.options})
        for e in site.storage_exports
    ]
    checks += [
        (MultipathOverrideProvider(), {"file": o.file, "settings": o.settings}) for o in site.multipath_overrides
    ]
    if site.migration:
        backup, timeouts = site.migration.backup, site.migration.node_timeouts
        checks += [
            (
                EngineBackupProvider(),
                {
                    "fileName": backup.file_name,
                    "directory": backup.directory,
                    "engineDirectory": backup.engine_directory,
                },
            ),
            (HostedEngineDeploymentProvider(), {"storage": site.migration.hosted_engine["storage"]}),
            (
                HostedEngineNodeProvider(),
                {"maintenanceTimeout": timeouts["maintenance"], "installTimeout": timeouts["install"]},
            ),
        ]
    hosts = [site.connection(name) for name in site.hosts]
    unreachable = [
        h["name"] for h in hosts if not (h["address"] and isinstance(h["port"], int) and 0 < h["port"] < 65536)
    ]
    return [f.reason for provider, props in checks for f in provider.check({}, props).failures] + unreachable


@settings(max_examples=300, deadline=None)
@given(
    args=st.lists(
        st.one_of(st.text(), st.sampled_from(HOSTILE)).filter(lambda a: "\x00" not in a), min_size=1, max_size=4
    )
)
def test_every_argument_reaches_the_remote_shell_as_one_word(args):
    """What providers.ssh sends (shlex.join of the argv), parsed as the lab's POSIX shell parses it."""
    pipelines = shell.parse(shlex.join(["cmd", *args]))
    assert len(pipelines) == 1 and len(pipelines[0].commands) == 1
    command = pipelines[0].commands[0]
    assert [w.text for w in command.words] == ["cmd", *args] and command.redirects == []
    assert not any(w.has_glob() for w in command.words[1:])


INJECTIONS = {
    ("backup", "fileName"): "engine;touch PWNED1$(touch PWNED2)`touch PWNED3`.backup",
    ("backup", "directory"): "/backup/a b;touch PWNED4",
    ("hostedEngine", "backupDirectory"): "/root/back up$(touch PWNED5)&&touch PWNED6",
    ("hostedEngine", "storage", "mountOptions"): "rw;touch PWNED7",
}


def test_a_migration_with_shell_metacharacters_in_its_settings_runs_only_what_it_should(
    tmp_path, migration_lab, client_key
):
    settings = migration_settings(migration_lab, migration_lab.ports)
    for path, value in INJECTIONS.items():
        settings = with_value(settings, path, value, delete=False)
    settings["multipathOverrides"][0]["settings"]["devices"][0]["vendor"] = "IBM$(touch PWNED8);`touch PWNED9`"
    stack = ProjectStack(tmp_path / "project")
    stack.configure(
        settings,
        {
            "sshPrivateKey": client_key[0].read_text(),
            "adminPassword": "lab-admin-password",
            "engineRootPassword": "root-Pa55",
        },
    )
    assert stack.up().summary.result == "succeeded"

    ran = [shell.parse(c["command"]) for c in migration_lab.commands() if c["kind"] == "exec"]
    words = [w.text for line in ran for pipeline in line for command in pipeline.commands for w in command.words[:1]]
    assert "touch" not in words and len(ran) > 50
    for host in migration_lab.info["hosts"]:
        files = migration_lab.host_state(host).get("files", {})
        assert not [p for p in files if p.rsplit("/", 1)[-1].startswith("PWNED")], host
    status, listing, _ = run(migration_lab.ssh("backup"), "ls -1 '/backup/a b;touch PWNED4'")
    assert status == 0 and INJECTIONS[("backup", "fileName")] in listing.splitlines()
