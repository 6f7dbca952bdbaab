"""StorageExport: an NFS export on the storage server, ready for oVirt (procedure 3.1).

oVirt reaches NFS storage as vdsm:kvm (36:36), so the storage server gets the group `kvm` (gid 36)
and the user `vdsm` (uid 36, group 36), the export directory belongs to 36:36 with mode 0755, and
the directory is exported. The procedure's own commands are run, and only those the host still
needs: `groupadd kvm -g 36`, `useradd vdsm -u 36 -g 36`, `chown -R 36:36 DIR`, `chmod 0755 DIR`,
then `exportfs -r`.

Nothing that belongs to someone else is overwritten: gid 36 or uid 36 taken by another name, a
`kvm` group or `vdsm` user with other ids, a directory owned by someone other than root or 36:36,
or another line exporting the same directory to the same clients with other options all make the
change fail, naming the host, what was found and what to do.

The export line lives in /etc/exports.d/ovirt-<path>.exports, unless the same line (same path,
clients and options) is already in /etc/exports or another drop-in; then that line is used as is.

Deleting the resource removes the export line and re-exports. It does NOT remove the directory,
its data, or the vdsm and kvm accounts: the data belongs to the site, and a storage domain's
files are removed through the Engine, never from here.
"""

from __future__ import annotations

import posixpath
import re
import shlex
import threading
from dataclasses import dataclass, field

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, ReadResult, Resource, ResourceProvider, UpdateResult

from providers import base, host_facts
from providers.errors import StepError
from providers.ssh import RemoteCommandError
from providers.timing import timed

VDSM_UID = KVM_GID = 36
OWNER, MODE = f"{VDSM_UID}:{KVM_GID}", "755"
EXPORTS, EXPORTS_D = "/etc/exports", "/etc/exports.d"
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")
SAFE_CLIENT = re.compile(r"^[A-Za-z0-9.*?:/_\[\]@-]+$")
SAFE_OPTIONS = re.compile(r"^[a-z_]+(=[A-Za-z0-9_.:/@+-]+)?(,[a-z_]+(=[A-Za-z0-9_.:/@+-]+)?)*$")


# --- pure logic: validation, the exports format, comparison ---------------------------------------


def path_problems(path) -> list[str]:
    fix = "give the export directory as an absolute, normalised path such as /exports/data"
    if not isinstance(path, str) or not path:
        return [f"is {path!r}: {fix}"]
    if not path.startswith("/") or path == "/":
        return [f"is {path!r}, which is not an absolute directory below /: {fix}"]
    if ".." in path.split("/"):
        return [f"is {path!r}, which contains `..`: {fix}"]
    if not SAFE_PATH.match(path):
        return [
            f"is {path!r}, which has whitespace, quotes or other characters exports(5) would need escaped: "
            f"use letters, digits and . _ + - only"
        ]
    if posixpath.normpath(path) != path:
        return [f"is {path!r}, which is not normalised: write it as {posixpath.normpath(path)}"]
    return []


def clients_problems(clients) -> list[str]:
    if isinstance(clients, str) and SAFE_CLIENT.match(clients):
        return []
    return [
        f"is {clients!r}: give one client specification as exports(5) takes it: a host name, an address, "
        f"a network (192.0.2.0/24), a wildcard (*.lab.example) or * for every host; list more clients as "
        f"separate entries"
    ]


def options_problems(options) -> list[str]:
    if isinstance(options, str) and SAFE_OPTIONS.match(options):
        return []
    return [
        f"is {options!r}: give exports(5) options separated by commas, without spaces or quotes, "
        f"for example rw,sync,no_subtree_check"
    ]


def problems(props: dict) -> dict[str, list[str]]:
    """Each property's problems, keyed by property name."""
    found = {
        "path": path_problems(props.get("path")),
        "clients": clients_problems(props.get("clients")),
        "options": options_problems(props.get("options")),
    }
    return {key: value for key, value in found.items() if value}


def drop_in(path: str) -> str:
    """Where this resource writes its export line: /etc/exports.d/ovirt-exports-data.exports."""
    return posixpath.join(EXPORTS_D, "ovirt-" + path.strip("/").replace("/", "-") + ".exports")


def export_line(props: dict) -> str:
    return f"{props['path']} {props['clients']}({props['options']})"


def _option_set(options: str) -> frozenset:
    return frozenset(filter(None, options.split(",")))


def parse_exports(text: str) -> list[tuple[int, str, str, str]]:
    """(line number, path, client, options) for every export in an exports(5) file."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        path, defaults = words[0], ""
        for word in words[1:] or ["*"]:
            if word.startswith("-"):
                defaults = word[1:]
                continue
            client, _, rest = word.partition("(")
            entries.append((number, path, client or "*", ",".join(filter(None, [defaults, rest.rstrip(")")]))))
    return entries


@dataclass
class Facts:
    """What the storage server holds now, as read by `getent`, `stat`, the exports files and `exportfs -v`."""

    host: str
    kvm_gid: int | None = None  # getent group kvm 36: the kvm line
    gid_36_name: str | None = None  # getent group kvm 36: the gid 36 line
    vdsm_ids: tuple | None = None  # getent passwd vdsm 36: the vdsm line (uid, gid)
    uid_36_name: str | None = None  # getent passwd vdsm 36: the uid 36 line
    directory: tuple | None = None  # stat: (uid, gid, "755")
    lines: list = field(default_factory=list)  # (file, line number, path, client, options) for this path
    exported: bool = False

    def matching_line(self, props: dict):
        wanted = (props["clients"], _option_set(props["options"]))
        for entry in self.lines:
            if (entry[3], _option_set(entry[4])) == wanted:
                return entry
        return None

    def clashes(self, props: dict) -> list[str]:
        """What belongs to someone else and must not be overwritten; each names what to do."""
        found = []
        if self.gid_36_name not in (None, "kvm"):
            found.append(
                f"gid {KVM_GID} belongs to the group {self.gid_36_name!r}, but oVirt needs it for kvm: "
                f"move that group to another gid (groupmod -g) and chgrp its files, then run again"
            )
        if self.kvm_gid not in (None, KVM_GID):
            found.append(
                f"the group kvm has gid {self.kvm_gid}, but oVirt needs gid {KVM_GID}: change it "
                f"(groupmod -g {KVM_GID} kvm) and chgrp its files, then run again"
            )
        if self.uid_36_name not in (None, "vdsm"):
            found.append(
                f"uid {VDSM_UID} belongs to the user {self.uid_36_name!r}, but oVirt needs it for vdsm: "
                f"move that user to another uid (usermod -u) and chown its files, then run again"
            )
        if self.vdsm_ids not in (None, (VDSM_UID, KVM_GID)):
            found.append(
                f"the user vdsm has uid:gid {self.vdsm_ids[0]}:{self.vdsm_ids[1]}, but oVirt needs "
                f"{OWNER}: fix it (usermod -u {VDSM_UID} -g {KVM_GID} vdsm), then run again"
            )
        if self.directory is not None and self.directory[:2] not in ((0, 0), (VDSM_UID, KVM_GID)):
            uid, gid, _ = self.directory
            found.append(
                f"{props['path']} exists and belongs to {uid}:{gid}, not root or {OWNER}: it may hold "
                f"someone else's data. Check it; if it is meant for oVirt, `chown -R {OWNER} "
                f"{props['path']}` yourself, otherwise choose another `path`"
            )
        mine = drop_in(props["path"])
        for file, number, _path, client, options in self.lines:
            if client == props["clients"] and file != mine and _option_set(options) != _option_set(props["options"]):
                found.append(
                    f"{file}:{number} already exports {props['path']} to {client} with options "
                    f"({options}), not ({props['options']}): edit or remove that line, or set `options` "
                    f"to match it"
                )
        return [f"{self.host}: {c}" for c in found]

    def state(self, props: dict) -> dict:
        """The parts of the host this resource keeps as they should be; compared with `desired()`."""
        return {
            "accounts": self.kvm_gid == KVM_GID and self.vdsm_ids == (VDSM_UID, KVM_GID),
            "owner": None if self.directory is None else f"{self.directory[0]}:{self.directory[1]}",
            "mode": None if self.directory is None else self.directory[2],
            "exportLine": self.matching_line(props) is not None,
            "exported": self.exported,
        }


def desired() -> dict:
    return {"accounts": True, "owner": OWNER, "mode": MODE, "exportLine": True, "exported": True}


def plan(facts: Facts, props: dict) -> list[tuple]:
    """The commands that close the difference, in the procedure's order; ("write", file, text) writes a file."""
    path, steps = props["path"], []
    if facts.kvm_gid is None:
        steps.append(("groupadd", "kvm", "-g", str(KVM_GID)))
    if facts.vdsm_ids is None:
        steps.append(("useradd", "vdsm", "-u", str(VDSM_UID), "-g", str(KVM_GID)))
    if facts.directory is None:
        steps.append(("mkdir", "-p", "--", path))
    if facts.directory is None or facts.directory[:2] != (VDSM_UID, KVM_GID):
        steps.append(("chown", "-R", OWNER, path))
    if facts.directory is None or facts.directory[2] != MODE:
        steps.append(("chmod", "0" + MODE, path))
    line = facts.matching_line(props)
    if line is None:
        steps.append(("mkdir", "-p", EXPORTS_D))
        steps.append(("write", drop_in(path), export_line(props) + "\n"))
    if line is None or not facts.exported:
        steps.append(("exportfs", "-r"))
    return steps


# --- the host ---------------------------------------------------------------------------------------


def parse_getent(stdout: str) -> list[list[str]]:
    """The entries `getent` printed, each split on `:`."""
    return [line.split(":") for line in stdout.splitlines() if line]


def _getent(connection, database: str, *keys: str) -> str:
    """What getent prints for `keys`; it exits 2 when one of them is missing."""
    result = connection.run("getent", database, *keys, check=False)
    if result.exit_status not in (0, 2):
        raise RemoteCommandError(connection.host.name, shlex.join(["getent", database, *keys]), result)
    return result.stdout


def _exports_files(connection) -> list[str]:
    names = connection.list_dir(EXPORTS_D) or []
    return [EXPORTS] + sorted(
        posixpath.join(EXPORTS_D, n) for n in names if n.endswith(".exports") and not n.startswith(".")
    )


def facts_from(host: str, props: dict, reads: dict) -> Facts:
    """Facts from what the reads printed: `groups` and `users` (getent), `stat` (None when the directory is
    missing), `exports` (each exports file's text by name) and `exportfs` (`exportfs -v`)."""
    facts = Facts(host)
    groups = parse_getent(reads["groups"])
    facts.kvm_gid = next((int(g[2]) for g in groups if g[0] == "kvm"), None)
    facts.gid_36_name = next((g[0] for g in groups if g[2] == str(KVM_GID)), None)
    users = parse_getent(reads["users"])
    facts.vdsm_ids = next(((int(u[2]), int(u[3])) for u in users if u[0] == "vdsm"), None)
    facts.uid_36_name = next((u[0] for u in users if u[2] == str(VDSM_UID)), None)
    if reads["stat"] is not None:
        facts.directory = host_facts.ownership(reads["stat"])
    for file, content in reads["exports"].items():
        for number, path, client, options in parse_exports(content):
            if path == props["path"]:
                facts.lines.append((file, number, path, client, options))
    wanted = _option_set(props["options"])
    facts.exported = any(
        path == props["path"] and client == props["clients"] and wanted <= _option_set(options)
        for path, client, options in host_facts.parse_exportfs_verbose(reads["exportfs"])
    )
    return facts


def gather(props: dict) -> Facts:
    connection = base.ssh_host(props)
    groups = _getent(connection, "group", "kvm", str(KVM_GID))
    users = _getent(connection, "passwd", "vdsm", str(VDSM_UID))
    stat = connection.run(*host_facts.OWNERSHIP, props["path"], check=False)
    exports = {
        file: (connection.read_file(file) or b"").decode(errors="replace") for file in _exports_files(connection)
    }
    reads = {
        "groups": groups,
        "users": users,
        "stat": stat.stdout if stat.exit_status == 0 else None,
        "exports": exports,
        "exportfs": connection.run("exportfs", "-v").stdout,
    }
    return facts_from(connection.host.name, props, reads)


_host_locks: dict[str, threading.RLock] = {}
_host_locks_lock = threading.Lock()


def _host_lock(props: dict) -> threading.RLock:
    """Exports on one host share its accounts and its SSH connection (one SFTP session), so this
    process reads and prepares them one at a time."""
    with _host_locks_lock:
        return _host_locks.setdefault(
            props["connection"]["address"] + ":" + str(props["connection"]["port"]), threading.RLock()
        )


def _run_account_step(connection, props: dict, step: tuple) -> None:
    """groupadd/useradd; "already exists" is fine when another run made the same account meanwhile."""
    result = connection.run(*step, check=False)
    if result.exit_status == 0:
        return
    again = gather(props)
    made = again.kvm_gid == KVM_GID if step[0] == "groupadd" else again.vdsm_ids == (VDSM_UID, KVM_GID)
    if not made:
        raise RemoteCommandError(connection.host.name, shlex.join(step), result)


def _apply(props: dict) -> Facts:
    with _host_lock(props):
        return _apply_unlocked(props)


def _apply_unlocked(props: dict) -> Facts:
    """Reads the host, refuses on a clash, runs only the missing steps, and checks the result."""
    facts = gather(props)
    clashes = facts.clashes(props)
    if clashes:
        raise StepError(
            facts.host,
            f"the NFS export of {props['path']} cannot be prepared; nothing was changed",
            "Settle each of these as it says, then run `pulumi up` again.",
            output="\n".join(f"  - {c}" for c in clashes),
        )
    connection = base.ssh_host(props)
    steps = plan(facts, props)
    if not steps:
        return facts
    for step in steps:
        if step[0] == "write":
            connection.write_file(step[1], step[2].encode(), 0o644)
        elif step[0] in ("groupadd", "useradd"):
            _run_account_step(connection, props, step)
        else:
            connection.run(*step)
    after = gather(props)
    if after.state(props) != desired():
        raise StepError(
            facts.host,
            f"{props['path']} is still not ready for oVirt after the changes: {after.state(props)}",
            "Check `exportfs -v` and the nfs-server logs, then run `pulumi up` again.",
        )
    return after


def _outputs(props: dict, facts: Facts) -> dict:
    line = facts.matching_line(props)
    return {**props, "state": facts.state(props), "exportFile": line[0] if line else None}


def _remove_line(props: dict) -> None:
    connection = base.ssh_host(props)
    facts = gather(props)
    line = facts.matching_line(props)
    if line is None:
        return
    file, number = line[0], line[1]
    if file == drop_in(props["path"]):
        connection.run("rm", "-f", "--", file)
    else:
        lines = connection.read_file(file).decode().splitlines(keepends=True)
        connection.write_file(
            file, "".join(lines[: number - 1] + lines[number:]).encode(), connection.file_mode(file) or 0o644
        )
    connection.run("exportfs", "-r")


class StorageExportProvider(ResourceProvider):
    def check(self, olds, news):
        failures = [CheckFailure(key, f"`{key}` {p}") for key, found in problems(news).items() for p in found]
        return CheckResult(news, failures)

    def diff(self, _id, olds, news):
        return base.diff(
            olds,
            news,
            replace=["path", ("connection", base.host_identity)],
            update=["clients", "options"],
            drifted=["state"] if olds.get("state") != desired() else [],
            delete_before_replace=True,
        )

    @timed
    def create(self, props):
        facts = _apply(props)
        return CreateResult(f"{props['connection']['name']}:{props['path']}", _outputs(props, facts))

    def read(self, id_, props):
        with _host_lock(props):
            return ReadResult(id_, _outputs(props, gather(props)))

    @timed
    def update(self, _id, olds, news):
        if (olds.get("clients"), olds.get("options")) != (news["clients"], news["options"]):
            with _host_lock(olds):
                _remove_line(olds)  # the old line goes first, so the two never clash
        return UpdateResult(_outputs(news, _apply(news)))

    def delete(self, _id, props):
        """Removes the export line and re-exports; the directory, its data and the accounts stay."""
        with _host_lock(props):
            _remove_line(props)


class StorageExport(Resource, module="ovirt", name="StorageExport"):
    """An NFS export for oVirt: kvm/vdsm (36:36), the directory 36:36 0755, exported to `clients`.

    Deleting it unexports the directory only; the directory, its data and the accounts belong to the
    site and stay.
    """

    state: pulumi.Output[dict]

    def __init__(self, name: str, *, connection: dict, private_key, path: str, clients: str, options: str, opts=None):
        inputs = {
            "connection": connection,
            "privateKey": private_key,
            "path": path,
            "clients": clients,
            "options": options,
        }
        super().__init__(
            StorageExportProvider(),
            name,
            base.properties(inputs, ("state", "exportFile")),
            base.options(opts, ["privateKey"]),
        )
