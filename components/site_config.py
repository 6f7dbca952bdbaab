"""The site's stack configuration, read and checked in one place.

Every problem is collected and reported together, each naming the setting and the fix, so a
stack file is corrected in one pass at `pulumi preview`, before anything on the site changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pulumi

from providers import multipath_conf
from providers.multipath_override import file_name_problems
from providers.ssh import load_private_key

PROJECT_DIR = Path(__file__).resolve().parent.parent


class ConfigError(pulumi.RunError):
    """The stack's settings are wrong; the message lists every problem found."""

    def __init__(self, problems: list[str]):
        super().__init__("the stack configuration has problems:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class HostConfig:
    name: str
    address: str
    port: int
    host_key: str | None


@dataclass(frozen=True)
class MultipathOverrideConfig:
    host: str
    file: str
    settings: dict
    vendor_required: bool


@dataclass(frozen=True)
class SiteConfig:
    ssh_user: str
    known_hosts: str
    hosts: dict[str, HostConfig]
    multipath_overrides: list[MultipathOverrideConfig] = field(default_factory=list)

    def known_hosts_for(self, name: str) -> str:
        """The trusted key lines for one host: its pinned key if the stack has one, else known_hosts."""
        host = self.hosts[name]
        label = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
        if host.host_key:
            return f"{label} {host.host_key}\n"
        return "".join(line + "\n" for line in self.known_hosts.splitlines() if _names_host(line, label))

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


def _hosts(reader: _Reader) -> dict[str, HostConfig]:
    raw = reader.object("hosts", {})
    if not reader.expect(isinstance(raw, dict) and raw, "`hosts` must map each host's name to {address, port}"):
        return {}
    hosts = {}
    for name, entry in raw.items():
        entry = entry if isinstance(entry, dict) else {}
        address, port = entry.get("address"), entry.get("port", 22)
        ok = reader.expect(isinstance(address, str) and address.strip() != "", f"`hosts.{name}.address` must be the host's address or FQDN")
        ok &= reader.expect(isinstance(port, int) and 0 < port < 65536, f"`hosts.{name}.port` must be a TCP port number (1-65535), not {port!r}")
        if ok:
            hosts[name] = HostConfig(name, address, port, entry.get("hostKey"))
    return hosts


def _known_hosts(reader: _Reader, ssh: dict) -> str:
    path = ssh.get("knownHostsFile", "~/.ssh/known_hosts")
    resolved = PROJECT_DIR / Path(path).expanduser()
    if reader.expect(resolved.is_file(), f"`ssh.knownHostsFile` names {path}, which does not exist: give the known_hosts file that holds the hosts' keys"):
        return resolved.read_text()
    return ""


def _multipath_overrides(reader: _Reader, hosts: dict) -> list[MultipathOverrideConfig]:
    overrides = []
    for index, entry in enumerate(reader.object("multipathOverrides", [])):
        where = f"multipathOverrides[{index}]"
        entry = entry if isinstance(entry, dict) else {}
        host, file, settings = entry.get("host"), entry.get("file"), entry.get("settings") or {}
        reader.expect(host in hosts, f"`{where}.host` is {host!r}, which is not one of `hosts`: {', '.join(hosts)}")
        problems = file_name_problems(file) + multipath_conf.problems(settings if isinstance(settings, dict) else {"settings": settings})
        reader.problems += [f"`{where}`: {p}" for p in problems]
        if not problems:
            overrides.append(MultipathOverrideConfig(host, file, settings, bool(entry.get("vendorRequired", False))))
    return overrides


def load(config: pulumi.Config | None = None) -> SiteConfig:
    reader = _Reader(config or pulumi.Config())
    ssh = reader.object("ssh", {})
    hosts = _hosts(reader)
    site = SiteConfig(
        ssh_user=ssh.get("user", "root"),
        known_hosts=_known_hosts(reader, ssh),
        hosts=hosts,
        multipath_overrides=_multipath_overrides(reader, hosts),
    )
    if reader.problems:
        raise ConfigError(reader.problems)
    return site


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
