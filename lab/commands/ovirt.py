"""oVirt tools: engine-upgrade-check, engine-setup, engine-backup, hosted-engine,
yum/dnf (update, install, repolist, module), nodectl and getent hosts.

Formats and exit codes follow the upstream sources listed in lab/README.md
("oVirt commands").  State lives in Host.ovirt (saved with the host) and in
the Engine APIs run by lab.ovirt_site.EngineServices.
"""
import fnmatch
import hashlib
import io
import json
import posixpath
import re
import tarfile
import time
import zlib

from lab.commands import command
from lab.commands.accounts import getent_database
from lab.ovirt_site import settings
from lab.shell import Unsupported
from lab.vfs import FsError

ENGINE_PACKAGE = "ovirt-engine-setup"
HE_PACKAGE = "ovirt-hosted-engine-setup"
HE_CONF = "/etc/ovirt-hosted-engine/hosted-engine.conf"
SETUP_PACKAGES = ["ovirt-engine-setup", "ovirt-engine-setup-base", "ovirt-engine-setup-plugin-ovirt-engine",
                  "ovirt-engine-setup-plugin-ovirt-engine-common", "ovirt-engine-setup-plugin-websocket-proxy"]
# engine-backup.sh: BACKUP_PATHS (those a lab engine host can have) and the /var/lib/ovirt-engine exclusions.
BACKUP_PATHS = ["/etc/ovirt-engine", "/etc/ovirt-engine-dwh", "/etc/pki/ovirt-engine",
                "/etc/ovirt-engine-setup.conf.d", "/etc/httpd/conf.d/ovirt-engine-root-redirect.conf",
                "/etc/httpd/conf.d/ssl.conf", "/etc/httpd/conf.d/z-ovirt-engine-proxy.conf",
                "/etc/yum/pluginconf.d/versionlock.list", "/etc/dnf/plugins/versionlock.list",
                "/etc/firewalld/services/ovirt-https.xml", "/etc/firewalld/services/ovirt-http.xml",
                "/etc/firewalld/services/ovirt-postgres.xml"]
VAR_LIB_EXCLUSIONS = ["/var/lib/ovirt-engine/backups", "/var/lib/ovirt-engine/jboss_runtime"]
DB_DUMP_MARK = "-- lab-engine-database: "


def _not_found(ctx):
    ctx.error(f"bash: {ctx.name}: command not found")
    return 127


def _lab(ctx):
    lab = getattr(ctx.host, "lab", None)
    if lab is None or lab.engines is None:
        raise Unsupported(f"{ctx.name}: needs a running lab (lab serve)")
    return lab


def _cfg(ctx):
    return settings(_lab(ctx).site)


def _state(ctx):
    """The host's oVirt state, initialised from the site file on first use."""
    state = ctx.host.ovirt
    if "update_pending" not in state:
        pending = ctx.host.spec.extra.get("update_pending")
        if pending is None:
            pending = _cfg(ctx)["update_pending"] if ctx.host.spec.role == "original-engine" else {}
        state["update_pending"] = {k: bool(pending.get(k, False)) for k in ("setup", "engine", "os")}
        state.setdefault("modules", {})
        state.setdefault("he", {})
    return state


def _now():
    return time.strftime("%Y%m%d%H%M%S", time.gmtime())


def _write(ctx, path, data, append=False):
    """Write a file, creating nothing but the file itself (like a shell redirection)."""
    ctx.fs.write(path, data if isinstance(data, bytes) else data.encode(), append=append)


def _read_opts(args, known_flags, known_values):
    """--name=value / --flag parsing as the upstream shell scripts do; returns (values, flags, unknown)."""
    values, flags, unknown = {}, set(), []
    for arg in args:
        name, eq, value = arg.partition("=")
        if eq and name in known_values:
            values.setdefault(name, []).append(value)
        elif not eq and arg in known_flags:
            flags.add(arg)
        else:
            unknown.append(arg)
    return values, flags, unknown


def parse_answer_file(text):
    """otopi answer file: [environment:default|init|override|enforce] sections of KEY=type:value."""
    answers, section = {}, None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section is None or not section.startswith("environment:"):
            continue
        key, eq, typed = line.partition("=")
        vtype, colon, value = typed.partition(":")
        if not eq or not colon:
            raise ValueError(f"line {number}: not KEY=type:value: {raw}")
        if vtype == "str":
            parsed = value
        elif vtype == "int":
            parsed = int(value)
        elif vtype == "bool":  # otopi common.parseTypedValue: only these are False
            parsed = value not in ("f", "F", "false", "False")
        elif vtype == "none":
            parsed = None
        elif vtype == "multi-str":
            parsed = value.splitlines()
        else:
            raise ValueError(f"line {number}: unknown type {vtype!r}")
        answers[key.strip()] = parsed
    return answers


# --- engine-upgrade-check / engine-setup ---------------------------------

@command("engine-upgrade-check")
def engine_upgrade_check(ctx):
    """ovirt-engine-upgrade-check: 0 'Upgrade available', 1 'No upgrade', 2 error."""
    if ENGINE_PACKAGE not in ctx.host.packages:
        return _not_found(ctx)
    quiet = False
    for arg in ctx.args:
        if arg in ("-q", "--quiet"):
            quiet = True
        else:
            ctx.error("Usage: engine-upgrade-check [options]\n\n"
                      f"engine-upgrade-check: error: no such option: {arg}")
            return 2
    pending = _state(ctx)["update_pending"]["setup"]
    version = _lab(ctx).engines.original.site.engine["version"]
    if not quiet:
        ctx.print(f"VERB: queue package {ENGINE_PACKAGE} for update")
        ctx.print(f"VERB: package {ENGINE_PACKAGE} queued")
        ctx.print("VERB: Building transaction")
        if pending:
            ctx.print("VERB: Transaction built")
            ctx.print("VERB: Transaction Summary:")
            for pkg in SETUP_PACKAGES[:2]:
                ctx.print(f"VERB:     updated    - {pkg}-{version}-1.el8.noarch")
                ctx.print(f"VERB:     update     - {pkg}-{version}-2.el8.noarch")
            ctx.print("Upgrade available")
        else:
            ctx.print("VERB: Empty transaction")
            ctx.print("VERB: Transaction Summary:")
            ctx.print("No upgrade")
    return 0 if pending else 1


def _otopi_fail(ctx, stage, message, product="setup"):
    ctx.print(f"[ ERROR ] Failed to execute stage '{stage}': {message}")
    for step in ("Clean up", "Pre-termination", "Termination"):
        ctx.print(f"[ INFO  ] Stage: {step}")
    if product == "setup":
        ctx.print("[ ERROR ] Execution of setup failed")
    else:
        ctx.print("[ ERROR ] Hosted Engine deployment failed: this system is not reliable, "
                  "please check the issue,fix and redeploy")
    return 1


def _load_answers(ctx, files):
    answers = {}
    for name in files:
        try:
            answers.update(parse_answer_file(ctx.fs.read(ctx.path(name)).decode()))
        except FsError:
            raise _AnswerError(f"Configuration file '{name}' not found") from None
        except ValueError as exc:
            raise _AnswerError(f"Cannot parse configuration file '{name}': {exc}") from None
    return answers


class _AnswerError(Exception):
    pass


ENGINE_SERVICES = (("ovirt-engine", "engine"), ("ovirt-engine-dwhd", "dwh"))


def _engine_services(ctx, action, units):
    """engine-setup stops the Engine's services before its work and starts them after, announcing each."""
    for unit, text in units:
        if unit in ctx.host.services:
            ctx.print(f"[ INFO  ] {'Stopping' if action == 'stop' else 'Starting'} {text} service")
            ctx.host.service_event(unit, action)


@command("engine-setup")
def engine_setup(ctx):
    """engine-setup --accept-defaults | --config-append=FILE: applies a pending Engine update."""
    if ENGINE_PACKAGE not in ctx.host.packages:
        return _not_found(ctx)
    values, flags, unknown = _read_opts(ctx.args, {"--accept-defaults", "--offline"},
                                        {"--config-append", "--log"})
    if unknown:
        raise Unsupported(f"engine-setup: options not implemented: {' '.join(unknown)}")
    state, stamp = _state(ctx), _now()
    log = f"/var/log/ovirt-engine/setup/ovirt-engine-setup-{stamp}-lab.log"
    ctx.print("[ INFO  ] Stage: Initializing")
    ctx.print("[ INFO  ] Stage: Environment setup")
    ctx.print("          Configuration files: /etc/ovirt-engine-setup.conf.d/10-packaging-jboss.conf, "
              "/etc/ovirt-engine-setup.conf.d/10-packaging.conf, "
              "/etc/ovirt-engine-setup.conf.d/20-setup-ovirt-post.conf")
    ctx.print(f"          Log file: {log}")
    ctx.print("          Version: otopi-1.10.3 (otopi-1.10.3-1.el8)")
    try:
        _load_answers(ctx, values.get("--config-append", []))
    except _AnswerError as exc:
        return _otopi_fail(ctx, "Environment setup", exc)
    ctx.print("[ INFO  ] Stage: Environment packages setup")
    ctx.print("[ INFO  ] Stage: Programs detection")
    ctx.print("[ INFO  ] Stage: Environment customization")
    if not flags & {"--accept-defaults"} and not values.get("--config-append"):
        # Interactive: the first question finds stdin closed.
        ctx.print("          --== PRODUCT OPTIONS ==--")
        ctx.print("          Perform full vacuum on the oVirt engine history")
        ctx.print("          database ovirt_engine_history?")
        ctx.print("          This operation may take a while depending on this setup health and the")
        ctx.print("          configuration of the db vacuum process.")
        ctx.print("          See https://www.postgresql.org/docs/12/sql-vacuum.html")
        ctx.print("          (Yes, No) [No]: ")
        return _otopi_fail(ctx, "Environment customization", "End of file")
    if state["update_pending"]["setup"]:
        return _otopi_fail(ctx, "Environment customization",
                           "Setup packages are outdated; please update them first: yum update ovirt\\*setup\\*")
    ctx.print("[ INFO  ] Checking for product updates...")
    update = state["update_pending"]["engine"]
    ctx.print("[ INFO  ] Product updates found" if update else "[ INFO  ] No product updates found")
    ctx.print("[ INFO  ] Stage: Setup validation")
    ctx.print("[ INFO  ] Stage: Transaction setup")
    _engine_services(ctx, "stop", ENGINE_SERVICES)
    ctx.print("[ INFO  ] Stage: Misc configuration (early)")
    ctx.print("[ INFO  ] Stage: Package installation")
    ctx.print("[ INFO  ] Stage: Misc configuration")
    dump = f"/var/lib/ovirt-engine/backups/engine-{stamp}.lab.dump"
    ctx.print(f"[ INFO  ] Backing up database localhost:engine to '{dump}'.")
    ctx.print("[ INFO  ] Updating Engine database schema")
    ctx.print("[ INFO  ] Stage: Transaction commit")
    ctx.print("[ INFO  ] Stage: Closing up")
    ctx.print("          --== SUMMARY ==--")
    ctx.print("          --== END OF SUMMARY ==--")
    _engine_services(ctx, "start", reversed(ENGINE_SERVICES))
    if "httpd" in ctx.host.services:
        ctx.print("[ INFO  ] Restarting httpd")
        ctx.host.service_event("httpd", "restart")
    ctx.print("[ INFO  ] Stage: Clean up")
    ctx.print(f"          Log file is located at {log}")
    answers = f"/var/lib/ovirt-engine/setup/answers/{stamp}-setup.conf"
    ctx.print(f"[ INFO  ] Generating answer file '{answers}'")
    ctx.print("[ INFO  ] Stage: Pre-termination")
    ctx.print("[ INFO  ] Stage: Termination")
    ctx.print("[ INFO  ] Execution of setup completed successfully")
    for directory in ("/var/log/ovirt-engine/setup", "/var/lib/ovirt-engine/setup/answers",
                      "/var/lib/ovirt-engine/backups"):
        ctx.fs.mkdir(directory, parents=True)
    _write(ctx, log, "".join(f"{time.strftime('%Y-%m-%d %H:%M:%S')} INFO {line}\n"
                             for line in ctx.out.decode().splitlines()))
    _write(ctx, answers, "# OTOPI answer file, generated by the lab's engine-setup\n"
                         "[environment:default]\nOVESETUP_CORE/engineStop=none:None\n")
    _write(ctx, dump, DB_DUMP_MARK + json.dumps(_entities(_lab(ctx).engines.snapshot())) + "\n")
    state["update_pending"]["engine"] = False
    return 0


# --- engine-backup -------------------------------------------------------

_BACKUP_VALUES = {"--mode", "--scope", "--file", "--log", "--archive-compressor", "--files-compressor",
                  "--db-compressor", "--db-dump-format", "--dwh-db-compressor", "--dwh-db-dump-format"}
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
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}" if compression else "w",
                      format=tarfile.GNU_FORMAT) as tar:
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
        roots += [posixpath.join("/var/lib/ovirt-engine", n) for n in sorted(fs.listdir("/var/lib/ovirt-engine"))
                  if posixpath.join("/var/lib/ovirt-engine", n) not in VAR_LIB_EXCLUSIONS]
    members = []
    for root in roots:
        if not fs.exists(root):
            continue
        for path in [root] + sorted(p for p in fs.walk(root) if p != root):
            node = fs.get(path)
            members.append((path.lstrip("/"), None if node.is_dir else node.data,
                            node.mode, node.uid, node.gid, node.mtime))
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
        ctx.print("engine-backup: back up and restore ovirt-engine environment\nUSAGE:\n"
                  "    /usr/bin/engine-backup [--mode=MODE] [--scope=SCOPE] [--file=FILE] [--log=FILE]")
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
        run.log("pg_cmd running: pg_dump -w -U engine -h localhost -p 5432 engine -E UTF8 "
                f"--disable-dollar-quoting --disable-triggers --format={dump_format}")
        members["db/engine_backup.db"] = (
            "--\n-- PostgreSQL database dump (lab: the Engine's entities as one JSON document)\n--\n"
            f"{DB_DUMP_MARK}{json.dumps(_entities(snapshot), sort_keys=True)}\n").encode()
    if (every or "dwhdb" in scopes) and "ovirt-engine-dwhd" in ctx.host.services:
        run.output("- DWH database 'ovirt_engine_history'")
        members["db/dwh_backup.db"] = b"--\n-- PostgreSQL database dump (lab: ovirt_engine_history)\n--\n"
    members["version"] = f"{version}\n".encode()
    members["os_version"] = f"{cfg['os_version']}\n".encode()
    members["config"] = "".join(f"{prefix}DB_DUMP_{key}={'' if key == 'COMPRESSOR' else dump_format}\n"
                                for prefix in config_prefixes(version) for key in ("COMPRESSOR", "FORMAT")).encode()
    run.log("Creating sha256sum at /tmp/engine-backup.lab/tar/sha256sum")
    members["sha256sum"] = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                                   for name, data in sorted(members.items())).encode()
    run.output(f"Packing into file '{file_name}'")
    run.log(f"Creating tarball {file_name}")
    entries = [(".", None, 0o700, 0, 0, now), ("./db", None, 0o755, 0, 0, now)]
    entries += [(f"./{name}", data, 0o644, 0, 0, now) for name, data in sorted(members.items())]
    archive = _tar_bytes(entries, archive_c)
    try:
        _write(ctx, file_path, archive)
    except FsError as exc:
        ctx.print(f"tar (child): {file_name}: Cannot open: {exc.strerror}\n"
                  "tar (child): Error is not recoverable: exiting now")
        run.die(f"Cannot create '{file_name}'")
    run.output("Notifying engine")


def read_backup(data):
    """Open an engine-backup archive: {member name without './': bytes}; raises ValueError."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            return {m.name[2:] if m.name.startswith("./") else m.name: tar.extractfile(m).read()
                    for m in tar.getmembers() if m.isfile()}
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
            return json.loads(line[len(DB_DUMP_MARK):])
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


# --- yum / dnf -----------------------------------------------------------

def he_installed(host):
    """ovirt-hosted-engine-setup is installed: listed, or pulled in by ovirt-host on a vdsm host
    (ovirt-host.spec: `Requires: ovirt-hosted-engine-setup` on x86_64)."""
    return HE_PACKAGE in host.packages or "vdsm" in host.packages


def _dnf_header(ctx):
    ctx.print(f"Last metadata expiration check: 0:07:12 ago on {time.strftime('%a %d %b %Y %H:%M:%S %Z')}.")


@command("yum", "dnf")
def dnf(ctx):
    args = list(ctx.args)
    assume_yes = False
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-y", "--assumeyes"):
            assume_yes = True
        elif flag not in ("-q", "--quiet"):
            raise Unsupported(f"{ctx.name}: option not implemented: {flag}")
    rest = [a for a in args if a not in ("-y", "--assumeyes")]
    assume_yes = assume_yes or len(rest) != len(args)
    if not rest:
        ctx.error(f"{ctx.name}: error: the following arguments are required: command")
        return 1
    verb, operands = rest[0], rest[1:]
    if verb in ("update", "upgrade"):
        return _dnf_update(ctx, operands)
    if verb == "install":
        return _dnf_install(ctx, operands)
    if verb == "repolist":
        return _dnf_repolist(ctx, operands)
    if verb == "module":
        return _dnf_module(ctx, operands, assume_yes)
    raise Unsupported(f"{ctx.name}: command not implemented: {verb}")


@command("rpm")
def rpm(ctx):
    """`rpm -q NAME...`: NAME-VERSION-RELEASE per installed package, and an exit status counting the missing."""
    if not ctx.args or ctx.args[0] not in ("-q", "--query"):
        raise Unsupported("rpm is implemented as: rpm -q NAME...")
    installed = _installed_names(ctx) | ({HE_PACKAGE} if he_installed(ctx.host) else set())
    missing = 0
    for name in ctx.args[1:]:
        if name in installed:
            ctx.print(_package_nvr(ctx, name))
        else:
            ctx.print(f"package {name} is not installed")
            missing += 1
    return min(missing, 255)


def _package_nvr(ctx, name):
    """NAME-VERSION-RELEASE.ARCH: the appliance rpm (up to 4.5.5) is versioned by X.Y and a build date
    (ovirt-appliance `engine-appliance/data/ovirt-engine-appliance.spec.in`), the rest by the Engine's."""
    if name == "ovirt-engine-appliance":
        major_minor = ".".join(re.findall(r"\d+", str(_cfg(ctx)["appliance_engine_version"]))[:2])
        return f"ovirt-engine-appliance-{major_minor}-20240101000000.1.el8.x86_64"
    return f"{name}-{_lab(ctx).engines.original.site.engine['version']}-1.el8.noarch"


def _installed_names(ctx):
    names = set(ctx.host.packages)
    if ENGINE_PACKAGE in names:
        names.update(SETUP_PACKAGES)
    return names


def _dnf_update(ctx, patterns):
    state, installed = _state(ctx), _installed_names(ctx)
    pending = state["update_pending"]
    unmatched = [p for p in patterns if not fnmatch.filter(installed, p)]
    if unmatched:
        for p in unmatched:
            ctx.print(f"No match for argument: {p}")
        if len(unmatched) == len(patterns):
            ctx.error("Error: No packages marked for upgrade.")
            return 1
    matched = {n for p in patterns for n in fnmatch.filter(installed, p)} if patterns else installed
    version = _lab(ctx).engines.original.site.engine["version"]
    upgrades = []
    if pending["setup"] and matched & set(SETUP_PACKAGES):
        upgrades += [f"{n}-{version}-2.el8.noarch" for n in sorted(matched & set(SETUP_PACKAGES))]
    if pending["os"] and not patterns:
        upgrades += ["kernel-4.18.0-553.el8.x86_64", "systemd-239-82.el8.x86_64"]
    _dnf_header(ctx)
    ctx.print("Dependencies resolved.")
    if not upgrades:
        ctx.print("Nothing to do.")
        ctx.print("Complete!")
        return 0
    ctx.print("Upgraded:")
    for name in upgrades:
        ctx.print(f"  {name}")
    ctx.print("")
    ctx.print("Complete!")
    if matched & set(SETUP_PACKAGES):
        pending["setup"] = False
    if not patterns:
        pending["os"] = False
    return 0


def _dnf_install(ctx, names):
    if not names:
        ctx.error("Error: Need to pass a list of pkgs to install")
        return 1
    new = [n for n in names if n not in ctx.host.packages]
    _dnf_header(ctx)
    for n in names:
        if n not in new:
            ctx.print(f"Package {n} is already installed.")
    ctx.print("Dependencies resolved.")
    if not new:
        ctx.print("Nothing to do.")
    else:
        ctx.print("Installed:")
        for n in new:
            ctx.print(f"  {n}")
            ctx.host.packages.append(n)
        ctx.print("")
    ctx.print("Complete!")
    return 0


def _repos(ctx):
    repos = ctx.host.spec.extra.get("repos")
    return _cfg(ctx)["repos"] if repos is None else repos


def _dnf_repolist(ctx, operands):
    if operands and operands != ["enabled"]:
        raise Unsupported(f"{ctx.name} repolist: arguments not implemented: {' '.join(operands)}")
    repos = _repos(ctx)
    if not repos:
        ctx.error("No repositories available")
        return 0
    width = max(len("repo id"), *(len(r["id"]) for r in repos)) + 1
    ctx.print(f"{'repo id':{width}} repo name")
    for r in repos:
        ctx.print(f"{r['id']:{width}} {r['name']}")
    return 0


def _dnf_module(ctx, operands, assume_yes):
    if not operands:
        ctx.error("Error: No module subcommand given")
        return 1
    sub, specs = operands[0], [o for o in operands[1:] if o not in ("-y", "--assumeyes")]
    assume_yes = assume_yes or len(specs) != len(operands) - 1
    available = _cfg(ctx)["modules"]
    enabled = _state(ctx)["modules"]
    if sub == "list":
        if specs not in ([], ["--enabled"]):
            raise Unsupported("dnf module list is implemented as: dnf module list [--enabled]")
        rows = sorted(enabled.items()) if specs else [(n, str(st)) for n, streams in sorted(available.items())
                                                     for st in streams]
        if not rows:
            ctx.error("Error: No matching Modules to list")
            return 1
        _dnf_header(ctx)
        ctx.print(f"{'Name':20}{'Stream':14}{'Profiles':12}Summary")
        for name, stream in rows:
            mark = " [e]" if enabled.get(name) == stream else ""
            ctx.print(f"{name:20}{stream + mark:14}{'common':12}{name}")
        ctx.print("")
        ctx.print("Hint: [d]efault, [e]nabled, [x]disabled, [i]nstalled")
        return 0
    if sub != "enable":
        raise Unsupported(f"dnf module {sub} is not implemented")
    if not specs:
        ctx.error("Error: dnf module enable: too few arguments")
        return 1
    wanted, missing = {}, []
    for spec in specs:
        name, _, stream = spec.partition(":")
        streams = [str(s) for s in available.get(name, [])]
        if not streams or (stream and stream not in streams):
            missing.append(spec)
        else:
            wanted[name] = stream or streams[0]
    _dnf_header(ctx)
    if missing:
        ctx.error("Error: Problems in request:\nmissing groups or modules: " + ", ".join(missing))
        return 1
    conflicts = [n for n, s in wanted.items() if enabled.get(n, s) != s]
    if conflicts:
        name = conflicts[0]
        ctx.error(f"The operation would result in switching of module '{name}' stream '{enabled[name]}' "
                  f"to stream '{wanted[name]}'\nError: It is not possible to switch enabled streams of a module "
                  "unless explicitly enabled via configuration option module_stream_switch.")
        return 1
    ctx.print("Dependencies resolved.")
    todo = {n: s for n, s in wanted.items() if n not in enabled}
    if not todo:
        ctx.print("Nothing to do.")
        ctx.print("Complete!")
        return 0
    ctx.print("=" * 80)
    ctx.print(f" {'Package':18}{'Architecture':17}{'Version':21}{'Repository':18}Size")
    ctx.print("=" * 80)
    ctx.print("Enabling module streams:")
    for name, stream in todo.items():
        ctx.print(f" {name:36}{stream}")
    ctx.print("")
    ctx.print("Transaction Summary")
    ctx.print("=" * 80)
    ctx.print("")
    if not assume_yes:
        ctx.print("Is this ok [y/N]: Operation aborted.")
        return 1
    enabled.update(todo)
    ctx.print("Complete!")
    return 0


# --- nodectl / getent hosts ----------------------------------------------

@command("nodectl")
def nodectl(ctx):
    if not ctx.host.spec.extra.get("ovirt_node"):
        return _not_found(ctx)
    if ctx.args != ["check"]:
        raise Unsupported("nodectl is implemented as: nodectl check")
    vdsm = ctx.host.services.get("vdsmd", {}).get("active", False)
    checks = [("Bootloader", ["Layer boot entries", "Valid boot entries"]),
              ("Mount points", ["Separate /var", "Discard is used"]),
              ("Basic storage", ["Initialized VG", "Initialized Thin Pool", "Initialized LVs"]),
              ("Thin storage", ["Checking available space in thinpool", "Checking thinpool auto-extend"])]
    # ovirt-node-ng src/nodectl: the colours are printed whatever stdout is; a bad vdsmd makes it WARN
    state = "\x1b[32mOK\x1b[0m" if vdsm else "\x1b[33mWARN\x1b[0m"
    ctx.print(f"\x1b[1mStatus: {state}\x1b[0m")
    for name, subs in checks:
        ctx.print(f"{name} ... OK")
        for sub in subs:
            ctx.print(f"  {sub} ... OK")
    ctx.print(f"vdsmd ... {'OK' if vdsm else 'BAD'}")
    return 0  # nodectl check exits 0 healthy or not: Application.check() only prints


def dns_records(lab):
    records = [(h.fqdn, h.spec.address) for h in lab.hosts.values()]
    records += [(r["name"], r["address"]) for r in settings(lab.site)["dns"]]
    return records


@getent_database("hosts")
def getent_hosts(ctx, keys):
    """getent hosts [NAME|ADDRESS...] from the site's DNS: every host's FQDN and address, and `ovirt.dns`."""
    records = dns_records(_lab(ctx))
    if not keys:
        for name, address in records:
            ctx.print(f"{address:15} {name}")
        return 0
    status = 0
    for key in keys:
        match = [(n, a) for n, a in records if key.lower() == n.lower() or key == a]
        if not match:
            status = 2
            continue
        name, address = match[0]
        ctx.print(f"{address:15} {name}")
    return status


# --- ssh-keyscan ---------------------------------------------------------

_KEYSCAN_TYPES = {"rsa", "dsa", "ecdsa", "ed25519"}


def _ssh_target(lab, name):
    """The lab host NAME resolves to; the Engine VM takes over the Engine's FQDN after the deploy."""
    found = [h for h in lab.hosts.values() if name in (h.name, h.fqdn, h.spec.address)]
    found.sort(key=lambda h: h.spec.role != "new-engine-vm")
    return found[0] if found else None


@command("ssh-keyscan")
def ssh_keyscan(ctx):
    """ssh-keyscan [-q] [-p PORT] [-t TYPES] [-T TIMEOUT] NAME... (OpenSSH 8.0, EL8).

    Key lines `NAME TYPE BASE64` on stdout (`[NAME]:PORT` when the port is not 22, put_host_port);
    the `# NAME:PORT BANNER` comment per host on stderr unless -q; connection and lookup errors on
    stderr; the exit status is 0 (OpenSSH 8.0's main returns 0). Port 22 or the host's lab port reach
    the lab host's sshd. The lab hosts only have an ed25519 key."""
    import paramiko
    opts, names = ctx.opts("46cDHqvf:p:t:T:")
    port, types, quiet = 22, ["rsa", "ecdsa", "ed25519"], False
    for opt, value in opts:
        if opt == "-p":
            port = int(value)
        elif opt == "-t":
            types = value.split(",")
            bad = [t for t in types if t not in _KEYSCAN_TYPES and not t.startswith("ssh-")]
            if bad:
                ctx.error(f'Unknown key type "{bad[0]}"')
                return 255
        elif opt == "-q":
            quiet = True
        elif opt in ("-H", "-c", "-D", "-f", "-v"):
            raise Unsupported(f"ssh-keyscan: option not implemented: {opt}")
    if not names:
        ctx.error("usage: ssh-keyscan [-46cDHqv] [-f file] [-p port] [-T timeout] [-t type]\n"
                  "\t\t   [host | addrlist namelist]")
        return 1
    lab = _lab(ctx)
    for name in names:
        host = _ssh_target(lab, name)
        if host is None:
            ctx.error(f"getaddrinfo {name}: Name or service not known")
            continue
        if port not in (22, lab.port(host.name)):
            ctx.error(f"connect (`{name}'): Connection refused")
            continue
        if not quiet:
            ctx.error(f"# {name}:{port} SSH-2.0-paramiko_{paramiko.__version__}")
        if "ed25519" not in types and "ssh-ed25519" not in types:
            continue
        key = lab.keys[host.name]
        ctx.print(f"{name if port == 22 else f'[{name}]:{port}'} {key.get_name()} {key.get_base64()}")
    return 0
