"""Records of what happened, kept beside the backup (on the backup server; a failed deploy's on the deployment host,
beside its copy): a step that must never run twice by
accident (the address handover, the HA drill) writes one when it acts and reads it first, so a state that forgot
it (a destroy, `pulumi state delete`, a killed run) finds it again instead of doing it again."""

from __future__ import annotations

import json
import posixpath


def beside_backup(directory: str, file_name: str, what: str) -> str:
    """`<backup.directory>/<backup.fileName>.<what>`."""
    return posixpath.join(directory, f"{file_name}.{what}")


def read(server, path: str) -> dict:
    """The record at PATH on the host, {} when there is none (or it does not parse)."""
    return parse(server.read_file(path))


def parse(data: bytes | str | None) -> dict:
    try:
        found = json.loads(data or b"{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def write(server, path: str, record: dict) -> None:
    server.write_file(path, (json.dumps(record, sort_keys=True) + "\n").encode(), 0o644)
