"""engine-backup --mode=backup|verify (procedure 5), from ovirt-engine packaging/bin/engine-backup.sh.in."""

import hashlib
import io
import json
import posixpath
import re
import tarfile
import time
import zlib

from lab.commands import command
from lab.commands.ovirt import ENGINE_PACKAGE, _cfg, _lab, _not_found, _read_opts, _write
from lab.transport.shell import Unsupported
from lab.transport.vfs import FsError

# engine-backup.sh: BACKUP_PATHS (those a lab engine host can have) and the /var/lib/ovirt-engine exclusions.
BACKUP_PATHS = [
    "/etc/ovirt-engine",
    "/etc/ovirt-engine-dwh",
    "/etc/pki/ovirt-engine",
    "/etc/ovirt-engine-setup.conf.d",
    "/etc/httpd/conf.d/ovirt-engine-root-redirect.conf",
    "/etc/httpd/conf.d/ssl.conf",
    "/etc/httpd/conf.d/z-ovirt-engine-proxy.conf",
    "/etc/yum/pluginconf.d/versionlock.list",
    "/etc/dnf/plugins/versionlock.list",
    "/etc/firewalld/services/ovirt-https.xml",
    "/etc/firewalld/services/ovirt-http.xml",
    "/etc/firewalld/services/ovirt-postgres.xml",
]
VAR_LIB_EXCLUSIONS = ["/var/lib/ovirt-engine/backups", "/var/lib/ovirt-engine/jboss_runtime"]
DB_DUMP_MARK = "-- lab-engine-database: "


_BACKUP_VALUES = {
    "--mode",
    "--scope",
    "--file",
    "--log",
    "--archive-compressor",
    "--files-compressor",
    "--db-compressor",
    "--db-dump-format",
    "--dwh-db-compressor",
    "--dwh-db-dump-format",
}
_BACKUP_FLAGS = {"--fast-restore", "--small-size", "--fast-backup", "--help"}
_COMPRESSORS = {"gzip": "gz", "bzip2": "bz2", "xz": "xz", "None": ""}


def _entities(state):
    return {k: v for k, v in state.items() if k != "events"}


class _Die(Exception):
    pass


class _BackupRun:
    """One engine-backup run: output() to stdout and the log, log() to the log only."""

    def __init__(self, ctx, log_path):
        self.ctx, self.log_path, self.lines = ctx, log_path, []
        self.pid = 1000 + int(time.time() * 1000) % 30000  # the script's $$

    def log(self, message):
        self.lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {self.pid}: {message}\n")

    def output(self, message):
        self.log(f"OUTPUT: {message}")
        self.ctx.print(message)

    def die(self, message):
        self.log(f"FATAL: {message}")
        raise _Die(message)

    def flush(self):
        if self.log_path:
            try:
                _write(self.ctx, self.log_path, "".join(self.lines), append=True)
            except FsError as exc:
                self.ctx.error(f"/usr/bin/engine-backup: line 1: {self.log_path}: {exc.strerror}")
        self.lines = []


def _tar_bytes(members, compression):
    """A tar archive of (name, bytes or None for a directory, mode, uid, gid, mtime) members."""
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode=f"w:{compression}" if compression else "w", format=tarfile.GNU_FORMAT
    ) as tar:
        for name, data, mode, uid, gid, mtime in members:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.mtime = mode, uid, gid, int(mtime)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _files_members(fs):
    """engine-backup's backupFiles: BACKUP_PATHS plus /var/lib/ovirt-engine/* minus exclusions."""
    roots = list(BACKUP_PATHS)
    if fs.exists("/var/lib/ovirt-engine"):
        roots += [
            posixpath.join("/var/lib/ovirt-engine", n)
            for n in sorted(fs.listdir("/var/lib/ovirt-engine"))
            if posixpath.join("/var/lib/ovirt-engine", n) not in VAR_LIB_EXCLUSIONS
        ]
    members = []
    for root in roots:
        if not fs.exists(root):
            continue
        for path in [root] + sorted(p for p in fs.walk(root) if p != root):
            node = fs.get(path)
            members.append(
                (path.lstrip("/"), None if node.is_dir else node.data, node.mode, node.uid, node.gid, node.mtime)
            )
    return members


@command("engine-backup")
def engine_backup(ctx):
    """engine-backup --mode=backup|verify --file=F --log=L [--scope=...] (engine-backup.sh)."""
    if ENGINE_PACKAGE not in ctx.host.packages:
        return _not_found(ctx)
    values, flags, unknown = _read_opts(ctx.args, _BACKUP_FLAGS, _BACKUP_VALUES)
    if "--help" in flags:
        ctx.print("engine-backup: back up and restore ovirt-engine environment")
        return 0
    if unknown:
        ctx.print(
            "engine-backup: back up and restore ovirt-engine environment\nUSAGE:\n"
            "    /usr/bin/engine-backup [--mode=MODE] [--scope=SCOPE] [--file=FILE] [--log=FILE]"
        )
        return 1
    # parseArgs (4.3 and later): --mode defaults to backup, --file (backup only) and --log to stamped names
    stamp = time.strftime("%Y%m%d%H%M%S")
    mode = (values.get("--mode") or ["backup"])[-1]
    default_file = f"/var/lib/ovirt-engine-backup/ovirt-engine-backup-{stamp}.backup" if mode == "backup" else ""
    file_name = (values.get("--file") or [default_file])[-1]
    log_name = (values.get("--log") or [f"/var/log/ovirt-engine-backup/ovirt-engine-{mode}-{stamp}.log"])[-1]
    if mode not in ("backup", "restore", "verify"):
        ctx.error("FATAL: invalid mode")
        return 1
    if not file_name:
        ctx.error("FATAL: --file is missing")
        return 1
    if mode == "restore":
        raise Unsupported("engine-backup: --mode=restore is not implemented by the lab")
    for packaged in ("/var/lib/ovirt-engine-backup", "/var/log/ovirt-engine-backup"):  # the rpm's directories
        ctx.fs.mkdir(packaged, 0o700, parents=True)
    scopes = values.get("--scope") or ["all"]
    for scope in scopes:
        if scope not in ("all", "files", "db", "dwhdb", "cinderlibdb", "grafanadb", "keycloakdb"):
            ctx.error(f"FATAL: invalid scope {scope}")
            return 1
    file_path, log_path = ctx.path(file_name), ctx.path(log_name)
    if mode == "verify" and not ctx.fs.exists(file_path):
        ctx.error(f"FATAL: {file_name} does not exist")
        return 1
    run = _BackupRun(ctx, log_path)
    run.log(f"Start of engine-backup mode {mode} scope {' '.join(scopes)} file {file_name}")
    try:
        if mode == "backup":
            _do_backup(ctx, run, scopes, values, flags, file_path, file_name)
        else:
            _do_verify(ctx, run, file_path, file_name)
        run.output("Done.")
    except _Die as exc:
        ctx.error(f"FATAL: {exc}")
        run.flush()
        return 1
    run.flush()
    return 0


def _compressor(values, flags, option, default):
    name = default
    if "--small-size" in flags:
        name = "xz"
    if values.get(option):
        name = values[option][-1]
    if name not in _COMPRESSORS:
        raise Unsupported(f"engine-backup: {option}={name} not implemented")
    return _COMPRESSORS[name]


def _do_backup(ctx, run, scopes, values, flags, file_path, file_name):
    lab, cfg = _lab(ctx), _cfg(ctx)
    every = "all" in scopes
    archive_c = _compressor(values, flags, "--archive-compressor", "gzip")
    files_c = _compressor(values, flags, "--files-compressor", "xz")
    dump_format = (values.get("--db-dump-format") or ["plain" if "--small-size" in flags else "custom"])[-1]
    run.output("Start of engine-backup with mode 'backup'")
    run.output(f"scope: {','.join(scopes)}")
    run.output(f"archive file: {file_name}")
    run.output(f"log file: {run.log_path}")
    run.output("Backing up:")
    run.output("Notifying engine")
    ctx.flush()
    ctx.sleep(float(cfg.get("backup_seconds") or 0))  # the dumps take the site's time, the Engine's host not held
    snapshot = lab.engines.snapshot()
    version = snapshot["engine"]["version"]
    now = time.time()
    members = {}
    if every or "files" in scopes:
        run.output("- Files")
        run.log("Backing up files to /tmp/engine-backup.lab/tar/files")
        members["files"] = _tar_bytes(_files_members(ctx.fs), files_c)
    if every or "db" in scopes:
        run.output("- Engine database 'engine'")
        run.log("Backing up database to /tmp/engine-backup.lab/tar/db/engine_backup.db")
        run.log(
            "pg_cmd running: pg_dump -w -U engine -h localhost -p 5432 engine -E UTF8 "
            f"--disable-dollar-quoting --disable-triggers --format={dump_format}"
        )
        members["db/engine_backup.db"] = (
            "--\n-- PostgreSQL database dump (lab: the Engine's entities as one JSON document)\n--\n"
            f"{DB_DUMP_MARK}{json.dumps(_entities(snapshot), sort_keys=True)}\n"
        ).encode()
    members.update(_other_databases(ctx, run, scopes))
    members["version"] = f"{version}\n".encode()
    members["os_version"] = f"{cfg['os_version']}\n".encode()
    members["config"] = "".join(
        f"{prefix}DB_DUMP_{key}={'' if key == 'COMPRESSOR' else dump_format}\n"
        for prefix in config_prefixes(version)
        for key in ("COMPRESSOR", "FORMAT")
    ).encode()
    run.log("Creating sha256sum at /tmp/engine-backup.lab/tar/sha256sum")
    members["sha256sum"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items())
    ).encode()
    run.output(f"Packing into file '{file_name}'")
    run.log(f"Creating tarball {file_name}")
    entries = [(".", None, 0o700, 0, 0, now), ("./db", None, 0o755, 0, 0, now)]
    entries += [(f"./{name}", data, 0o644, 0, 0, now) for name, data in sorted(members.items())]
    archive = _tar_bytes(entries, archive_c)
    try:
        _write(ctx, file_path, archive)
    except FsError as exc:
        ctx.print(
            f"tar (child): {file_name}: Cannot open: {exc.strerror}\ntar (child): Error is not recoverable: exiting now"
        )
        run.die(f"Cannot create '{file_name}'")
    run.output("Notifying engine")


SETUP_CONF = "/etc/ovirt-engine-setup.conf"
# dobackup's other databases: (scope, the setup key of engine_setup_service_enabled, the *_DB_ prefix, the file
# engine-setup wrote its credentials to, what `output` calls it, the dump's name in the archive)
DATABASES = (
    (
        "dwhdb",
        "OVESETUP_DWH_CORE/enable",
        "DWH",
        "/etc/ovirt-engine-dwh/ovirt-engine-dwhd.conf.d/10-setup-database.conf",
        "DWH",
        "dwh_backup.db",
    ),
    (
        "cinderlibdb",
        "OVESETUP_CL_DB/enable",
        "CINDERLIB",
        "/etc/ovirt-engine/engine.conf.d/10-setup-cinderlib-database.conf",
        "CINDERLIB",
        "cinderlib_backup.db",
    ),
    (
        "keycloakdb",
        "OVESETUP_CONFIG/keycloakEnable",
        "KEYCLOAK",
        "/etc/ovirt-engine/engine.conf.d/12-setup-keycloak.conf",
        "KEYCLOAK",
        "keycloak_backup.db",
    ),
)
GRAFANA_DB = "/var/lib/grafana/grafana.db"  # GRAFANA_DB_FILENAME


def _setup_enabled(ctx, key):
    """engine_setup_service_enabled: `otopi-config-query match --key KEY --value bool:True` over engine-setup's
    configuration, /etc/ovirt-engine-setup.conf and its .conf.d/*.conf in order (otopi's config reader)."""
    drop_ins = SETUP_CONF + ".d"
    paths = [SETUP_CONF]
    if ctx.fs.exists(drop_ins) and ctx.fs.get(drop_ins).is_dir:
        paths += [posixpath.join(drop_ins, n) for n in sorted(ctx.fs.listdir(drop_ins)) if n.endswith(".conf")]
    value = None
    for path in paths:
        if ctx.fs.exists(path) and not ctx.fs.get(path).is_dir:
            for line in ctx.fs.read(path).decode(errors="replace").splitlines():
                name, eq, text = line.strip().partition("=")
                if eq and name == key:
                    value = text.strip()
    return value == "bool:True"


def _shell_values(ctx, path):
    """The KEY="value" lines of an engine-setup credentials file (sourced by engine-backup)."""
    if not ctx.fs.exists(path) or ctx.fs.get(path).is_dir:
        return {}
    found = re.findall(r'^\s*([A-Z_]+)="?([^"\n]*)"?\s*$', ctx.fs.read(path).decode(errors="replace"), re.M)
    return dict(found)


def _other_databases(ctx, run, scopes):
    """dobackup after the engine database: each other database whose service is enabled and whose *_DB_USER is
    set, in its scope, then Grafana's SQLite file (backupSQLiteDB); each `output` as engine-backup prints it."""
    every, members = "all" in scopes, {}
    for scope, key, prefix, conf, label, dump in DATABASES:
        values = _shell_values(ctx, conf)
        if (every or scope in scopes) and _setup_enabled(ctx, key) and values.get(f"{prefix}_DB_USER"):
            database = values.get(f"{prefix}_DB_DATABASE", "")
            run.output(f"- {label} database '{database}'")
            members[f"db/{dump}"] = f"--\n-- PostgreSQL database dump (lab: {database})\n--\n".encode()
    if (every or "grafanadb" in scopes) and _setup_enabled(ctx, "OVESETUP_GRAFANA_CORE/enable"):
        run.output(f"- Grafana database '{GRAFANA_DB}'")
        exists = ctx.fs.exists(GRAFANA_DB) and not ctx.fs.get(GRAFANA_DB).is_dir
        members["db/grafana.db"] = ctx.fs.read(GRAFANA_DB) if exists else b""  # sqlite3 makes an empty one
    return members


def read_backup(data):
    """Open an engine-backup archive: {member name without './': bytes}; raises ValueError."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            return {
                m.name[2:] if m.name.startswith("./") else m.name: tar.extractfile(m).read()
                for m in tar.getmembers()
                if m.isfile()
            }
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ValueError(str(exc)) from None


def config_prefixes(version):
    """dump_config_for_restore: the databases whose dump settings `./config` holds (keycloak from 4.5.1)."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", str(version)))
    return ("", "DWH_") + (("KEYCLOAK_",) if numbers >= (4, 5, 1) else ()) + ("CINDERLIB_",)


HASHERS = (("sha256sum", hashlib.sha256), ("md5sum", hashlib.md5))  # AVAILABLE_HASHERS; sha256sum since 4.4.0


def verify_backup(members):
    """The archive's checksums, as restore and verify check them (the first hash file of AVAILABLE_HASHERS
    the archive has); returns an error message or None."""
    found = next(((name, hasher) for name, hasher in HASHERS if name in members), None)
    if found is None:
        return "No supported hash file found"
    name, hasher = found
    for line in members[name].decode().splitlines():
        digest, _, member = line.partition("  ")
        if member not in members or hasher(members[member]).hexdigest() != digest:
            return "Checksum verification failed"
    return None


def backup_entities(members):
    text = members.get("db/engine_backup.db", b"").decode()
    for line in text.splitlines():
        if line.startswith(DB_DUMP_MARK):
            return json.loads(line[len(DB_DUMP_MARK) :])
    return None


def _do_verify(ctx, run, file_path, file_name):
    run.output("Start of engine-backup with mode 'verify'")
    run.output(f"archive file: {file_name}")
    run.output(f"log file: {run.log_path}")
    run.output(f"Verifying {file_name}")
    run.log(f"Opening tarball {file_name} to /tmp/engine-backup.lab")
    try:
        members = read_backup(ctx.fs.read(file_path))
    except (ValueError, FsError):
        ctx.print(f"tar: {file_name}: This does not look like a tar archive")
        run.die(f"cannot open {file_name}")
    run.log("Verifying hash")
    error = verify_backup(members)
    if error:
        run.die(error)
