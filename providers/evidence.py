"""MigrationEvidence: what shows how the migration went, kept in one archive on the backup server.

The engine-backup log beside the backup, the deploy's logs on the deployment host
(/var/log/ovirt-hosted-engine-setup/), the restore, engine-setup and host-deploy logs on the new Engine VM
(/var/log/ovirt-engine/setup/, /var/log/ovirt-engine/host-deploy/), and each node's final
`hosted-engine --vm-status --json`. Files are read over SFTP, the archive (tar.gz, members under each host's
name) is built here, scanned for every secret of the stack before it leaves, and written beside the backup;
its SHA-256 is an output and a line of the report. A secret found stops it, naming the file, not the secret.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import stat
import tarfile
import time

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from providers import base
from providers.errors import StepError
from providers.timing import TIMING_OUTPUTS, timed


def secret_needles(secrets: list[str]) -> list[str]:
    """What must not appear: each secret, and each body line of a private key (a PEM split over lines)."""
    needles = []
    for secret in secrets:
        lines = [line for line in (secret or "").splitlines() if line and not line.startswith("-----")]
        needles += lines if len(lines) > 1 else [secret] if secret else []
    return needles


def leaked(members: dict[str, bytes], needles: list[str]) -> list[str]:
    """The members holding any of the needles."""
    return sorted(name for name, data in members.items() if any(n.encode() in data for n in needles))


def archive(members: dict[str, bytes], mtime: float) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(mtime), 0o600
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _files(connection, path: str) -> dict[str, bytes]:
    """Every regular file at or under PATH on the host, by its path; nothing when PATH is not there."""
    with connection.sftp() as sftp:
        try:
            kind = sftp.stat(path).st_mode
        except FileNotFoundError:
            return {}
        entries = (
            [(posixpath.join(path, e.filename), e.st_mode) for e in sftp.listdir_attr(path)]
            if stat.S_ISDIR(kind)
            else None
        )
    if entries is None:
        data = connection.read_file(path) if stat.S_ISREG(kind) else None
        return {} if data is None else {path: data}
    found = {}
    for child, _ in sorted(entries):
        found.update(_files(connection, child))
    return found


def _gather(props: dict) -> dict[str, bytes]:
    members = {}
    for source in props["sources"]:
        connection = base.ssh_host({**source, "privateKey": props["privateKey"]})
        host = source["connection"]["name"]
        for path in source["paths"]:
            members.update({f"{host}{name}": data for name, data in _files(connection, path).items()})
        for command in source.get("commands", []):
            result = connection.run(*command, check=False)
            members[f"{host}/{'-'.join(w.strip('-') for w in command)}.txt"] = result.stdout.encode()
    return members


def described(data: bytes, names: list[str]) -> dict:
    """What the state says of an archive: its checksum, size and member names."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "members": sorted(names)}


def member_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getnames()


class MigrationEvidenceProvider(ResourceProvider):
    @timed
    def create(self, props):
        """Written once: an archive already at the location (one the state forgot) is the record of the
        migration, kept as it is and adopted."""
        backup = base.ssh_host(props, "backupServer")
        identity = f"{props['backupServer']['name']}:{props['location']}"
        existing = backup.read_file(props["location"])
        if existing is not None:
            pulumi.log.info(f"the evidence archive {identity} is already there: kept as it is, not written again")
            return CreateResult(identity, {**props, **described(existing, member_names(existing))})
        members = _gather(props)
        found = leaked(members, secret_needles([*props["stackSecrets"].values(), props["privateKey"]]))
        if found:
            raise StepError(
                props["backupServer"]["name"],
                f"not writing the evidence archive: {', '.join(found)} holds a secret of the stack "
                f"(a password or the SSH key)",
                "Nothing was written. Remove it from that file on its host (or rotate the secret), then run "
                "`pulumi up` again.",
            )
        data = archive(members, time.time())
        backup.write_file(props["location"], data, mode=stat.S_IRUSR | stat.S_IWUSR)
        return CreateResult(identity, {**props, **described(data, members)})

    def diff(self, _id, olds, news):
        """Collected once, at the end of the migration; a changed location is a new archive."""
        return DiffResult(
            changes=olds.get("location") != news.get("location"),
            replaces=["location"] if olds.get("location") != news.get("location") else [],
        )

    def read(self, id_, props):
        return ReadResult(id_, props)

    def delete(self, _id, props):
        """The archive stays: it is the record of a migration that happened."""
        pulumi.log.info(f"the evidence archive {props['location']} stays on {props['backupServer']['name']}")


class MigrationEvidence(Resource, module="ovirt", name="MigrationEvidence"):
    """The migration's logs and final node states in one archive; `sha256` identifies it."""

    sha256: pulumi.Output[str]
    location: pulumi.Output[str]
    members: pulumi.Output[list]

    def __init__(
        self,
        name: str,
        *,
        sources,
        backup_server: dict,
        location: str,
        private_key,
        secrets: dict,
        opts=None,
    ):
        """`secrets`: every secret the stack sets but the SSH key (site_config.secrets), each scanned for."""
        props = {
            "sources": sources,
            "backupServer": backup_server,
            "location": location,
            "privateKey": private_key,
            "stackSecrets": secrets,
            "sha256": None,
            "size": None,
            "members": None,
            **TIMING_OUTPUTS,
        }
        super().__init__(MigrationEvidenceProvider(), name, props, base.options(opts, ["privateKey", "stackSecrets"]))
