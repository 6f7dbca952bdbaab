"""The settings models (components/site_config.py): a key no model has is an error naming its whole
path and the nearest real key, every committed stack loads with no unknown key, and the defaults
come out as they did before the models (snapshots taken from the loader they replaced).

The configs go through pulumi.Config over the SDK's own config store, as the program reads them;
one real `pulumi preview` shows the same errors reach the CLI, top-level keys included.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi import automation as auto
from pulumi.runtime import config as runtime_config

from components import site_config
from tests.harness import PROJECT_DIR, PROJECT_NAME, ProjectStack

CA_PEM = "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n"
KNOWN_HOSTS = "[127.0.0.1]:2221 ssh-ed25519 AAAA\n"
STACKS = sorted((PROJECT_DIR / "stacks").glob("Pulumi.*.yaml"))

# The six misspellings of issue 13: (the setting's path, the misspelt key, the key meant).
MISSPELLINGS = [
    (("backup",), "allowEngineUpdates", "allowEngineUpdate"),
    (("hostedEngine", "vm"), "macAdress", "macAddress"),
    (("hostedEngine", "storage"), "nfsversion", "nfsVersion"),
    (("hostedEngine",), "clustername", "clusterName"),
    (("engineApi",), "usename", "username"),
    (("nodeTimeouts",), "maintenence", "maintenance"),
]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "known_hosts").write_text(KNOWN_HOSTS)
    (tmp_path / "ca.pem").write_text(CA_PEM)
    return tmp_path


@pytest.fixture(autouse=True)
def own_config_store(monkeypatch):
    """Each test's settings alone in the SDK's config store, the one pulumi.Config reads."""
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)
    saved = runtime_config.CONFIG.get()
    yield
    runtime_config.CONFIG.set(saved)


def load(settings: dict) -> site_config.SiteConfig:
    """The program's path: site_config.load(pulumi.Config()) over the stack's config, as the language host passes it."""
    runtime_config.set_all_config(
        {f"{PROJECT_NAME}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()}
    )
    return site_config.load(pulumi.Config(PROJECT_NAME))


def problems(settings: dict) -> list[str]:
    try:
        load(settings)
    except site_config.ConfigError as error:
        return [line.removeprefix("  - ") for line in str(error).splitlines()[1:]]
    return []


def stack_settings(path: Path) -> dict:
    """A stack file's settings; its sealed secrets stand in as plain text, since only their names matter here."""
    config = yaml.safe_load(path.read_text())["config"]
    return {
        key.split(":", 1)[1]: "sealed" if isinstance(value, dict) and "secure" in value else value
        for key, value in config.items()
        if key.startswith(f"{PROJECT_NAME}:")
    }


def pointed(settings: dict, files: Path) -> dict:
    """The settings with their files (known_hosts, CA certificates) replaced by the test's."""
    settings = copy.deepcopy(settings)
    settings.setdefault("ssh", {})["knownHostsFile"] = str(files / "known_hosts")
    for api in ("engineApi", "originalEngineApi"):
        if "caFile" in settings.get(api, {}):
            settings[api]["caFile"] = str(files / "ca.pem")
    return settings


def lab(files: Path) -> dict:
    return pointed(stack_settings(PROJECT_DIR / "stacks" / "Pulumi.lab.yaml"), files)


def misspelt(settings: dict, where: tuple, key: str) -> dict:
    settings = copy.deepcopy(settings)
    target = settings
    for step in where:
        target = target.setdefault(step, {})
    target[key] = "x"
    return settings


@pytest.mark.parametrize("where,key,meant", MISSPELLINGS, ids=[".".join(w + (k,)) for w, k, _ in MISSPELLINGS])
def test_a_misspelt_setting_is_an_error_naming_it_and_the_key_meant(files, where, key, meant):
    path = ".".join(where)
    assert problems(misspelt(lab(files), where, key)) == [
        f"`{path}.{key}` is not a setting; did you mean `{path}.{meant}`?"
    ]


def test_every_misspelling_is_reported_together_with_the_other_problems(files):
    settings = lab(files)
    for where, key, _ in MISSPELLINGS:
        settings = misspelt(settings, where, key)
    settings["hostedEngine"]["vm"]["memoryMB"] = 1024
    found = problems(settings)
    assert len(found) == 7 and any(p.startswith("`hostedEngine.vm.memoryMB` is 1024") for p in found), found
    for where, key, meant in MISSPELLINGS:
        assert f"`{'.'.join(where)}.{key}` is not a setting; did you mean `{'.'.join(where)}.{meant}`?" in found


@pytest.mark.parametrize(
    "change,problem",
    [
        (lambda s: s.update(nodeTimeout={"poll": 1}), "`nodeTimeout` is not a setting; did you mean `nodeTimeouts`?"),
        (lambda s: s.update(adminPasword="x"), "`adminPasword` is not a setting; did you mean `adminPassword`?"),
        (lambda s: s.update(NodeReboot=False), "`NodeReboot` is not a setting; did you mean `nodeReboot`?"),
        (
            lambda s: s["hosts"]["host1"].update(adress="x"),
            "`hosts.host1.adress` is not a setting; did you mean `hosts.host1.address`?",
        ),
        (
            lambda s: s["multipathOverrides"][2].update(vendorrequired=True),
            "`multipathOverrides[2].vendorrequired` is not a setting; did you mean `multipathOverrides[2].vendorRequired`?",
        ),
        (
            lambda s: s["storageExports"][1].update(option="ro"),
            "`storageExports[1].option` is not a setting; did you mean `storageExports[1].options`?",
        ),
        (
            lambda s: s["hostedEngine"]["engineVm"].update(Port=22),
            "`hostedEngine.engineVm.Port` is not a setting; did you mean `hostedEngine.engineVm.port`?",
        ),
        (
            lambda s: s["hostedEngine"].update(
                networkTest={"type": "tcp", "address": "192.0.2.1", "port": 53, "timeout": 5}
            ),
            "`hostedEngine.networkTest.timeout` is not a setting: `hostedEngine.networkTest` takes type, address, port (README.md, Settings)",
        ),
        (
            lambda s: s["originalEngineApi"].update(chek=False),
            "`originalEngineApi.chek` is not a setting; did you mean `originalEngineApi.check`?",
        ),
        (
            lambda s: s["hostedEngine"].update(smtp={"recipient": ["ops@example.com"]}),
            "`hostedEngine.smtp.recipient` is not a setting; did you mean `hostedEngine.smtp.recipients`?",
        ),
        (
            lambda s: s.update(region="eu-1"),
            "`region` is not a setting: the settings are ssh, hosts, storageExports, multipathOverrides, roles, backup, "
            "hostedEngine, engineApi, originalEngineApi, hostedEngineNodes, nodeTimeouts, nodeReboot, haDrill, decommission, sshPrivateKey, "
            "adminPassword, engineRootPassword, iscsiDiscoverPassword, iscsiPortalPassword (README.md, Settings)",
        ),
    ],
    ids=lambda p: p.split("`")[1] if isinstance(p, str) else "",
)
def test_an_unknown_key_at_any_depth_is_an_error_with_its_full_path(files, change, problem):
    settings = lab(files)
    settings.setdefault("originalEngineApi", {})
    change(settings)
    assert problems(settings) == [problem]


def test_a_hostile_unknown_key_stays_one_readable_line(files):
    settings = lab(files)
    settings["backup"]["x\n`; rm -rf /" + "y" * 5000] = 1
    (found,) = problems(settings)
    assert found.startswith("`backup.x\\n`; rm -rf /yyy") and "\n" not in found and len(found) <= 400


@pytest.mark.parametrize("stack", STACKS, ids=[s.name for s in STACKS])
def test_every_committed_stack_loads_with_no_unknown_key(files, stack):
    settings = stack_settings(stack)
    assert not [p for p in problems(settings) if "is not a setting" in p]  # its own files may be absent here
    site = load(pointed(settings, files))
    assert site.migration is not None and site.migration.nodes == ["host1", "host2"]


def test_a_stack_without_a_migration_loads_as_before(files):
    settings = {
        "ssh": {"knownHostsFile": str(files / "known_hosts")},
        "hosts": {"storage": {"address": "10.0.0.9"}},
        "storageExports": [{"host": "storage", "path": "/exports/data"}],
    }
    assert dataclasses.asdict(load(settings)) == {
        "ssh_user": "root",
        "known_hosts": KNOWN_HOSTS,
        "migration": None,
        "multipath_overrides": [],
        "hosts": {
            "storage": {"name": "storage", "address": "10.0.0.9", "port": 22, "host_key": None, "engine_name": None}
        },
        "storage_exports": [
            {"host": "storage", "path": "/exports/data", "clients": "*", "options": "rw,sync,no_subtree_check"}
        ],
    }


# The loader before the models (commit 0d64db4) on a migration giving only what has no default.
MINIMAL = {
    "ssh": {},
    "hosts": {n: {"address": f"10.0.0.{i}"} for i, n in enumerate(["engine", "deploy", "backup"], 1)},
    "roles": {"originalEngine": "engine", "deploymentHost": "deploy", "backupServer": "backup"},
    "hostedEngine": {
        "fqdn": "engine.example.com",
        "gateway": "10.0.0.254",
        "vm": {"memoryMB": 16384},
        "storage": {"connection": "nfs.example.com:/he"},
    },
    "engineApi": {"caFile": "ca.pem"},
}
MINIMAL_BEFORE = {
    "backup": {
        "allow_engine_update": False,
        "directory": "/backup",
        "engine_directory": "/var/lib/ovirt-engine-backup",
        "file_name": "engine.backup",
    },
    "backup_server": "backup",
    "deployment_host": "deploy",
    "original_engine": "engine",
    "nodes": [],
    "node_reboot": True,
    "engine_api": {"caPem": CA_PEM, "url": "https://engine.example.com/ovirt-engine/api", "username": "admin@internal"},
    "hosted_engine": {
        "applianceOva": "",
        "offlineDeployment": False,
        "backupDirectory": "/root/backup",
        "bridgeInterface": "eth0",
        "clusterName": "Default",
        "dataCenterName": "Default",
        "deployTimeout": 7200,
        "enableKeycloak": False,
        "fqdn": "engine.example.com",
        "gateway": "10.0.0.254",
        "networkTest": {"type": "dns"},
        "renewPki": False,
        "smtp": {"port": 25, "recipients": ["root@localhost"], "sender": "root@localhost", "server": "localhost"},
        "storage": {
            "connection": "nfs.example.com:/he",
            "discoverUser": "",
            "diskSizeGB": 51,
            "mountOptions": "",
            "nfsVersion": "auto",
            "portalUser": "",
            "type": "nfs",
        },
        "vm": {
            "etcHosts": True,
            "fips": False,
            "memoryMB": 16384,
            "openScapProfile": None,
            "rootSshAccess": "without-password",
            "vcpus": 4,
        },
    },
    "node_timeouts": {"install": 3600, "maintenance": 1800, "poll": 2},
}
ISCSI_STORAGE_BEFORE = {
    "discoverUser": "",
    "diskSizeGB": 51,
    "lun": "36001",
    "mountOptions": "",
    "nfsVersion": "auto",
    "portal": "192.0.2.5",
    "portalUser": "",
    "target": "iqn.2020-01.x:t",
    "type": "iscsi",
}
# The same loader on the committed lab stack.
LAB_BEFORE = {
    **MINIMAL_BEFORE,
    "backup": {
        "allow_engine_update": True,
        "directory": "/backup",
        "engine_directory": "/var/lib/ovirt-engine-backup",
        "file_name": "engine-lab.backup",
    },
    "engine_api": {"caPem": CA_PEM, "url": "https://127.0.0.1:8444/ovirt-engine/api", "username": "admin@internal"},
    "hosted_engine": {
        **MINIMAL_BEFORE["hosted_engine"],
        "fqdn": "engine.lab.example",
        "gateway": "192.0.2.1",
        "engineVm": {"address": "127.0.0.1", "port": 2227},
        "storage": {
            **MINIMAL_BEFORE["hosted_engine"]["storage"],
            "connection": "storage.lab.example:/exports/hosted_engine",
        },
        "vm": {**MINIMAL_BEFORE["hosted_engine"]["vm"], "macAddress": "00:16:3e:4c:61:62"},
    },
    "nodes": ["host1", "host2"],
    "node_timeouts": {"install": 120, "maintenance": 120, "poll": 0.5},
}
# What the models add: the defaults consumers repeat today, none of them an input of a resource.
ADDED = {"managementNetwork": "ovirtmgmt", "addressHandover": None, "retryFailedDeploy": False}
ORIGINAL_API_DEFAULT = {
    "url": "https://engine.example.com/ovirt-engine/api",
    "username": "admin@internal",
    "configured": False,
    "check": True,
    "caPem": CA_PEM,
}


def as_before(migration) -> dict:
    """The migration as the old loader gave it: without what the models add (checked on its own)."""
    found = dataclasses.asdict(migration)
    found.pop("original_engine_api")
    found.pop("ha_drill")  # checked on its own
    found.pop("decommission")
    for key in ADDED:
        found["hosted_engine"].pop(key)
    return found


def test_the_defaults_come_out_as_before(files):
    settings = pointed(MINIMAL, files)
    migration = load(settings).migration
    assert {k: migration.hosted_engine[k] for k in ADDED} == ADDED
    assert migration.hosted_engine.pop("engineVm") == {"address": "engine.example.com", "port": 22, "user": "root"}
    assert migration.original_engine_api == ORIGINAL_API_DEFAULT
    assert as_before(migration) == MINIMAL_BEFORE

    settings["hostedEngine"]["storage"] = {
        "type": "iscsi",
        "portal": "192.0.2.5",
        "target": "iqn.2020-01.x:t",
        "lun": "36001",
    }
    assert load(settings).migration.hosted_engine["storage"] == ISCSI_STORAGE_BEFORE


def test_the_lab_stack_comes_out_as_before(files):
    migration = load(lab(files)).migration
    assert migration.hosted_engine["engineVm"] == {"address": "127.0.0.1", "port": 2227, "user": "root"}
    migration.hosted_engine["engineVm"].pop("user")
    assert as_before(migration) == LAB_BEFORE
    # The dicts the resources take as inputs are the old ones exactly, so no stack sees a diff.
    for key in ("vm", "storage", "smtp", "networkTest"):
        assert migration.hosted_engine[key] == LAB_BEFORE["hosted_engine"][key]


def test_a_real_preview_reports_every_unknown_key_before_anything_is_planned(tmp_path, files):
    """The CLI hands the program its config (PULUMI_CONFIG): top-level keys are checked there too."""
    settings = lab(files)
    for where, key, _ in MISSPELLINGS:
        settings = misspelt(settings, where, key)
    settings["nodeReboots"] = False
    stack = ProjectStack(tmp_path / "project")
    stack.configure(settings, {"sshPrivateKey": "not a key", "adminPassword": "a", "engineRootPassword": "b"})
    with pytest.raises(auto.errors.CommandError) as failed:
        stack.preview()
    text = str(failed.value)
    assert "the stack configuration has problems:" in text
    assert "`nodeReboots` is not a setting; did you mean `nodeReboot`?" in text
    for where, key, meant in MISSPELLINGS:
        assert f"`{'.'.join(where)}.{key}` is not a setting; did you mean `{'.'.join(where)}.{meant}`?" in text


def test_the_ha_drill_is_off_by_default_on_in_the_lab_and_needs_a_node(files):
    assert load(pointed(MINIMAL, files)).migration.ha_drill == {"enabled": False, "timeout": 1800}
    assert load(lab(files)).migration.ha_drill == {"enabled": True, "timeout": 300}
    alone = {**lab(files), "hostedEngineNodes": []}
    assert problems(alone) == [
        "`haDrill.enabled` is true but `hostedEngineNodes` is empty: the drill needs a second "
        "node to move the Engine VM to; add one, or disable the drill"
    ]
    assert problems({**lab(files), "haDrill": {"enabled": "yes"}}) == [
        "`haDrill.enabled` must be true (move the Engine VM once to prove high availability after the last node) or false"
    ]


def test_decommissioning_is_asked_for_by_name_or_not_at_all(files):
    assert load(lab(files)).migration.decommission is None
    assert load({**lab(files), "decommission": {"originalEngine": "power-off"}}).migration.decommission == "power-off"
    assert problems({**lab(files), "decommission": {"originalEngine": "delete"}}) == [
        "`decommission.originalEngine` is 'delete': give keep-disabled (mask ovirt-engine on the original machine) or "
        "power-off (and shut it down), or leave it out to keep the way back"
    ]


def test_the_address_handover_is_power_off_none_or_left_to_the_preview(files):
    assert load(lab(files)).migration.hosted_engine["addressHandover"] == "power-off"
    settings = lab(files)
    settings["hostedEngine"] = {**settings["hostedEngine"], "addressHandover": "move"}
    assert problems(settings) == [
        "`hostedEngine.addressHandover` is 'move': give power-off (the original Engine machine is shut down once the "
        "backup is copied, so the Engine VM can take the FQDN's address) or none (the address is already free), or "
        "leave it out and let the preview say which the site needs"
    ]
