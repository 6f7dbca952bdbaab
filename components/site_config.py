"""The site's stack configuration, read and checked in one place.

Every problem is collected and reported together, each naming the setting and the fix, so a
stack file is corrected in one pass at `pulumi preview`, before anything on the site changes.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from providers import multipath_conf
from providers.multipath_override import file_name_problems
from providers import storage_export
from providers.ssh import load_private_key

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
        label = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
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


class _Reader:
    """Reads settings while collecting problems instead of stopping at the first."""

    def __init__(self, config: pulumi.Config):
        self.config = config
        self.problems: list[str] = []

    def object(self, key: str, default=None):
        try:
            value = self.config.get_object(key)
        except Exception as err:  # the SDK raises its own error types for bad JSON/YAML values
            self.problems.append(f"`{key}` cannot be read: {err}")
            return default
        return default if value is None else value

    def expect(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok

    def mapping(self, key: str, value=None, default=None) -> dict:
        """A setting that must be a map; `value` when given (a nested setting), else read by key."""
        value = self.object(key, default if default is not None else {}) if value is None else value
        return value if self.expect(isinstance(value, dict), f"`{key}` must be a map of settings, not {_kind(value)}") else {}

    def listing(self, key: str) -> list:
        value = self.object(key, [])
        return value if self.expect(isinstance(value, list), f"`{key}` must be a list, not {_kind(value)}") else []

    def absolute_path(self, where: str, value) -> bool:
        """Paths go to remote commands as single quoted arguments; they must still be plain absolute paths."""
        ok = isinstance(value, str) and value.startswith("/") and value.isprintable() and len(value) <= 1024
        ok = ok and posixpath.normpath(value) == value and ".." not in value.split("/")
        return self.expect(ok, f"`{where}` is {_shown(value)}: give an absolute path without `..`, such as /backup")

    def file_name(self, where: str, value) -> bool:
        ok = isinstance(value, str) and 0 < len(value) <= 255 and value.isprintable()
        ok = ok and "/" not in value and not value.startswith((".", "-"))
        return self.expect(ok, f"`{where}` is {_shown(value)}: give a plain file name (no `/`, not starting with `.` or `-`)")

    def number(self, where: str, value, low: float, high: float, whole: bool = True) -> bool:
        ok = isinstance(value, int) if whole else isinstance(value, (int, float))
        ok = ok and not isinstance(value, bool) and low <= value <= high
        return self.expect(ok, f"`{where}` is {_shown(value)}: give a {'whole ' if whole else ''}number from {low:g} to {high:g}")


def _kind(value) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _shown(value) -> str:
    """A setting's value for an error message: short, and one line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _hosts(reader: _Reader) -> dict[str, HostConfig]:
    raw = reader.mapping("hosts")
    if not reader.expect(bool(raw), "`hosts` must map each host's name to {address, port}"):
        return {}
    hosts = {}
    for name, entry in raw.items():
        entry = reader.mapping(f"hosts.{name}", entry)
        address, port = entry.get("address"), entry.get("port", 22)
        ok = reader.expect(bool(HOST_NAME.match(name)), f"`hosts.{_shown(name)}`: name hosts with letters, digits, `.`, `_` and `-`")
        ok &= reader.expect(isinstance(address, str) and bool(ADDRESS.match(address)), f"`hosts.{name}.address` is {_shown(address)}: give the host's address or FQDN")
        ok &= reader.number(f"hosts.{name}.port", port, 1, 65535)
        key = entry.get("hostKey")
        ok &= reader.expect(key is None or isinstance(key, str) and bool(HOST_KEY.match(key)),
                            f"`hosts.{name}.hostKey` is {_shown(key)}: give the key as known_hosts writes it, e.g. `ssh-ed25519 AAAA...`")
        if ok:
            hosts[name] = HostConfig(name, address, port, entry.get("hostKey"), entry.get("engineName"))
    return hosts


def _known_hosts(reader: _Reader, ssh: dict) -> str:
    path = ssh.get("knownHostsFile", "~/.ssh/known_hosts")
    if not reader.expect(isinstance(path, str) and path.isprintable() and 0 < len(path) < 4096, f"`ssh.knownHostsFile` is {_shown(path)}: give a file path"):
        return ""
    resolved = PROJECT_DIR / Path(path).expanduser()
    if reader.expect(resolved.is_file(), f"`ssh.knownHostsFile` names {path}, which does not exist: give the known_hosts file that holds the hosts' keys"):
        return resolved.read_text()
    return ""


def _multipath_overrides(reader: _Reader, hosts: dict) -> list[MultipathOverrideConfig]:
    overrides = []
    for index, entry in enumerate(reader.listing("multipathOverrides")):
        where = f"multipathOverrides[{index}]"
        entry = reader.mapping(where, entry)
        host, file, settings = entry.get("host"), entry.get("file"), entry.get("settings") or {}
        reader.expect(isinstance(host, str) and host in hosts, f"`{where}.host` is {_shown(host)}, which is not one of `hosts`: {', '.join(hosts)}")
        problems = file_name_problems(file) + multipath_conf.problems(settings if isinstance(settings, dict) else {"settings": settings})
        reader.problems += [f"`{where}`: {p}" for p in problems]
        if not problems:
            overrides.append(MultipathOverrideConfig(host, file, settings, bool(entry.get("vendorRequired", False))))
    return overrides


STORAGE_EXPORT_DEFAULTS = {"clients": "*", "options": "rw,sync,no_subtree_check"}


def _storage_exports(reader: _Reader, hosts: dict) -> list[StorageExportConfig]:
    raw = reader.object("storageExports", [])
    if not reader.expect(isinstance(raw, list), "`storageExports` must be a list of {host, path, clients, options}"):
        return []
    exports, seen = [], {}
    for index, entry in enumerate(raw):
        where = f"storageExports[{index}]"
        if not reader.expect(isinstance(entry, dict), f"`{where}` must be a mapping with host, path, clients and options"):
            continue
        unknown = sorted(map(str, set(entry) - {"host", "path", "clients", "options"}))
        reader.expect(not unknown, f"`{where}` has unknown keys {_shown(', '.join(unknown))}: use host, path, clients and options")
        props = {**STORAGE_EXPORT_DEFAULTS, **entry}
        ok = reader.expect(isinstance(props.get("host"), str) and props["host"] in hosts,
                           f"`{where}.host` is {_shown(props.get('host'))}, which is not one of `hosts`: {', '.join(hosts)}")
        for key, found in storage_export.problems(props).items():
            reader.problems += [f"`{where}.{key}` {p}" for p in found]
            ok = False
        if not ok:
            continue
        key = (props["host"], props["path"])
        if not reader.expect(key not in seen, f"`{where}` exports {props['path']} on {props['host']} again, as `storageExports[{seen.get(key)}]` does: give each directory one entry"):
            continue
        seen[key] = index
        exports.append(StorageExportConfig(props["host"], props["path"], props["clients"], props["options"]))
    return exports


HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
ADDRESS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]{0,252}$")
HOST_KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*$")
USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
INTERFACE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
ROLES = {"originalEngine": "the original standalone Engine machine", "deploymentHost": "the fresh host the "
         "self-hosted engine is deployed on", "backupServer": "the server that keeps the Engine backup"}
FQDN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
UNICAST_MAC = re.compile(r"^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$")
HOSTED_ENGINE_DEFAULTS = {
    "dataCenterName": "Default", "clusterName": "Default", "bridgeInterface": "eth0", "backupDirectory": "/root/backup",
    "renewPki": False, "enableKeycloak": False, "applianceOva": "", "deployTimeout": 7200,
    "networkTest": {"type": "dns"},
    "storage": {"type": "nfs", "diskSizeGB": 51, "nfsVersion": "auto", "mountOptions": "", "discoverUser": "",
                "portalUser": ""},
    "smtp": {"server": "localhost", "port": 25, "sender": "root@localhost", "recipients": ["root@localhost"]},
    "vm": {"vcpus": 4, "rootSshAccess": "without-password", "fips": False, "etcHosts": True, "openScapProfile": None},
}
# What the deploy itself refuses (ovirt-hosted-engine-setup): checked at preview instead, forty minutes earlier.
SMTP_SERVER = re.compile(r"^[a-z0-9.-]+$")  # gr-he-common/core/ha_notifications.py
EMAIL = re.compile(r"^[a-zA-Z0-9_.+\-=]+@[a-z0-9.-]+$")
NFS_VERSIONS = ("auto", "v3", "v4", "v4_0", "v4_1", "v4_2")  # constants.py NfsVersions
NETWORK_TESTS = ("dns", "ping", "tcp", "none")  # network/network_check.py
DATACENTER_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")  # gr-he-ansiblesetup/core/misc.py
APPLIANCE_DISK_GB = 51  # vm/image.py: the 4.4 and 4.5 appliances' 50 GiB disk, plus the 1 GiB the deploy adds
STORAGE_KEYS = {"nfs": ("connection",), "glusterfs": ("connection",), "iscsi": ("portal", "target", "lun"), "fc": ("lun",)}


def _merged(defaults: dict, given: dict) -> dict:
    merged = {**defaults, **given}
    for key, value in defaults.items():
        if isinstance(value, dict) and isinstance(given.get(key), dict):
            merged[key] = {**value, **given[key]}
    return merged


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


def _hosted_engine(reader: _Reader) -> dict:
    he = _merged(HOSTED_ENGINE_DEFAULTS, reader.mapping("hostedEngine"))
    vm, storage, smtp = (reader.mapping(f"hostedEngine.{k}", he[k]) for k in ("vm", "storage", "smtp"))
    he.update(vm=vm, storage=storage, smtp=smtp)
    reader.absolute_path("hostedEngine.backupDirectory", he["backupDirectory"])
    reader.number("hostedEngine.deployTimeout", he["deployTimeout"], 60, 86400)
    reader.expect(isinstance(he["bridgeInterface"], str) and bool(INTERFACE.match(he["bridgeInterface"])),
                  f"`hostedEngine.bridgeInterface` is {_shown(he['bridgeInterface'])}: give the NIC's name, e.g. eth0")
    reader.expect(isinstance(he["clusterName"], str) and 0 < len(he["clusterName"]) <= 40, "`hostedEngine.clusterName` must be the cluster's name")
    engine_vm = reader.mapping("hostedEngine.engineVm", he.get("engineVm", {}))
    if "port" in engine_vm:
        reader.number("hostedEngine.engineVm.port", engine_vm["port"], 1, 65535)
    if "address" in engine_vm:
        reader.expect(isinstance(engine_vm["address"], str) and bool(ADDRESS.match(engine_vm["address"])), "`hostedEngine.engineVm.address` must be an address or FQDN")
    reader.expect(isinstance(he.get("fqdn"), str) and bool(FQDN.match(he["fqdn"])),
                  "`hostedEngine.fqdn` must be the Engine's fully qualified name (the original Engine's, e.g. engine.example.com)")
    reader.expect(isinstance(he.get("gateway"), str) and he["gateway"] != "", "`hostedEngine.gateway` must be the deployment host's default gateway address")
    memory = vm.get("memoryMB")
    reader.expect(isinstance(memory, int) and not isinstance(memory, bool) and 4096 <= memory <= 1 << 24,
                  f"`hostedEngine.vm.memoryMB` is {_shown(memory)}: give the Engine VM at least 4096 MiB, and as much as the original Engine machine has")
    reader.number("hostedEngine.vm.vcpus", vm.get("vcpus"), 1, 512)
    mac = vm.get("macAddress")
    reader.expect(mac is None or (isinstance(mac, str) and bool(UNICAST_MAC.match(mac.lower()))),
                  f"`hostedEngine.vm.macAddress` is {_shown(mac)}: give a unicast MAC such as 00:16:3e:12:34:56, or leave it out for a random one")
    if reader.expect(isinstance(storage.get("type"), str) and storage["type"] in STORAGE_KEYS, "`hostedEngine.storage.type` must be one of nfs, iscsi, fc, glusterfs"):
        for key in STORAGE_KEYS[storage["type"]]:
            reader.expect(bool(storage.get(key)), f"`hostedEngine.storage.{key}` is needed for {storage['type']} storage")
    minimum = 1 if he["applianceOva"] else APPLIANCE_DISK_GB
    reader.number("hostedEngine.storage.diskSizeGB", storage.get("diskSizeGB"), minimum, 1 << 20)
    if storage.get("type") == "nfs":
        reader.expect(storage.get("nfsVersion") in NFS_VERSIONS, f"`hostedEngine.storage.nfsVersion` is "
                      f"{_shown(storage.get('nfsVersion'))}: give one of {', '.join(NFS_VERSIONS)}")
    _deploy_answers(reader, he, vm, smtp)
    for where, text in _strings(he, "hostedEngine"):
        reader.expect(text.isprintable(), f"`{where}` contains a line break or control character, which an answer file cannot hold")
    return he


def _deploy_answers(reader: _Reader, he: dict, vm: dict, smtp: dict) -> None:
    """The answers the deploy checks itself, and refuses only after the original Engine was stopped."""
    reader.number("hostedEngine.smtp.port", smtp.get("port"), 1, 65535)
    server = smtp.get("server")
    reader.expect(isinstance(server, str) and bool(SMTP_SERVER.match(server)), f"`hostedEngine.smtp.server` is "
                  f"{_shown(server)}: the deploy accepts lower-case letters, digits, `.` and `-` only, e.g. smtp.example.com")
    addresses = [smtp.get("sender")] + (smtp["recipients"] if isinstance(smtp.get("recipients"), list) else [None])
    reader.expect(all(isinstance(a, str) and bool(EMAIL.match(a)) for a in addresses),
                  "`hostedEngine.smtp.sender` and `hostedEngine.smtp.recipients` must be e-mail addresses with a "
                  "lower-case domain, e.g. root@localhost")
    reader.expect(isinstance(he["dataCenterName"], str) and bool(DATACENTER_NAME.match(he["dataCenterName"])),
                  f"`hostedEngine.dataCenterName` is {_shown(he['dataCenterName'])}: give the data centre of the "
                  "original Engine's hosts (letters, digits, `-` and `_`)")
    test = reader.mapping("hostedEngine.networkTest", he["networkTest"])
    if reader.expect(test.get("type") in NETWORK_TESTS, f"`hostedEngine.networkTest.type` is {_shown(test.get('type'))}: "
                     f"give one of {', '.join(NETWORK_TESTS)}") and test["type"] == "tcp":
        reader.expect(isinstance(test.get("address"), str) and bool(ADDRESS.match(test["address"])),
                      "`hostedEngine.networkTest.address` is needed for the tcp test: the address to connect to")
        reader.number("hostedEngine.networkTest.port", test.get("port"), 1, 65535)
    reader.expect(vm.get("rootSshAccess") in ("yes", "without-password"), "`hostedEngine.vm.rootSshAccess` must be "
                  "without-password or yes: procedure 7 logs in to the Engine VM as root with the stack's key")
    reader.expect(vm.get("openScapProfile") in (None, "stig", "pci-dss"),
                  "`hostedEngine.vm.openScapProfile` must be stig or pci-dss, or left out for none")
    for key, value in (("vm.fips", vm.get("fips")), ("vm.etcHosts", vm.get("etcHosts")),
                       ("enableKeycloak", he["enableKeycloak"]), ("renewPki", he["renewPki"])):
        reader.expect(isinstance(value, bool), f"`hostedEngine.{key}` must be true or false")
    cidr = vm.get("staticCIDR")
    reader.expect(cidr is None or isinstance(cidr, str) and _is_interface(cidr), f"`hostedEngine.vm.staticCIDR` is "
                  f"{_shown(cidr)}: give the Engine VM's address with its prefix, e.g. 192.0.2.60/24, or leave it out for DHCP")


def _is_interface(text: str) -> bool:
    """An address with its prefix (4.4's deploy fails on one without), not the network's own address."""
    try:
        interface = ipaddress.ip_interface(text)
    except ValueError:
        return False
    return "/" in text and interface.ip != interface.network.network_address


def _engine_api(reader: _Reader, he: dict) -> dict:
    api = reader.mapping("engineApi")
    url = api.get("url") or f"https://{he.get('fqdn')}/ovirt-engine/api"
    reader.expect(isinstance(url, str) and url.startswith("https://") and url.isprintable(), f"`engineApi.url` is {_shown(url)}: give the https URL of the API")
    ca_file = api.get("caFile")
    ca_ok = isinstance(ca_file, str) and ca_file.isprintable() and 0 < len(ca_file) < 4096
    if reader.expect(ca_ok and (PROJECT_DIR / Path(ca_file).expanduser()).is_file(),
                     f"`engineApi.caFile` is {ca_file!r}: give the path of the Engine's CA certificate (the original "
                     f"Engine's /etc/pki/ovirt-engine/ca.pem; the restored Engine keeps its CA)"):
        return {"url": url, "username": api.get("username", "admin@internal"),
                "caPem": (PROJECT_DIR / Path(ca_file).expanduser()).read_text()}
    return {}


def _migration(reader: _Reader, hosts: dict) -> MigrationConfig | None:
    if reader.object("roles", None) is None:
        return None
    roles = reader.mapping("roles")
    for role, meaning in ROLES.items():
        reader.expect(isinstance(roles.get(role), str) and roles.get(role) in hosts,
                      f"`roles.{role}` is {_shown(roles.get(role))}: name {meaning}, one of `hosts`")
    backup = {"directory": "/backup", "fileName": "engine.backup", "engineDirectory": "/var/lib/ovirt-engine-backup",
              "allowEngineUpdate": False, **reader.mapping("backup")}
    reader.absolute_path("backup.directory", backup["directory"])
    reader.absolute_path("backup.engineDirectory", backup["engineDirectory"])
    reader.file_name("backup.fileName", backup["fileName"])
    reader.expect(isinstance(backup["allowEngineUpdate"], bool), "`backup.allowEngineUpdate` must be true or false")
    nodes = reader.listing("hostedEngineNodes")
    for index, node in enumerate(nodes):
        reader.expect(isinstance(node, str) and node in hosts and node not in roles.values(),
                      f"`hostedEngineNodes[{index}]` is {_shown(node)}: name an existing hypervisor from `hosts` (not the deployment host)")
    timeouts = {"maintenance": 1800, "install": 3600, "poll": 2, **reader.mapping("nodeTimeouts")}
    for key in ("maintenance", "install", "poll"):
        reader.number(f"nodeTimeouts.{key}", timeouts[key], 0.1, 86400, whole=False)
    node_reboot = reader.object("nodeReboot", True)
    reader.expect(isinstance(node_reboot, bool), "`nodeReboot` must be true (reboot each host after its reinstall, "
                  "the Engine's default) or false")
    he = _hosted_engine(reader)
    return MigrationConfig(
        original_engine=roles.get("originalEngine"), deployment_host=roles.get("deploymentHost"),
        backup_server=roles.get("backupServer"),
        backup=BackupConfig(backup["directory"], backup["fileName"], backup["engineDirectory"], bool(backup["allowEngineUpdate"])),
        hosted_engine=he, engine_api=_engine_api(reader, he), nodes=list(nodes) if isinstance(nodes, list) else [],
        node_timeouts=timeouts, node_reboot=node_reboot is not False,
    )


def load(config: pulumi.Config | None = None) -> SiteConfig:
    reader = _Reader(config or pulumi.Config())
    ssh = reader.mapping("ssh")
    user = ssh.get("user", "root")
    reader.expect(isinstance(user, str) and bool(USER.match(user)), f"`ssh.user` is {_shown(user)}: give a login name such as root")
    hosts = _hosts(reader)
    site = SiteConfig(
        ssh_user=user,
        known_hosts=_known_hosts(reader, ssh),
        hosts=hosts,
        multipath_overrides=_multipath_overrides(reader, hosts),
        storage_exports=_storage_exports(reader, hosts),
        migration=_migration(reader, hosts),
    )
    if reader.problems:
        raise ConfigError(reader.problems)
    return site


def secrets(site: SiteConfig, config: pulumi.Config | None = None) -> dict:
    """The migration's passwords, kept secret; each is set with `pulumi config set --secret`."""
    if site.migration is None:
        return {}
    config = config or pulumi.Config()
    found = {name: config.require_secret(name) for name in ("adminPassword", "engineRootPassword")}
    for name in ("iscsiDiscoverPassword", "iscsiPortalPassword"):  # only iSCSI targets with CHAP need them
        value = config.get_secret(name)
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
            raise ConfigError([str(err) + ": set it with `pulumi config set --secret sshPrivateKey < KEYFILE`"])
        return text

    return key.apply(checked)
