"""Site description: which hosts the lab simulates and their initial state.

A site is YAML.  Hosts may list `use: [template, ...]` to pull in shared
settings from the top-level `templates` map (lists are concatenated, other
values overridden), which keeps the common EL8 accounts in one place.
Unknown keys are kept in `extra` so later sections (Engine API, storage
domains, DNS) can be added without changing this loader; `storage:` (iSCSI
targets, LUNs, Gluster volumes) is kept apart in `Site.storage` for
lab/commands/storage.py.
"""

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

ROLES = ("original-engine", "storage", "deployment-host", "hypervisor", "backup")
DEFAULT_SITE = Path(__file__).parent / "sites" / "default.yaml"


class SiteError(ValueError):
    """The site file is inconsistent (unknown role, duplicate name or port, ...)."""


@dataclass
class UserSpec:
    name: str
    uid: int
    gid: int
    gecos: str = ""
    home: str = "/"
    shell: str = "/sbin/nologin"


@dataclass
class GroupSpec:
    name: str
    gid: int
    members: list = field(default_factory=list)


@dataclass
class PathSpec:
    """A directory (content is None) or a file to create, owner/group by name."""

    path: str
    mode: int = 0o755
    owner: str = "root"
    group: str = "root"
    content: str = None


@dataclass
class ServiceSpec:
    name: str
    active: bool = False
    enabled: bool = False
    description: str = ""


@dataclass
class HostSpec:
    name: str
    role: str
    fqdn: str
    address: str  # documentation only; the lab always listens on 127.0.0.1
    ssh_port: int
    ram_mb: int = 0
    cpus: int = 0
    cpu_flags: list = field(default_factory=list)
    users: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    directories: list = field(default_factory=list)
    files: list = field(default_factory=list)
    services: list = field(default_factory=list)
    packages: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class Site:
    name: str
    path: str
    hosts: list
    authorized_keys: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    storage: dict = field(default_factory=dict)  # the `storage:` section (lab/commands/storage.py)

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)


def _build(cls, data, where):
    """Instantiate a dataclass from a dict, rejecting unknown keys with a clear message."""
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise SiteError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise SiteError(f"{where}: {exc}") from None


def _merge(base, extra):
    out = dict(base)
    for key, value in extra.items():
        out[key] = out.get(key, []) + value if isinstance(value, list) else value
    return out


def _host(raw, templates):
    merged = {}
    for name in raw.get("use", []):
        if name not in templates:
            raise SiteError(f"host {raw.get('name')}: unknown template {name!r}")
        merged = _merge(merged, templates[name])
    merged = _merge(merged, {k: v for k, v in raw.items() if k != "use"})
    where = f"host {merged.get('name')}"
    known = {f.name for f in fields(HostSpec)}
    host = _build(HostSpec, {k: v for k, v in merged.items() if k in known}, where)
    host.extra = {k: v for k, v in merged.items() if k not in known}
    host.users = [_build(UserSpec, u, where) for u in host.users]
    host.groups = [_build(GroupSpec, g, where) for g in host.groups]
    host.directories = [_build(PathSpec, d, where) for d in host.directories]
    host.files = [_build(PathSpec, {"mode": 0o644, **f}, where) for f in host.files]
    host.services = [_build(ServiceSpec, s, where) for s in host.services]
    if host.role not in ROLES:
        raise SiteError(f"{where}: role {host.role!r} is not one of {', '.join(ROLES)}")
    return host


def load(path=DEFAULT_SITE):
    """Load and check a site file."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) or {}
    templates = data.get("templates", {})
    hosts = [_host(h, templates) for h in data.get("hosts", [])]
    for attr in ("name", "ssh_port"):
        values = [getattr(h, attr) for h in hosts]
        dupes = {v for v in values if values.count(v) > 1}
        if dupes:
            raise SiteError(f"duplicate host {attr}: {sorted(dupes)}")
    extra = {k: v for k, v in data.items() if k not in ("name", "hosts", "templates", "authorized_keys", "storage")}
    return Site(
        name=data.get("name", path.stem),
        path=str(path.resolve()),
        hosts=hosts,
        authorized_keys=list(data.get("authorized_keys", [])),
        extra=extra,
        storage=dict(data.get("storage") or {}),
    )
