"""What the checks read, read once: the hosts over the resources' own SSH connections, and the
parsers of what they print. Nothing here changes a host."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from components.site_config import SiteConfig
from providers import host_facts, ssh
from providers.address_handover import record_path

HE_STORAGE_MIN_GIB = 74
ENGINE_MIN_MEMORY_MB = 4096
GIB = 1 << 30


@dataclass
class Findings:
    """What the checks found (errors stop the migration, warnings and notes are shown) and what each
    check read to find it."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read: list[str] = field(default_factory=list)


PREFETCH_WORKERS = 16  # hosts asked at once by a check that asks many the same


class Site:
    """Lazy, cached read-only access to the hosts, so each fact is read once."""

    def __init__(self, site: SiteConfig, key: str, findings: Findings):
        self.site, self.key, self.findings = site, key, findings
        self.connections: dict[str, ssh.Connection | None] = {}
        self.results: dict[tuple, ssh.Result | None] = {}
        self.opened: dict[str, ssh.Connection | Exception] = {}  # by prefetch, not yet asked for

    def _connect(self, name: str) -> ssh.Connection:
        return ssh.connect(ssh.Host.from_props(self.site.connection(name)), self.key)

    def prefetch(self, names, *commands: tuple[str, ...]) -> None:
        """Opens the connections to NAMES and runs COMMANDS on each, hosts at once, for a check that then asks them
        in turn: it waits for the slowest host instead of for every host one after another. Nothing is reported
        here: what each host answered (or why it could not be reached) comes out when the check asks for it."""
        todo = [n for n in dict.fromkeys(names) if n not in self.connections and n not in self.opened]

        def fetch(name):
            try:
                connection = self._connect(name)
            except Exception as err:
                return name, err, {}
            return name, connection, {argv: connection.run(*argv, check=False) for argv in commands}

        with ThreadPoolExecutor(max_workers=max(1, min(PREFETCH_WORKERS, len(todo)))) as pool:
            for name, opened, results in pool.map(fetch, todo):
                self.opened[name] = opened
                self.results.update({(name, argv): result for argv, result in results.items()})

    def conn(self, name: str) -> ssh.Connection | None:
        if name not in self.connections:
            try:
                opened = self.opened.pop(name, None)
                if isinstance(opened, Exception):
                    raise opened
                self.connections[name] = opened or self._connect(name)
            except Exception as err:  # unreachable host, refused key: reported once, its checks skipped
                self.connections[name] = None
                handed_over = self._handed_over(name)
                if handed_over:
                    self.findings.notes.append(handed_over)
                else:
                    self.findings.errors.append(
                        f"cannot reach `hosts.{name}` ({self.site.hosts[name].address}:{self.site.hosts[name].port}) "
                        f"over SSH: {err}; fix `hosts.{name}` or the host, since its prerequisites cannot be checked"
                    )
        return self.connections[name]

    def _handed_over(self, name: str) -> str | None:
        """Why the original Engine machine no longer answers, when an earlier `up` powered it off to free the FQDN's
        address (its record beside the backup), else None."""
        migration = self.site.migration
        if migration is None or name != migration.original_engine:
            return None
        path = record_path(migration.backup.directory, migration.backup.file_name)
        record = out(self.run(migration.backup_server, "cat", path))
        try:
            shown = json.loads(record or "")
        except ValueError:
            return None
        if shown.get("originalEngine") != "powered-off":
            return None
        return (
            f"the original Engine machine {name} does not answer: the address handover powered it off at "
            f"{shown.get('handedOverAt')} ({path}), so its checks are skipped"
        )

    def run(self, name: str, *argv: str) -> ssh.Result | None:
        """ARGV's result on host NAME, run once per preview: the checks only read, so a second check asking the same
        gets the first answer (and still lists it among what it read)."""
        self.findings.read.append(f"{name}: {shlex.join(argv)}")
        if (name, argv) not in self.results:
            connection = self.conn(name)
            self.results[(name, argv)] = connection.run(*argv, check=False) if connection else None
        return self.results[(name, argv)]


def out(result: ssh.Result | None) -> str | None:
    return result.stdout if result is not None and result.exit_status == 0 else None


def available_bytes(hosts: Site, name: str, path: str) -> int | None:
    """Bytes available where PATH is, or will be: a path not created yet is on its nearest existing parent's file
    system. None when the host cannot be asked."""
    where = path
    avail = hosts.run(name, *host_facts.AVAILABLE, where)
    while avail is not None and avail.exit_status != 0 and where != "/":
        where = posixpath.dirname(where)
        avail = hosts.run(name, *host_facts.AVAILABLE, where)
    numbers = re.findall(r"^\s*(\d+)\s*$", out(avail) or "", re.M)
    return int(numbers[-1]) if numbers else None


def resolve(hosts: Site, deploy: str, name: str, setting: str, findings: Findings) -> str | None:
    """Forward and reverse records of NAME as the deployment host resolves them; returns the address."""
    forward = out(hosts.run(deploy, "getent", "hosts", name))
    if not forward or not forward.split():
        findings.errors.append(
            f"{name} ({setting}) has no forward DNS record: `getent hosts {name}` on the "
            f"deployment host finds nothing; add an A record for it"
        )
        return None
    address = forward.split()[0]
    reverse = out(hosts.run(deploy, "getent", "hosts", address))
    if not reverse or len(reverse.split()) < 2:
        findings.errors.append(
            f"{address}, the address of {name} ({setting}), has no reverse DNS record: "
            f"`getent hosts {address}` finds nothing; add a PTR record naming {name}"
        )
    elif reverse.split()[1].lower() != name.lower():
        findings.errors.append(
            f"the reverse DNS record of {address} names {reverse.split()[1]}, not {name} "
            f"({setting}): make forward and reverse records agree"
        )
    return address


def addresses(hosts: Site, name: str) -> list:
    """Host NAME's IPv4 interfaces (not loopback), from `ip -o -4 addr show`; [] when it cannot be read."""
    return host_facts.ipv4_interfaces(out(hosts.run(name, *host_facts.IPV4_ADDRESSES)) or "")


def storage_host(site: SiteConfig, hosts: Site, server: str) -> str | None:
    """The stack's host that SERVER (a name or an address) is: by its stack name or address, else as the host
    answers for itself (`hostname -f`, its IPv4 addresses)."""
    for name, host in site.hosts.items():
        if server in (name, host.address, host.engine_name):
            return name
    exporters = [e.host for e in site.storage_exports]
    roles = (site.migration.original_engine, site.migration.deployment_host, site.migration.backup_server)
    candidates = [n for n in dict.fromkeys(exporters + list(site.hosts)) if n not in roles]
    for at, name in enumerate(candidates):
        if at % PREFETCH_WORKERS == 0:  # the next hosts asked at once, the exporters first: the search stops early
            hosts.prefetch(candidates[at : at + PREFETCH_WORKERS], ("hostname", "-f"), host_facts.IPV4_ADDRESSES)
        found = out(hosts.run(name, "hostname", "-f"))
        if found and found.strip().lower() == server.lower():
            return name
        if any(str(interface.ip) == server for interface in addresses(hosts, name)):
            return name  # the Engine keeps an iSCSI portal as the address it was discovered at
    return None
