"""The site's stack configuration, read and checked in one place.

Every problem is collected and reported together, each naming the setting and the fix, so a
stack file is corrected in one pass at `pulumi preview`, before anything on the site changes.
"""

from __future__ import annotations

import difflib
import ipaddress
import posixpath
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from providers import base, decommission, multipath_conf, storage_export
from providers.multipath_override import file_name_problems
from providers.ssh import known_hosts_name, load_private_key

PROJECT_DIR = Path(__file__).resolve().parent.parent


class ConfigError(pulumi.RunError):
    """The stack's settings are wrong; the message lists every problem found."""

    def __init__(self, problems: list[str]):
        super().__init__("the stack configuration has problems:\n" + "\n".join(f"  - {_one_line(p)}" for p in problems))


def _one_line(problem: str, limit: int = 400) -> str:
    """A problem quoting a hostile value stays one readable line: control characters escaped, length capped."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in problem)
    return line if len(line) <= limit else line[: limit - 3] + "..."


@dataclass(frozen=True)
class HostConfig:
    name: str
    address: str
    port: int
    host_key: str | None
    engine_name: str | None = None


@dataclass(frozen=True)
class MultipathOverrideConfig:
    host: str
    file: str
    settings: dict
    vendor_required: bool


@dataclass(frozen=True)
class StorageExportConfig:
    host: str
    path: str
    clients: str
    options: str


@dataclass(frozen=True)
class BackupConfig:
    directory: str
    file_name: str
    engine_directory: str
    allow_engine_update: bool


@dataclass(frozen=True)
class MigrationConfig:
    """Who plays which part of the procedure, and the new Engine's settings."""

    original_engine: str
    deployment_host: str
    backup_server: str
    backup: BackupConfig
    hosted_engine: dict
    engine_api: dict
    nodes: list[str]
    node_timeouts: dict
    node_reboot: bool = True
    original_engine_api: dict = field(default_factory=dict)  # {url, username, configured, check, caPem, caFile}
    ha_drill: dict = field(default_factory=lambda: {"enabled": False, "timeout": float(HaDrillSettings.timeout)})
    decommission: str | None = None  # keep-disabled | power-off: the original Engine retired after the move


@dataclass(frozen=True)
class SiteConfig:
    ssh_user: str
    known_hosts: str
    hosts: dict[str, HostConfig]
    multipath_overrides: list[MultipathOverrideConfig] = field(default_factory=list)
    storage_exports: list[StorageExportConfig] = field(default_factory=list)
    migration: MigrationConfig | None = None

    def known_hosts_for(self, name: str) -> str:
        """The trusted key lines for one host: its pinned key if the stack has one, else known_hosts."""
        host = self.hosts[name]
        label = known_hosts_name(host.address, host.port)
        if host.host_key:
            return f"{label} {host.host_key}\n"
        return "".join(line + "\n" for line in self.known_hosts.splitlines() if _names_host(line, label))

    def engine_host_name(self, name: str) -> str:
        """The host's name in the Engine: the stack's name unless `hosts.<name>.engineName` says otherwise."""
        return self.hosts[name].engine_name or name

    def connection(self, name: str) -> dict:
        host = self.hosts[name]
        return {
            "name": name,
            "address": host.address,
            "port": host.port,
            "user": self.ssh_user,
            "knownHosts": self.known_hosts_for(name),
        }


def _names_host(known_hosts_line: str, label: str) -> bool:
    """Whether a known_hosts line is for this host; hashed names are kept, since only SSH can check them."""
    names = known_hosts_line.split(" ", 1)[0]
    return names.startswith("|1|") or label in names.split(",")


# ------------------------------------------------------------------------------------------------
# The settings, typed in one place: one model per section, each field named as the stack file
# spells it (so the model is the list of keys the section takes) and holding its default. A field
# whose default is ABSENT has none: left out of the section's dict unless the stack gives it; what
# must be given is checked further down, with its own message. A key a model does not have is an
# error naming the nearest key it does have, at every depth. These models produce the dicts the rest
# of the program reads (`migration.hosted_engine["vm"]["memoryMB"]`, `migration.node_timeouts`...).


class _Absent:
    """No default: the key is left out of the section's dict unless the stack gives it."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


def section(model: type) -> Any:
    """A nested map of settings, read into `model`; its defaults when the stack leaves it out."""
    return field(default_factory=model, metadata={"section": model})


def entries(model: type, default_factory=dict) -> Any:
    """A map or list whose every entry is a map of settings read into `model`."""
    return field(default_factory=default_factory, metadata={"entries": model})


def secret() -> Any:
    """A secret, set with `pulumi config set --secret` and read only as a secret (`secrets()`, `private_key()`)."""
    return field(default=ABSENT, metadata={"secret": True})


@dataclass(frozen=True)
class Settings:
    """A map of settings; `as_dict()` is the section as the rest of the program reads it."""

    def as_dict(self) -> dict:
        found = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is not ABSENT:
                found[spec.name] = value.as_dict() if isinstance(value, Settings) else value
        return found


@dataclass(frozen=True)
class SshSettings(Settings):
    user: str = "root"
    knownHostsFile: str = "~/.ssh/known_hosts"


@dataclass(frozen=True)
class HostSettings(Settings):
    address: str = ABSENT
    port: int = 22
    hostKey: str | None = None
    engineName: str | None = None  # the host's name in the Engine, when it is not the stack's


@dataclass(frozen=True)
class StorageExportSettings(Settings):
    host: str = ABSENT
    path: str = ABSENT
    clients: str = "*"
    options: str = "rw,sync,no_subtree_check"


@dataclass(frozen=True)
class MultipathOverrideSettings(Settings):
    host: str = ABSENT
    file: str = ABSENT
    settings: dict = field(default_factory=dict)  # multipath.conf sections, checked by providers.multipath_conf
    vendorRequired: bool = False


@dataclass(frozen=True)
class RolesSettings(Settings):
    originalEngine: str = ABSENT
    deploymentHost: str = ABSENT
    backupServer: str = ABSENT


@dataclass(frozen=True)
class BackupSettings(Settings):
    directory: str = "/backup"
    fileName: str = "engine.backup"
    engineDirectory: str = "/var/lib/ovirt-engine-backup"
    allowEngineUpdate: bool = False


@dataclass(frozen=True)
class VmSettings(Settings):
    memoryMB: int = ABSENT
    vcpus: int = 4
    macAddress: str = ABSENT  # the deploy provider derives one from the FQDN
    staticCIDR: str = ABSENT  # DHCP
    dns: list = ABSENT
    rootSshAccess: str = "without-password"
    fips: bool = False
    etcHosts: bool = True
    openScapProfile: str | None = None


# vm/image.py's default, max(25, the appliance's disk + 1 GiB), for the lab's 50 GiB appliance; the preflight
# (appliance_disk.py) compares the setting with the appliance image the deploy will really use.
DEFAULT_DISK_GB = 51


@dataclass(frozen=True)
class StorageSettings(Settings):
    type: str = "nfs"
    connection: str = ABSENT  # nfs, glusterfs
    nfsVersion: str = "auto"
    mountOptions: str = ""
    portal: str = ABSENT  # iscsi
    port: int = ABSENT  # iscsi; the deploy provider uses 3260 (a default here would change the deployment's inputs)
    target: str = ABSENT  # iscsi
    lun: str = ABSENT  # iscsi, fc
    discoverUser: str = ""
    portalUser: str = ""
    diskSizeGB: int = DEFAULT_DISK_GB


@dataclass(frozen=True)
class SmtpSettings(Settings):
    server: str = "localhost"
    port: int = 25
    sender: str = "root@localhost"
    recipients: list = field(default_factory=lambda: ["root@localhost"])


@dataclass(frozen=True)
class NetworkTestSettings(Settings):
    type: str = "dns"
    address: str = ABSENT  # tcp
    port: int = ABSENT  # tcp


@dataclass(frozen=True)
class EngineVmSettings(Settings):
    """How to reach the new Engine VM over SSH once it runs."""

    address: str = ABSENT  # hostedEngine.fqdn
    port: int = 22
    user: str = ABSENT  # ssh.user


@dataclass(frozen=True)
class HostedEngineSettings(Settings):
    fqdn: str = ABSENT
    gateway: str = ABSENT
    bridgeInterface: str = "eth0"
    dataCenterName: str = "Default"
    clusterName: str = "Default"
    managementNetwork: str = "ovirtmgmt"  # checked by the preflight against the original Engine
    backupDirectory: str = "/root/backup"
    renewPki: bool = False
    enableKeycloak: bool = False
    applianceOva: str = ""  # the appliance rpm
    offlineDeployment: bool = False  # he_offline_deployment: the deploy installs and updates nothing
    deployTimeout: int = 7200
    retryFailedDeploy: bool = False  # after a failed deploy: ovirt-hosted-engine-cleanup, then the deploy again
    addressHandover: str | None = None  # power-off | none: how the FQDN's address is freed for the Engine VM
    networkTest: NetworkTestSettings = section(NetworkTestSettings)
    storage: StorageSettings = section(StorageSettings)
    smtp: SmtpSettings = section(SmtpSettings)
    vm: VmSettings = section(VmSettings)
    engineVm: EngineVmSettings = section(EngineVmSettings)


@dataclass(frozen=True)
class EngineApiSettings(Settings):
    url: str = ABSENT  # https://<hostedEngine.fqdn>/ovirt-engine/api
    caFile: str = ABSENT
    username: str = "admin@internal"


@dataclass(frozen=True)
class OriginalEngineApiSettings(Settings):
    """The original Engine's API, read by the preflight while it still runs."""

    url: str = ABSENT  # https://<hostedEngine.fqdn>/ovirt-engine/api
    caFile: str = ABSENT  # engineApi.caFile's certificate
    username: str = "admin@internal"
    check: bool = True  # false skips the preflight's checks against it


@dataclass(frozen=True)
class NodeTimeoutsSettings(Settings):
    maintenance: float = 1800
    install: float = 3600
    poll: float = base.POLL_INTERVAL


@dataclass(frozen=True)
class HaDrillSettings(Settings):
    enabled: bool = False  # the drill moves the Engine VM once, by live migration: off unless asked
    timeout: float = 1800


@dataclass(frozen=True)
class DecommissionSettings(Settings):
    originalEngine: str | None = None  # none: the original Engine machine is left as the backup left it


@dataclass(frozen=True)
class StackSettings(Settings):
    """Every key of the project's namespace in a stack (`ovirt-she-migration:<key>`)."""

    ssh: SshSettings = section(SshSettings)
    hosts: dict = entries(HostSettings)
    storageExports: list = entries(StorageExportSettings, list)
    multipathOverrides: list = entries(MultipathOverrideSettings, list)
    roles: RolesSettings = field(default=ABSENT, metadata={"section": RolesSettings})  # none: no migration
    backup: BackupSettings = section(BackupSettings)
    hostedEngine: HostedEngineSettings = section(HostedEngineSettings)
    engineApi: EngineApiSettings = section(EngineApiSettings)
    originalEngineApi: OriginalEngineApiSettings = section(OriginalEngineApiSettings)
    hostedEngineNodes: list = field(default_factory=list)
    nodeTimeouts: NodeTimeoutsSettings = section(NodeTimeoutsSettings)
    nodeReboot: bool = True
    haDrill: HaDrillSettings = section(HaDrillSettings)
    decommission: DecommissionSettings = section(DecommissionSettings)
    sshPrivateKey: str = secret()
    adminPassword: str = secret()
    engineRootPassword: str = secret()
    iscsiDiscoverPassword: str = secret()  # only iSCSI targets with CHAP need them
    iscsiPortalPassword: str = secret()


STACK_SETTINGS = {spec.name: spec for spec in fields(StackSettings)}
# Every secret a stack can set: the one list of what is sealed in the state and scanned out of the evidence.
SECRET_SETTINGS = tuple(name for name, spec in STACK_SETTINGS.items() if spec.metadata.get("secret"))
REQUIRED_SECRETS = ("adminPassword", "engineRootPassword")  # a migration needs both; the SSH key is private_key()'s


def _default(spec):
    return spec.default_factory() if spec.default_factory is not MISSING else spec.default


def _unknown(where: str, key, known: list[str]) -> str:
    """The problem of a key no model has: its full path, and the nearest key there is."""
    name = str(key) if len(str(key)) <= 60 else str(key)[:57] + "..."
    prefix = f"{where}." if where else ""
    nearest = _nearest(str(key), known)
    if nearest:
        return f"`{prefix}{name}` is not a setting; did you mean `{prefix}{nearest}`?"
    owner = f"`{where}` takes" if where else "the settings are"
    return f"`{prefix}{name}` is not a setting: {owner} {', '.join(known)} (README.md, Settings)"


def _nearest(key: str, known: list[str]) -> str | None:
    """The known key the stack most likely meant: the same but for case, else the closest spelling."""
    lowered = {k.lower(): k for k in known}
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key.lower()[:200], list(lowered), n=1)
    return lowered[close[0]] if close else None


def _project_keys(config) -> list[str] | None:
    """Every key the stack sets in the project's namespace; None when `config` cannot list them.

    pulumi.Config reads one key at a time, so the keys come from where the SDK keeps the stack's
    config: what the language host hands the program (PULUMI_CONFIG) and what was set in process."""
    listed = getattr(config, "keys", None)
    if callable(listed):
        return [str(key) for key in listed()]
    name = getattr(config, "name", None)
    if not isinstance(config, pulumi.Config) or not isinstance(name, str):
        return None
    prefix = f"{name}:"
    found = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return [key[len(prefix) :] for key in found if key.startswith(prefix)]


class _Reader:
    """Reads settings while collecting problems instead of stopping at the first."""

    def __init__(self, config: pulumi.Config):
        self.config = config
        self.problems: list[str] = []
        self._settings: dict = {}

    def object(self, key: str, default=None):
        try:
            value = self.config.get_object(key)
        except Exception as err:  # the SDK raises its own error types for bad JSON/YAML values
            self.problems.append(f"`{key}` cannot be read: {err}")
            return default
        return default if value is None else value

    def setting(self, key: str):
        """A top-level setting as StackSettings declares it: a section read into its model, else the
        value; its default when the stack leaves it out. Read once, so each problem is reported once."""
        if key not in self._settings:
            spec = STACK_SETTINGS[key]
            value = self.object(key)
            if value is None:
                value = _default(spec)
            elif "section" in spec.metadata:
                value = self.section(key, spec.metadata["section"], value)
            self._settings[key] = value
        return self._settings[key]

    def section(self, where: str, model: type, value):
        """A map of settings read into its model: each key the model lacks is an error naming the
        nearest one it has; nested sections are read the same way; defaults fill what is not given."""
        if not self.expect(isinstance(value, dict), f"`{where}` must be a map of settings, not {_kind(value)}"):
            value = {}
        known = {spec.name: spec for spec in fields(model)}
        given = {}
        for key, inner in value.items():
            spec = known.get(key)
            if spec is None:
                self.problems.append(_unknown(where, key, list(known)))
            elif "section" in spec.metadata:
                given[key] = self.section(f"{where}.{key}", spec.metadata["section"], inner)
            else:
                given[key] = inner
        return model(**given)

    def unknown_keys(self) -> None:
        """The stack's keys in the project's namespace that are no setting."""
        for key in _project_keys(self.config) or []:
            if key not in STACK_SETTINGS:
                self.problems.append(_unknown("", key, list(STACK_SETTINGS)))

    def expect(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok

    def listing(self, key: str) -> list:
        value = self.setting(key)
        return value if self.expect(isinstance(value, list), f"`{key}` must be a list, not {_kind(value)}") else []

    def absolute_path(self, where: str, value) -> bool:
        """Paths go to remote commands as single quoted arguments; they must still be plain absolute paths."""
        ok = isinstance(value, str) and value.startswith("/") and value.isprintable() and len(value) <= 1024
        ok = ok and posixpath.normpath(value) == value and ".." not in value.split("/")
        return self.expect(ok, f"`{where}` is {_shown(value)}: give an absolute path without `..`, such as /backup")

    def file_name(self, where: str, value) -> bool:
        ok = isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable()
        ok = ok and "/" not in value and not value.startswith((".", "-"))
        return self.expect(
            ok, f"`{where}` is {_shown(value)}: give a plain file name (no `/`, not starting with `.` or `-`)"
        )

    def number(self, where: str, value, low: float, high: float, whole: bool = True) -> bool:
        ok = isinstance(value, int) if whole else isinstance(value, (int, float))
        ok = ok and not isinstance(value, bool) and low <= value <= high
        return self.expect(
            ok, f"`{where}` is {_shown(value)}: give a {'whole ' if whole else ''}number from {low:g} to {high:g}"
        )


def _kind(value) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _shown(value) -> str:
    """A setting's value for an error message: short, and one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _hosts(reader: _Reader) -> dict[str, HostConfig]:
    raw = reader.setting("hosts")
    raw = raw if reader.expect(isinstance(raw, dict), f"`hosts` must be a map of settings, not {_kind(raw)}") else {}
    if not reader.expect(bool(raw), "`hosts` must map each host's name to {address, port}"):
        return {}
    hosts = {}
    for name, entry in raw.items():
        entry = reader.section(f"hosts.{name}", HostSettings, entry).as_dict()
        address, port, key, engine_name = entry.get("address"), entry["port"], entry["hostKey"], entry["engineName"]
        ok = reader.expect(
            bool(HOST_NAME.match(name)), f"`hosts.{_shown(name)}`: name hosts with letters, digits, `.`, `_` and `-`"
        )
        ok &= reader.expect(
            isinstance(address, str) and bool(ADDRESS.match(address)),
            f"`hosts.{name}.address` is {_shown(address)}: give the host's address or FQDN",
        )
        ok &= reader.number(f"hosts.{name}.port", port, 1, 65535)
        ok &= reader.expect(
            key is None or isinstance(key, str) and bool(HOST_KEY.match(key)),
            f"`hosts.{name}.hostKey` is {_shown(key)}: give the key as known_hosts writes it, e.g. `ssh-ed25519 AAAA...`",
        )
        ok &= reader.expect(
            engine_name is None
            or isinstance(engine_name, str)
            and engine_name.isprintable()
            and 0 < len(engine_name) <= 255,
            f"`hosts.{name}.engineName` is {_shown(engine_name)}: give the host's name in the Engine, or leave it out",
        )
        if ok:
            hosts[name] = HostConfig(name, address, port, key, engine_name)
    return hosts


def _known_hosts(reader: _Reader, ssh: dict) -> str:
    path = ssh["knownHostsFile"]
    if not reader.expect(
        isinstance(path, str) and path.isprintable() and 0 < len(path) < 4096,
        f"`ssh.knownHostsFile` is {_shown(path)}: give a file path",
    ):
        return ""
    resolved = PROJECT_DIR / Path(path).expanduser()
    if reader.expect(
        resolved.is_file(),
        f"`ssh.knownHostsFile` names {path}, which does not exist: give the known_hosts file that holds the hosts' keys",
    ):
        return resolved.read_text()
    return ""


def _multipath_overrides(reader: _Reader, hosts: dict) -> list[MultipathOverrideConfig]:
    overrides = []
    for index, entry in enumerate(reader.listing("multipathOverrides")):
        where = f"multipathOverrides[{index}]"
        entry = reader.section(where, MultipathOverrideSettings, entry).as_dict()
        host, file, settings, vendor_required = (
            entry.get("host"),
            entry.get("file"),
            entry["settings"] or {},
            entry["vendorRequired"],
        )
        reader.expect(
            isinstance(host, str) and host in hosts,
            f"`{where}.host` is {_shown(host)}, which is not one of `hosts`: {', '.join(hosts)}",
        )
        reader.expect(
            isinstance(vendor_required, bool),
            f"`{where}.vendorRequired` must be true (the storage vendor "
            "requires the VDSM settings this drop-in changes) or false",
        )
        problems = file_name_problems(file) + multipath_conf.problems(
            settings if isinstance(settings, dict) else {"settings": settings}
        )
        reader.problems += [f"`{where}`: {p}" for p in problems]
        if not problems:
            overrides.append(MultipathOverrideConfig(host, file, settings, vendor_required is True))
    return overrides


def _storage_exports(reader: _Reader, hosts: dict) -> list[StorageExportConfig]:
    raw = reader.setting("storageExports")
    if not reader.expect(isinstance(raw, list), "`storageExports` must be a list of {host, path, clients, options}"):
        return []
    exports, seen = [], {}
    for index, entry in enumerate(raw):
        where = f"storageExports[{index}]"
        if not reader.expect(
            isinstance(entry, dict), f"`{where}` must be a mapping with host, path, clients and options"
        ):
            continue
        props = reader.section(where, StorageExportSettings, entry).as_dict()
        ok = reader.expect(
            isinstance(props.get("host"), str) and props["host"] in hosts,
            f"`{where}.host` is {_shown(props.get('host'))}, which is not one of `hosts`: {', '.join(hosts)}",
        )
        for key, found in storage_export.problems(props).items():
            reader.problems += [f"`{where}.{key}` {p}" for p in found]
            ok = False
        if not ok:
            continue
        key = (props["host"], props["path"])
        if not reader.expect(
            key not in seen,
            f"`{where}` exports {props['path']} on {props['host']} again, as `storageExports[{seen.get(key)}]` does: give each directory one entry",
        ):
            continue
        seen[key] = index
        exports.append(StorageExportConfig(props["host"], props["path"], props["clients"], props["options"]))
    return exports


HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
HOST_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*$")
USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
INTERFACE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
ROLES = {
    "originalEngine": "the original standalone Engine machine",
    "deploymentHost": "the fresh host the self-hosted engine is deployed on",
    "backupServer": "the server that keeps the Engine backup",
}
FQDN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
UNICAST_MAC = re.compile(r"^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$")
# What the deploy itself refuses (ovirt-hosted-engine-setup): checked at preview instead, forty minutes earlier.
SMTP_SERVER = re.compile(r"^[a-z0-9.-]+$")  # gr-he-common/core/ha_notifications.py
EMAIL = re.compile(r"^[a-zA-Z0-9_.+\-=]+@[a-z0-9.-]+$")
NFS_VERSIONS = ("auto", "v3", "v4", "v4_0", "v4_1", "v4_2")  # constants.py NfsVersions
NETWORK_TESTS = ("dns", "ping", "tcp", "none")  # network/network_check.py
ADDRESS_HANDOVERS = ("power-off", "none")  # providers/address_handover.py carries them out
DATACENTER_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")  # gr-he-ansiblesetup/core/misc.py
STORAGE_KEYS = {
    "nfs": ("connection",),
    "glusterfs": ("connection",),
    "iscsi": ("portal", "target", "lun"),
    "fc": ("lun",),
}


def _strings(value, where: str):
    """Yields (where, text) for every string inside a setting, to keep line breaks out of answer files."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _strings(inner, f"{where}[{index}]")


def _hosted_engine(reader: _Reader, ssh_user: str) -> dict:
    he = reader.setting("hostedEngine").as_dict()
    vm, storage, smtp, engine_vm = he["vm"], he["storage"], he["smtp"], he["engineVm"]
    reader.absolute_path("hostedEngine.backupDirectory", he["backupDirectory"])
    reader.number("hostedEngine.deployTimeout", he["deployTimeout"], 60, 86400)
    reader.expect(
        isinstance(he["bridgeInterface"], str) and bool(INTERFACE.match(he["bridgeInterface"])),
        f"`hostedEngine.bridgeInterface` is {_shown(he['bridgeInterface'])}: give the NIC's name, e.g. eth0",
    )
    reader.expect(
        isinstance(he["clusterName"], str) and 0 < len(he["clusterName"]) <= 40,
        "`hostedEngine.clusterName` must be the cluster's name",
    )
    reader.expect(
        isinstance(he["managementNetwork"], str) and 0 < len(he["managementNetwork"]) <= 50,
        f"`hostedEngine.managementNetwork` is {_shown(he['managementNetwork'])}: give the logical network "
        "of the original Engine's hosts, ovirtmgmt unless it was renamed",
    )
    reader.number("hostedEngine.engineVm.port", engine_vm["port"], 1, 65535)
    reader.expect(
        he["addressHandover"] in (None, *ADDRESS_HANDOVERS),
        f"`hostedEngine.addressHandover` is {_shown(he['addressHandover'])}: give power-off (the original Engine "
        "machine is shut down once the backup is copied, so the Engine VM can take the FQDN's address) or none "
        "(the address is already free), or leave it out and let the preview say which the site needs",
    )
    if "address" in engine_vm:
        reader.expect(
            isinstance(engine_vm["address"], str) and bool(ADDRESS.match(engine_vm["address"])),
            "`hostedEngine.engineVm.address` must be an address or FQDN",
        )
    if "user" in engine_vm:
        reader.expect(
            isinstance(engine_vm["user"], str) and bool(USER.match(engine_vm["user"])),
            f"`hostedEngine.engineVm.user` is {_shown(engine_vm['user'])}: give a login name such as root, or leave it out for `ssh.user`",
        )
    reader.expect(
        isinstance(he.get("fqdn"), str) and bool(FQDN.match(he["fqdn"])),
        "`hostedEngine.fqdn` must be the Engine's fully qualified name (the original Engine's, e.g. engine.example.com)",
    )
    reader.expect(
        isinstance(he.get("gateway"), str) and he["gateway"] != "",
        "`hostedEngine.gateway` must be the deployment host's default gateway address",
    )
    memory = vm.get("memoryMB")
    reader.expect(
        isinstance(memory, int) and not isinstance(memory, bool) and 4096 <= memory <= 1 << 24,
        f"`hostedEngine.vm.memoryMB` is {_shown(memory)}: give the Engine VM at least 4096 MiB, and as much as the original Engine machine has",
    )
    reader.number("hostedEngine.vm.vcpus", vm["vcpus"], 1, 512)
    mac = vm.get("macAddress")
    reader.expect(
        mac is None or (isinstance(mac, str) and bool(UNICAST_MAC.match(mac.lower()))),
        f"`hostedEngine.vm.macAddress` is {_shown(mac)}: give a unicast MAC such as 00:16:3e:12:34:56, or leave it out for a random one",
    )
    if reader.expect(
        isinstance(storage["type"], str) and storage["type"] in STORAGE_KEYS,
        "`hostedEngine.storage.type` must be one of nfs, iscsi, fc, glusterfs",
    ):
        for key in STORAGE_KEYS[storage["type"]]:
            reader.expect(
                bool(storage.get(key)), f"`hostedEngine.storage.{key}` is needed for {storage['type']} storage"
            )
    reader.number("hostedEngine.storage.diskSizeGB", storage["diskSizeGB"], 1, 1 << 20)
    if storage["type"] == "nfs":
        reader.expect(
            storage["nfsVersion"] in NFS_VERSIONS,
            f"`hostedEngine.storage.nfsVersion` is "
            f"{_shown(storage['nfsVersion'])}: give one of {', '.join(NFS_VERSIONS)}",
        )
    _deploy_answers(reader, he, vm, smtp)
    for where, text in _strings(he, "hostedEngine"):
        reader.expect(
            text.isprintable(),
            f"`{where}` contains a line break or control character, which an answer file cannot hold",
        )
    # Who the new Engine VM is reached as: the FQDN and `ssh.user` unless `engineVm` says otherwise.
    he["engineVm"] = {"address": he.get("fqdn"), "user": ssh_user, **engine_vm}
    return he


def _deploy_answers(reader: _Reader, he: dict, vm: dict, smtp: dict) -> None:
    """The answers the deploy checks itself, and refuses only after the original Engine was stopped."""
    reader.number("hostedEngine.smtp.port", smtp["port"], 1, 65535)
    server = smtp["server"]
    reader.expect(
        isinstance(server, str) and bool(SMTP_SERVER.match(server)),
        f"`hostedEngine.smtp.server` is "
        f"{_shown(server)}: the deploy accepts lower-case letters, digits, `.` and `-` only, e.g. smtp.example.com",
    )
    addresses = [smtp["sender"]] + (smtp["recipients"] if isinstance(smtp["recipients"], list) else [None])
    reader.expect(
        all(isinstance(a, str) and bool(EMAIL.match(a)) for a in addresses),
        "`hostedEngine.smtp.sender` and `hostedEngine.smtp.recipients` must be e-mail addresses with a "
        "lower-case domain, e.g. root@localhost",
    )
    reader.expect(
        isinstance(he["dataCenterName"], str) and bool(DATACENTER_NAME.match(he["dataCenterName"])),
        f"`hostedEngine.dataCenterName` is {_shown(he['dataCenterName'])}: give the data centre of the "
        "original Engine's hosts (letters, digits, `-` and `_`)",
    )
    reader.expect(
        he["clusterName"] != "Default" or he["dataCenterName"] == "Default",
        f"`hostedEngine.clusterName` is Default in data centre {_shown(he['dataCenterName'])}: the deploy refuses "
        "that name outside the Default data centre (validate_data_center_name.yml); rename the cluster in the "
        "original Engine before the backup and give its new name",
    )
    test = he["networkTest"]
    if (
        reader.expect(
            test["type"] in NETWORK_TESTS,
            f"`hostedEngine.networkTest.type` is {_shown(test['type'])}: give one of {', '.join(NETWORK_TESTS)}",
        )
        and test["type"] == "tcp"
    ):
        reader.expect(
            isinstance(test.get("address"), str) and bool(ADDRESS.match(test["address"])),
            "`hostedEngine.networkTest.address` is needed for the tcp test: the address to connect to",
        )
        reader.number("hostedEngine.networkTest.port", test.get("port"), 1, 65535)
    reader.expect(
        vm["rootSshAccess"] in ("yes", "without-password"),
        "`hostedEngine.vm.rootSshAccess` must be "
        "without-password or yes: procedure 7 logs in to the Engine VM as root with the stack's key",
    )
    reader.expect(
        vm["openScapProfile"] in (None, "stig", "pci-dss"),
        "`hostedEngine.vm.openScapProfile` must be stig or pci-dss, or left out for none",
    )
    for key, value in (
        ("vm.fips", vm["fips"]),
        ("vm.etcHosts", vm["etcHosts"]),
        ("enableKeycloak", he["enableKeycloak"]),
        ("renewPki", he["renewPki"]),
        ("retryFailedDeploy", he["retryFailedDeploy"]),
    ):
        reader.expect(isinstance(value, bool), f"`hostedEngine.{key}` must be true or false")
    cidr = vm.get("staticCIDR")
    reader.expect(
        cidr is None or isinstance(cidr, str) and _is_interface(cidr),
        f"`hostedEngine.vm.staticCIDR` is "
        f"{_shown(cidr)}: give the Engine VM's address with its prefix, e.g. 192.0.2.60/24, or leave it out for DHCP",
    )
    dns = vm.get("dns")
    reader.expect(
        dns is None or isinstance(dns, list) and all(isinstance(d, str) and _is_address(d) for d in dns),
        f"`hostedEngine.vm.dns` is {_shown(dns)}: give the Engine VM's name servers as a list of addresses, e.g. [192.0.2.53]",
    )


def _is_interface(text: str) -> bool:
    """An address with its prefix (4.4's deploy fails on one without), not the network's own address."""
    try:
        interface = ipaddress.ip_interface(text)
    except ValueError:
        return False
    return "/" in text and interface.ip != interface.network.network_address


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _username(reader: _Reader, where: str, username) -> None:
    reader.expect(
        isinstance(username, str) and username.isprintable() and 0 < len(username) <= 255,
        f"`{where}` is {_shown(username)}: give the Engine user the program logs in as, such as admin@internal",
    )


def _engine_api(reader: _Reader, he: dict) -> dict:
    api = reader.setting("engineApi").as_dict()
    url = api.get("url") or f"https://{he.get('fqdn')}/ovirt-engine/api"
    reader.expect(
        isinstance(url, str) and url.startswith("https://") and url.isprintable(),
        f"`engineApi.url` is {_shown(url)}: give the https URL of the API",
    )
    _username(reader, "engineApi.username", api["username"])
    ca_file = api.get("caFile")
    ca_ok = isinstance(ca_file, str) and ca_file.isprintable() and 0 < len(ca_file) < 4096
    if reader.expect(
        ca_ok and (PROJECT_DIR / Path(ca_file).expanduser()).is_file(),
        f"`engineApi.caFile` is {ca_file!r}: give the path of the Engine's CA certificate (the original "
        f"Engine's /etc/pki/ovirt-engine/ca.pem; the restored Engine keeps its CA)",
    ):
        return {
            "url": url,
            "username": api["username"],
            "caPem": (PROJECT_DIR / Path(ca_file).expanduser()).read_text(),
        }
    return {}


def _original_engine_api(reader: _Reader, he: dict, engine_api: dict) -> dict:
    """The original Engine's API as the preflight reads it: by default the FQDN's, with `engineApi`'s CA.
    A `caFile` that does not exist is the preflight's to report (`caPem` None), as it is the site's state."""
    given = reader.setting("originalEngineApi").as_dict()
    url = given.get("url")
    reader.expect(
        url is None or isinstance(url, str) and (url == "" or url.startswith("https://")) and url.isprintable(),
        f"`originalEngineApi.url` is {_shown(url)}: give the https URL of the original Engine's API, or leave it out for the FQDN's",
    )
    _username(reader, "originalEngineApi.username", given["username"])
    reader.expect(isinstance(given["check"], bool), "`originalEngineApi.check` must be true or false")
    ca_file = given.get("caFile")
    reader.expect(
        ca_file is None or isinstance(ca_file, str) and ca_file.isprintable() and len(ca_file) < 4096,
        f"`originalEngineApi.caFile` is {_shown(ca_file)}: give the path of the original Engine's CA certificate, "
        "or leave it out for `engineApi.caFile`'s",
    )
    api = {
        "url": url or f"https://{he.get('fqdn')}/ovirt-engine/api",
        "username": given["username"],
        "configured": bool(url),
        "check": given["check"] is not False,
    }
    if ca_file and isinstance(ca_file, str):
        path = PROJECT_DIR / Path(ca_file).expanduser()
        api["caPem"] = path.read_text() if path.is_file() else None
        api["caFile"] = ca_file
    else:
        api["caPem"] = engine_api.get("caPem")
    return api


def _migration(reader: _Reader, hosts: dict, ssh_user: str) -> MigrationConfig | None:
    if reader.setting("roles") is ABSENT:
        return None
    roles = reader.setting("roles").as_dict()
    for role, meaning in ROLES.items():
        reader.expect(
            isinstance(roles.get(role), str) and roles.get(role) in hosts,
            f"`roles.{role}` is {_shown(roles.get(role))}: name {meaning}, one of `hosts`",
        )
    backup = reader.setting("backup")
    reader.absolute_path("backup.directory", backup.directory)
    reader.absolute_path("backup.engineDirectory", backup.engineDirectory)
    reader.file_name("backup.fileName", backup.fileName)
    reader.expect(isinstance(backup.allowEngineUpdate, bool), "`backup.allowEngineUpdate` must be true or false")
    nodes = reader.listing("hostedEngineNodes")
    for index, node in enumerate(nodes):
        reader.expect(
            isinstance(node, str) and node in hosts and node not in roles.values(),
            f"`hostedEngineNodes[{index}]` is {_shown(node)}: name an existing hypervisor from `hosts` (not the deployment host)",
        )
    timeouts = reader.setting("nodeTimeouts").as_dict()
    for key, value in timeouts.items():
        reader.number(f"nodeTimeouts.{key}", value, 0.1, 86400, whole=False)
    node_reboot = reader.setting("nodeReboot")
    reader.expect(
        isinstance(node_reboot, bool),
        "`nodeReboot` must be true (reboot each host after its reinstall, the Engine's default) or false",
    )
    drill = reader.setting("haDrill")
    reader.expect(
        isinstance(drill.enabled, bool),
        "`haDrill.enabled` must be true (move the Engine VM once to prove "
        "high availability after the last node) or false",
    )
    reader.number("haDrill.timeout", drill.timeout, 1, 86400, whole=False)
    reader.expect(
        not (drill.enabled is True and not nodes),
        "`haDrill.enabled` is true but `hostedEngineNodes` is "
        "empty: the drill needs a second node to move the Engine VM to; add one, or disable the drill",
    )
    retire = reader.setting("decommission").originalEngine
    reader.expect(
        retire in (None, *decommission.MODES),
        f"`decommission.originalEngine` is {_shown(retire)}: "
        "give keep-disabled (mask ovirt-engine on the original machine) or power-off (and shut it down), or "
        "leave it out to keep the way back",
    )
    he = _hosted_engine(reader, ssh_user)
    engine_api = _engine_api(reader, he)
    return MigrationConfig(
        original_engine=roles.get("originalEngine"),
        deployment_host=roles.get("deploymentHost"),
        backup_server=roles.get("backupServer"),
        backup=BackupConfig(
            backup.directory, backup.fileName, backup.engineDirectory, backup.allowEngineUpdate is True
        ),
        hosted_engine=he,
        engine_api=engine_api,
        nodes=list(nodes),
        node_timeouts=timeouts,
        node_reboot=node_reboot is not False,
        original_engine_api=_original_engine_api(reader, he, engine_api),
        ha_drill={"enabled": drill.enabled is True, "timeout": drill.timeout},
        decommission=retire if retire in decommission.MODES else None,
    )


def load(config: pulumi.Config | None = None) -> SiteConfig:
    reader = _Reader(config or pulumi.Config())
    reader.unknown_keys()
    for key, spec in STACK_SETTINGS.items():  # every section read at once, so a misspelling anywhere is reported
        if not spec.metadata.get("secret"):
            reader.setting(key)
    ssh = reader.setting("ssh").as_dict()
    user = ssh["user"]
    reader.expect(
        isinstance(user, str) and bool(USER.match(user)),
        f"`ssh.user` is {_shown(user)}: give a login name such as root",
    )
    hosts = _hosts(reader)
    site = SiteConfig(
        ssh_user=user,
        known_hosts=_known_hosts(reader, ssh),
        hosts=hosts,
        multipath_overrides=_multipath_overrides(reader, hosts),
        storage_exports=_storage_exports(reader, hosts),
        migration=_migration(reader, hosts, user),
    )
    if reader.problems:
        raise ConfigError(reader.problems)
    return site


def secrets(site: SiteConfig, config: pulumi.Config | None = None) -> dict:
    """The migration's passwords, kept secret; each is set with `pulumi config set --secret`."""
    if site.migration is None:
        return {}
    config = config or pulumi.Config()
    found = {name: config.require_secret(name) for name in REQUIRED_SECRETS}
    for name in SECRET_SETTINGS:  # the others only where they apply (CHAP: iSCSI targets that need it)
        value = None if name in (*REQUIRED_SECRETS, "sshPrivateKey") else config.get_secret(name)
        if value is not None:
            found[name] = value
    return found


def private_key(config: pulumi.Config | None = None) -> pulumi.Output[str]:
    """The SSH key, kept secret; a key that does not parse is reported at preview."""
    key = (config or pulumi.Config()).require_secret("sshPrivateKey")

    def checked(text: str) -> str:
        try:
            load_private_key(text)
        except ValueError as err:
            raise ConfigError(
                [str(err) + ": set it with `pulumi config set --secret sshPrivateKey < KEYFILE`"]
            ) from None
        return text

    return key.apply(checked)
