"""Room for the backup wherever it is written, read before `ovirt-engine` stops: a full disk fails engine-backup or a
copy inside the outage window. engine-backup dumps the databases under TMPDIR (/tmp unless set: engine-backup.sh.in,
`mktemp -d -t engine-backup.XXXXXXXXXX`), then writes the archive to `--file`; the copies go to the backup server and
the deployment host. The databases' size on disk (du of PostgreSQL's data directory) bounds what the backup can need:
its dumps are pg_dump's compressed custom format by default (`--db-dump-format=custom`)."""

from __future__ import annotations

from components.preflight.facts import GIB, available_bytes, out
from providers import host_facts

PGDATA = "/var/lib/pgsql/data"  # EL8's postgresql-server: the Engine's local databases
ENGINE_TMP = "/tmp"  # engine-backup's TMPDIR when none is set


def check(site, hosts, facts, findings, password, api):
    migration = site.migration
    engine = migration.original_engine
    used = out(hosts.run(engine, *host_facts.DISK_USAGE, PGDATA))
    if used is None:
        return  # the engine machine cannot be asked: reach says so
    size = int(used.split()[0]) if used.split() and used.split()[0].isdigit() else None
    if size is None:
        findings.warnings.append(
            f"the Engine's databases' size could not be read on {engine} (`du -sb {PGDATA}`: no local PostgreSQL "
            f"data there), so the room for the backup was not checked: make sure `backup.directory` on "
            f"{migration.backup_server} and `hostedEngine.backupDirectory` on {migration.deployment_host} can hold it"
        )
        return
    places = (
        (engine, ENGINE_TMP, "engine-backup's TMPDIR, where it dumps the databases"),
        (engine, migration.backup.engine_directory, "`backup.engineDirectory`"),
        (migration.backup_server, migration.backup.directory, "`backup.directory`"),
        (migration.deployment_host, migration.hosted_engine["backupDirectory"], "`hostedEngine.backupDirectory`"),
    )
    for host, path, what in places:
        free = available_bytes(hosts, host, path)
        if free is not None and free < size:
            findings.warnings.append(
                f"{host}:{path} ({what}) has {free / GIB:.1f} GiB available, and the backup may need up to "
                f"{size / GIB:.1f} GiB (the Engine's databases on disk, {PGDATA} on {engine}): engine-backup or its "
                f"copy would fail there after ovirt-engine is stopped; free space there or choose another directory"
            )
