"""oVirt tools: engine-upgrade-check, engine-setup, engine-backup, hosted-engine,
yum/dnf (update, install, repolist, module), nodectl and getent hosts.

Formats and exit codes follow the upstream sources listed in lab/README.md
("oVirt commands").  State lives in Host.ovirt (saved with the host) and in
the Engine APIs run by lab.ovirt_site.EngineServices.
"""
import copy
import fnmatch
import hashlib
import io
import json
import posixpath
import tarfile
import time
import uuid
import zlib

from lab.commands import COMMANDS, command
from lab.engine_api.state import HE_MAX_SCORE, NO_HA_STATS, entity_id
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
        elif vtype == "bool":
            parsed = value.strip().lower() in ("true", "1", "yes")
        elif vtype == "none":
            parsed = None
        elif vtype == "multi-str":
            parsed = value.split(",") if value else []
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
    mode = (values.get("--mode") or [""])[-1]
    file_name = (values.get("--file") or [""])[-1]
    log_name = (values.get("--log") or [""])[-1]
    for ok, message in ((mode, "--mode=<backup|restore> is missing"), (file_name, "--file is missing"),
                        (log_name, "--log is missing")):
        if not ok:
            ctx.error(f"FATAL: {message}")
            return 1
    if mode not in ("backup", "verify"):
        if mode == "restore":
            raise Unsupported("engine-backup: --mode=restore is not implemented by the lab")
        ctx.error(f"FATAL: invalid mode {mode}")
        return 1
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
    members["config"] = "".join(f"{k}={v}\n" for k, v in (
        ("DB_DUMP_COMPRESSOR", ""), ("DB_DUMP_FORMAT", dump_format),
        ("DWH_DB_DUMP_COMPRESSOR", ""), ("DWH_DB_DUMP_FORMAT", dump_format))).encode()
    run.log("Creating md5sum at /tmp/engine-backup.lab/tar/md5sum")
    members["md5sum"] = "".join(f"{hashlib.md5(data).hexdigest()}  {name}\n"
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


def verify_backup(members):
    """md5sum check as engine-backup's verifymd5; returns an error message or None."""
    if "md5sum" not in members:
        return "Checksum verification failed"
    for line in members["md5sum"].decode().splitlines():
        digest, _, name = line.partition("  ")
        if name not in members or hashlib.md5(members[name]).hexdigest() != digest:
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
    run.log("Verifying md5")
    error = verify_backup(members)
    if error:
        run.die(error)


# --- hosted-engine -------------------------------------------------------

# (answer-file key, stage, prompt text as ovirt-hosted-engine-setup asks it)
HE_QUESTIONS = [
    ("OVEHOSTED_CORE/deployProceed", "Environment setup",
     "Continuing will configure this host for serving as hypervisor and will create a local VM "
     "with a running engine.\nThe provided engine backup file will be restored there,\n"
     "it's strongly recommended to run this tool on an host that wasn't part of the environment "
     "going to be restored.\nIf a reference to this host is already contained in the backup file, "
     "it will be filtered out at restore time.\nThe locally running engine will be used to configure "
     "a new storage domain and create a VM there.\nAt the end the disk of the local VM will be moved "
     "to the shared storage.\nAre you sure you want to continue? (Yes, No)[Yes]: "),
    ("OVEHOSTED_NETWORK/gateway", "Environment customization",
     "Please indicate the gateway IP address []: "),
    ("OVEHOSTED_NETWORK/bridgeIf", "Environment customization",
     "Please indicate a nic to set ovirtmgmt bridge on (eth0) [eth0]: "),
    ("OVEHOSTED_NETWORK/fqdn", "Environment customization",
     "Please provide the FQDN you would like to use for the engine.\n"
     "Note: This will be the FQDN of the engine VM you are now going to launch,\n"
     "it should not point to the base host or to any other existing machine.\n"
     "Engine VM FQDN:  []: "),
    ("OVEHOSTED_VM/cloudinitRootPwd", "Environment customization",
     "Enter root password that will be used for the engine appliance: "),
    ("OVEHOSTED_VM/vmMemSizeMB", "Environment customization",
     "Please specify the memory size of the VM in MB (Defaults to appliance OVF value): [16384]: "),
    ("OVEHOSTED_VM/vmVCpus", "Environment customization",
     "Please specify the number of virtual CPUs for the VM (Defaults to appliance OVF value): [4]: "),
    ("OVEHOSTED_ENGINE/adminPassword", "Environment customization",
     "Enter engine admin password: "),
    ("OVEHOSTED_STORAGE/domainType", "Environment customization",
     "Please specify the storage you would like to use (glusterfs, iscsi, fc, nfs)[nfs]: "),
    ("OVEHOSTED_STORAGE/storageDomainConnection", "Environment customization",
     "Please specify the full shared storage connection path to use (example: host:/path): "),
]
HE_DEFAULTS = {"OVEHOSTED_ENGINE/clusterName": "Default", "OVEHOSTED_STORAGE/storageDomainName": "hosted_storage",
               "OVEHOSTED_STORAGE/imgSizeGB": 51}


def he_installed(host):
    """ovirt-hosted-engine-setup is installed: listed, or pulled in by ovirt-host on a vdsm host
    (ovirt-host.spec: `Requires: ovirt-hosted-engine-setup` on x86_64)."""
    return HE_PACKAGE in host.packages or "vdsm" in host.packages


@command("hosted-engine")
def hosted_engine(ctx):
    if not he_installed(ctx.host):
        return _not_found(ctx)
    if not ctx.args:
        ctx.print("Usage: /usr/sbin/hosted-engine\n    --help\n        show this help.\n    --deploy\n"
                  "        run ovirt-hosted-engine deployment\n    --vm-status\n"
                  "        VM status according to the HA agent")
        return 1
    first = ctx.args[0]
    if first == "--deploy":
        return _he_deploy(ctx, ctx.args[1:])
    if first == "--vm-status":
        return _he_vm_status(ctx, ctx.args[1:])
    if first.startswith("--set-maintenance"):
        return _he_set_maintenance(ctx, ctx.args)
    raise Unsupported(f"hosted-engine: option not implemented: {first}")


def _he_deploy(ctx, args):
    values, flags, unknown = _read_opts(args, set(), {"--restore-from-file", "--config-append"})
    if unknown:
        raise Unsupported(f"hosted-engine --deploy: options not implemented: {' '.join(unknown)}")
    if not values.get("--restore-from-file"):
        raise Unsupported("hosted-engine --deploy without --restore-from-file is not implemented by the lab")
    lab, cfg, state = _lab(ctx), _cfg(ctx), _state(ctx)
    backup_name = values["--restore-from-file"][-1]
    real_print = ctx.print

    def print_now(text="", end="\n"):  # otopi writes each line as it happens
        real_print(text, end)
        ctx.flush()
    ctx.print = print_now
    ctx.print("[ INFO  ] Stage: Initializing")
    ctx.print("[ INFO  ] Stage: Environment setup")
    ctx.print("          During customization use CTRL-D to abort.")
    try:
        answers = {**HE_DEFAULTS, **_load_answers(ctx, values.get("--config-append", []))}
    except _AnswerError as exc:
        return _otopi_fail(ctx, "Environment setup", exc, "he")
    if state["he"].get("deployed"):
        return _otopi_fail(ctx, "Environment setup", "Hosted Engine is already deployed on this host", "he")
    if not ctx.fs.exists(ctx.path(backup_name)) or ctx.fs.get(ctx.path(backup_name)).is_dir:
        return _otopi_fail(ctx, "Environment setup",
                           f"The specified backup file '{backup_name}' doesn't exist", "he")
    stages = iter(["Environment packages setup", "Programs detection", "Environment customization"])
    current = "Environment setup"
    for key, stage, prompt in HE_QUESTIONS:
        while current != stage:
            current = next(stages)
            ctx.print(f"[ INFO  ] Stage: {current}")
            if current == "Environment customization":
                ctx.print("          --== STORAGE CONFIGURATION ==--")
        if key not in answers:
            for line in prompt.splitlines():
                ctx.print(f"          {line}")
            return _otopi_fail(ctx, stage, "End of file", "he")
    if answers["OVEHOSTED_CORE/deployProceed"] is False:
        ctx.print("[ INFO  ] Stage: Termination")
        ctx.error("Aborted by user")
        return 1
    for stage in ("Setup validation", "Transaction setup", "Misc configuration (early)",
                  "Package installation", "Misc configuration", "Transaction commit", "Closing up"):
        ctx.print(f"[ INFO  ] Stage: {stage}")
    error = _he_validate(ctx, lab, answers, backup_name)
    if error:
        ctx.print(f"[ ERROR ] fatal: [localhost]: FAILED! => {{\"changed\": false, \"msg\": {json.dumps(error)}}}")
        return _otopi_fail(ctx, "Closing up", "Failed executing ansible-playbook", "he")
    members = read_backup(ctx.fs.read(ctx.path(backup_name)))
    entities = backup_entities(members)
    tasks = ("Install oVirt Hosted Engine packages", "Start libvirt", "Create local VM",
             "Copy engine backup file to the local VM", "Run engine-backup",
             "Restore engine from file", "Run engine-setup with answerfile",
             "Wait for the engine to come up", "Remove host used to redeploy",
             "Add host", "Wait for the host to be up", "Add NFS storage domain",
             "Create VM disk on the shared storage", "Copy local VM disk to shared storage",
             "Start ovirt-ha-agent", "Wait for the engine to come up on the target VM")
    for task in tasks:  # ovirt.deploy_seconds spread over the role's tasks
        ctx.print(f"[ INFO  ] TASK [ovirt.ovirt.hosted_engine_setup : {task}]")
        time.sleep(float(cfg["deploy_seconds"]) / len(tasks))
        ctx.print("[ INFO  ] ok: [localhost]" if "Wait" not in task else "[ INFO  ] changed: [localhost]")
    new_state = _restored_state(ctx, entities, answers)
    he = {"deployed": True, "host_id": 1, "maintenance": False, "global_maintenance": False,
          "fqdn": answers["OVEHOSTED_NETWORK/fqdn"], "storage": answers["OVEHOSTED_STORAGE/storageDomainConnection"],
          "domain_type": answers["OVEHOSTED_STORAGE/domainType"], "deployed_at": time.time(),
          "vm_id": new_state["he_vm_id"], "sd_id": new_state["he_sd_id"]}
    state["he"] = he
    he.update(gateway=answers["OVEHOSTED_NETWORK/gateway"], bridge=answers["OVEHOSTED_NETWORK/bridgeIf"])
    write_he_conf(ctx.host, he)
    for unit in ("vdsmd", "supervdsmd", "ovirt-ha-broker", "ovirt-ha-agent"):
        if unit in ctx.host.services:
            ctx.host.service_event(unit, "enable")
            ctx.host.service_event(unit, "start")
    stamp = _now()
    answers_out = f"/var/lib/ovirt-hosted-engine-setup/answers/answers-{stamp}.conf"
    ctx.fs.mkdir(posixpath.dirname(answers_out), parents=True)
    _write(ctx, answers_out, "[environment:default]\n" + "".join(
        f"{k}={_typed(v)}\n" for k, v in sorted(answers.items()) if "Pwd" not in k and "Password" not in k))
    new_state.pop("he_vm_id"), new_state.pop("he_sd_id")
    lab.engines.start_new(new_state)
    keys = answers.get("OVEHOSTED_VM/rootSshPubkey")
    lab.add_engine_vm(answers["OVEHOSTED_NETWORK/fqdn"], [keys] if isinstance(keys, str) and keys else [])
    lab._publish()
    ctx.print("[ INFO  ] Hosted Engine successfully deployed")
    ctx.print("[ INFO  ] Other hosted-engine hosts have to be reinstalled in order to update their storage "
              "configuration. From the engine, host by host, please set maintenance mode and then click on "
              "reinstall button ensuring you choose DEPLOY in hosted engine tab.")
    ctx.print("[ INFO  ] Please note that the engine VM ssh keys have changed. Please remove the engine VM "
              "entry in ssh known_hosts on your clients.")
    ctx.print("[ INFO  ] Stage: Clean up")
    ctx.print(f"[ INFO  ] Generating answer file '{answers_out}'")
    ctx.print("[ INFO  ] Stage: Pre-termination")
    ctx.print("[ INFO  ] Stage: Termination")
    return 0


def _typed(value):
    if isinstance(value, bool):
        return f"bool:{value}"
    if isinstance(value, int):
        return f"int:{value}"
    if value is None:
        return "none:None"
    return f"str:{value}"


def _version_pair(version):
    return ".".join(str(version).strip().split(".")[:2])


def _he_validate(ctx, lab, answers, backup_name):
    """Checks the deployment makes before it restores; returns an error text or None."""
    cfg = _cfg(ctx)
    domain_type = answers["OVEHOSTED_STORAGE/domainType"]
    if domain_type != "nfs":
        return f"lab: storage domain type {domain_type!r} is not simulated (nfs only)"
    connection = answers["OVEHOSTED_STORAGE/storageDomainConnection"]
    server, colon, path = connection.partition(":")
    storage = next((h for h in lab.hosts.values() if server in (h.fqdn, h.spec.address, h.name)), None)
    if not colon or storage is None:
        return f"Problem while trying to mount target: cannot resolve {server!r}"
    nfs = storage.services.get("nfs-server", {})
    if not nfs.get("active"):
        return f"Error while mounting storage: mount.nfs: Connection refused for {connection}"
    if not storage.fs.exists(path) or not storage.fs.get(path).is_dir:
        return f"Error while mounting storage: mount.nfs: access denied by server while mounting {connection}"
    node = storage.fs.get(path)
    if (node.uid, node.gid) != (36, 36):
        return ("Error creating a storage domain's metadata: ('Permission settings on the specified path do not "
                "allow access to the storage. Verify permission settings on the specified storage path.: "
                f"\\'path = /rhev/data-center/mnt/{server}:{path.replace('/', '_')}\\'',)")
    try:
        members = read_backup(ctx.fs.read(ctx.path(backup_name)))
    except ValueError as exc:
        return f"tar: {backup_name}: This does not look like a tar archive ({exc})"
    error = verify_backup(members)
    if error:
        return f"FATAL: {error}"
    backup_version = _version_pair(members.get("version", b"").decode() or "unknown")
    installed = _version_pair(cfg["appliance_engine_version"])
    if backup_version != installed:
        return (f"FATAL: Backup was created by version '{backup_version}' and can not be restored "
                f"using the installed version {installed}")
    entities = backup_entities(members)
    if entities is None:
        return "FATAL: Errors while restoring database engine"
    if answers["OVEHOSTED_ENGINE/adminPassword"] != entities["engine"]["admin_password"]:
        user = entities["engine"]["admin_user"]
        return (f"Error during SSO authentication access_denied : Cannot authenticate user '{user}': "
                "The username or password is incorrect..")
    return None


def _restored_state(ctx, entities, answers):
    """The new Engine's entities: the backup minus this host, plus this host, HostedEngine and hosted_storage."""
    state = copy.deepcopy(entities)
    state["events"] = []
    state["engine"]["fqdn"] = answers["OVEHOSTED_NETWORK/fqdn"]
    state["engine"]["version"] = str(_cfg(ctx)["appliance_engine_version"])
    me = ctx.host
    names = {me.name, me.fqdn, me.spec.address}
    for ident in [i for i, h in state["hosts"].items() if h["name"] in names or h["address"] in names]:
        del state["hosts"][ident]
        for vm in state["vms"].values():
            if vm["host"] == ident:
                vm.update(host=None, status="down", migrating_to=None)
    cluster_name = answers["OVEHOSTED_ENGINE/clusterName"]
    cluster = next((c for c in state["clusters"].values() if c["name"] == cluster_name), None)
    if cluster is None:
        cluster = {"id": entity_id("clusters", cluster_name), "name": cluster_name,
                   "datacenter": next(iter(state["datacenters"]), None), "version": "4.7",
                   "cpu_type": "Secure Intel Cascadelake Server Family"}
        state["clusters"][cluster["id"]] = cluster
    host_id = entity_id("hosts", me.fqdn)
    state["hosts"][host_id] = {
        "id": host_id, "name": me.fqdn, "address": me.fqdn, "cluster": cluster["id"], "status": "up",
        "memory_mb": me.spec.ram_mb or 32768, "root_password": None, "type": "rhel", "status_detail": None,
        "he": {"configured": True, "active": True, "score": HE_MAX_SCORE, "global_maintenance": False,
               "local_maintenance": False}}
    vm_id = entity_id("vms", "HostedEngine")
    state["vms"][vm_id] = {
        "id": vm_id, "name": "HostedEngine", "cluster": cluster["id"], "host": host_id, "status": "up",
        "memory_mb": int(answers["OVEHOSTED_VM/vmMemSizeMB"]), "placement": "migratable",
        "origin": "managed_hosted_engine", "migrating_to": None}
    server, _, path = answers["OVEHOSTED_STORAGE/storageDomainConnection"].partition(":")
    sd_name = answers["OVEHOSTED_STORAGE/storageDomainName"]
    sd_id = entity_id("storagedomains", sd_name)
    state["storagedomains"][sd_id] = {
        "id": sd_id, "name": sd_name, "type": "data", "datacenter": cluster["datacenter"], "status": "active",
        "master": False, "storage": {"type": "nfs", "address": server, "path": path}}
    state["he_vm_id"], state["he_sd_id"] = vm_id, sd_id
    return state


HE_CONF_KEYS = ("fqdn", "vm_disk_id", "vm_disk_vol_id", "vmid", "storage", "nfs_version", "mnt_options", "conf",
                "host_id", "console", "domainType", "spUUID", "sdUUID", "connectionUUID", "ca_cert", "ca_subject",
                "vdsm_use_ssl", "gateway", "bridge", "network_test", "tcp_t_address", "tcp_t_port",
                "metadata_volume_UUID", "metadata_image_UUID", "lockspace_volume_UUID", "lockspace_image_UUID",
                "conf_volume_UUID", "conf_image_UUID")


def write_he_conf(host, he):
    """/etc/ovirt-hosted-engine/hosted-engine.conf with the keys of ovirt-hosted-engine-setup's template
    (templates/hosted-engine.conf.in); ids the lab has no entity for are stable UUIDv5 values."""
    def uid(what):
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{what}.{he['fqdn']}"))
    values = {
        "fqdn": he["fqdn"], "vm_disk_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, he["fqdn"])),
        "vm_disk_vol_id": uid("vm-disk-vol"), "vmid": he["vm_id"], "storage": he["storage"], "nfs_version": "auto",
        "mnt_options": "", "conf": "/var/run/ovirt-hosted-engine-ha/vm.conf", "host_id": he["host_id"],
        "console": "vnc", "domainType": he["domain_type"], "spUUID": "00000000-0000-0000-0000-000000000000",
        "sdUUID": he["sd_id"], "connectionUUID": uid("connection"),
        "ca_cert": "/etc/pki/vdsm/libvirt-spice/ca-cert.pem", "ca_subject": '"C=EN, L=Test, O=Test, CN=Test"',
        "vdsm_use_ssl": "true", "gateway": he.get("gateway", ""), "bridge": he.get("bridge", "ovirtmgmt"),
        "network_test": "dns", "tcp_t_address": "", "tcp_t_port": "",
        "metadata_volume_UUID": uid("metadata-volume"), "metadata_image_UUID": uid("metadata-image"),
        "lockspace_volume_UUID": uid("lockspace-volume"), "lockspace_image_UUID": uid("lockspace-image"),
        "conf_volume_UUID": uid("conf-volume"), "conf_image_UUID": uid("conf-image")}
    host.fs.mkdir(posixpath.dirname(HE_CONF), parents=True)
    host.fs.write(HE_CONF, "".join(f"{k}={values[k]}\n" for k in HE_CONF_KEYS).encode(), 0o440, 36, 36)


_HA_UNITS = {"ovirt-ha-broker": "oVirt Hosted Engine High Availability Communications Broker",
             "ovirt-ha-agent": "oVirt Hosted Engine High Availability Monitoring Agent"}


def he_node_deploy(host, lab):
    """host-deploy's hosted-engine DEPLOY (ovirt-engine ovirt-host-deploy-hosted-engine/tasks/deploy.yml): stop
    the HA services, install ovirt-hosted-engine-setup, store hosted-engine.conf (vdsm:kvm 0440) with the
    host's HA id, then enable and restart ovirt-ha-agent (which wants ovirt-ha-broker)."""
    origin = next((h.ovirt["he"] for h in lab.hosts.values()
                   if h.ovirt.get("he", {}).get("deployed") and not h.ovirt["he"].get("via_engine")), None)
    if origin is None:
        return
    for unit in _HA_UNITS:
        if host.services.get(unit, {}).get("active"):
            host.service_event(unit, "stop")
    used = [h.ovirt.get("he", {}).get("host_id", 0) for h in lab.hosts.values()
            if h.ovirt.get("he", {}).get("deployed") and h is not host]
    he = {key: origin.get(key) for key in ("fqdn", "storage", "domain_type", "vm_id", "sd_id", "gateway", "bridge")}
    he.update(deployed=True, via_engine=True, host_id=max(used, default=0) + 1, maintenance=False,
              global_maintenance=bool(origin.get("global_maintenance")), deployed_at=time.time())
    host.ovirt["he"] = he
    for package in (HE_PACKAGE, "ovirt-hosted-engine-ha"):  # -setup requires -ha
        if package not in host.packages:
            host.packages.append(package)
    write_he_conf(host, he)
    for unit, description in _HA_UNITS.items():
        if unit not in host.services:
            host.services[unit] = {"active": False, "enabled": False, "description": description,
                                   "since": time.time(), "counts": {}, "events": []}
    host.service_event("ovirt-ha-agent", "enable")
    host.service_event("ovirt-ha-agent", "restart")


def he_node_undeploy(host):
    """host-deploy's hosted-engine UNDEPLOY (tasks/remove.yml): hosted-engine.conf removed, ovirt-ha-agent
    stopped (still enabled, but its unit's ConditionFileNotEmpty keeps it from starting again)."""
    if host.fs.exists(HE_CONF):
        host.fs.remove(HE_CONF)
    if host.services.get("ovirt-ha-agent", {}).get("active"):
        host.service_event("ovirt-ha-agent", "stop")
    host.ovirt["he"] = {}


def _he_nodes(lab):
    return [h for h in lab.hosts.values() if h.ovirt.get("he", {}).get("deployed")]


def he_vm_host(state):
    """The Engine's host entity that runs the HostedEngine VM now, or None."""
    vm = next((vm for vm in state["vms"].values()
               if vm.get("origin") == "managed_hosted_engine" or vm["name"] == "HostedEngine"), None)
    if vm is None or vm["host"] is None or vm["status"] not in ("up", "migrating"):
        return None
    return state["hosts"].get(vm["host"])


def ha_stats(lab, vm_host=None, engine_up=False):
    """What each node's ovirt-ha-agent last published on the shared storage (the HA client's
    get_all_host_stats), keyed by HA host id. `vm_host` is the Engine's host entity running HostedEngine."""
    global_maintenance = _global_maintenance(lab)
    out = {}
    for node in _he_nodes(lab):
        here = vm_host is not None and lab.engines.api_host_for(node, [vm_host]) is not None
        out[node.ovirt["he"]["host_id"]] = _node_stats(lab, node, here, engine_up, global_maintenance)
    return out


def _node_stats(lab, node, vm_here, engine_up, global_maintenance):
    he, agent = node.ovirt["he"], node.services.get("ovirt-ha-agent", {})
    local = bool(he.get("maintenance"))
    # agent/hosted_engine.py engine_status(): 'None' (JSON null) until the broker's first engine-health check
    first_check = float(settings(lab.site)["ha_first_health_seconds"])
    starting = agent.get("active") and time.time() - agent.get("since", 0) < first_check
    status = None if starting else _engine_status(vm_here, engine_up)
    return _stats_record(node.fqdn, he["host_id"], 0 if local else HE_MAX_SCORE, local, status,
                         bool(agent.get("active")), he.get("deployed_at", time.time()), global_maintenance)


def _all_stats(lab):
    new = lab.engines.new
    if new is None:
        return ha_stats(lab)
    with new.site.lock:
        new.site.tick()
        vm_host = copy.deepcopy(he_vm_host(new.site.state))
    return ha_stats(lab, vm_host, new.is_up())


def ha_info(lab, api_host, state):
    """VDSM's haStats for the Engine's host entity (vdsm host/api.py _getHaInfo): configured once the host has
    an HA host id, the rest from its agent's published stats; None when no lab host answers for it."""
    node = next((h for h in lab.hosts.values() if lab.engines.api_host_for(h, [api_host])), None)
    if node is None:
        return None
    if not node.ovirt.get("he", {}).get("deployed"):
        return dict(NO_HA_STATS)
    stats = ha_stats(lab, he_vm_host(state), True)[node.ovirt["he"]["host_id"]]
    return {"configured": True, "active": stats["live-data"], "score": stats["score"],
            "global_maintenance": _global_maintenance(lab), "local_maintenance": stats["maintenance"]}


def _engine_status(vm_running_here, engine_up):
    """The `engine-status` of one host's stats, as ovirt-ha-agent reports it."""
    if not vm_running_here:
        return {"vm": "down", "health": "bad", "detail": "unknown", "reason": "vm not running on this host"}
    if engine_up:
        return {"vm": "up", "health": "good", "detail": "Up"}
    return {"vm": "up", "health": "bad", "detail": "Up", "reason": "failed liveliness check"}


def _global_maintenance(lab):
    return any(h.ovirt["he"].get("global_maintenance") for h in _he_nodes(lab))


def _stats_record(hostname, host_id, score, maintenance, status, live, deployed_at, global_maintenance):
    ts = int(time.time() - deployed_at) + 1000
    state_name = "LocalMaintenance" if maintenance else "GlobalMaintenance" if global_maintenance else (
        "ReinitializeFSM" if status is None else "EngineUp" if status["vm"] == "up" else "EngineDown")
    extra = ("metadata_parse_version=1\nmetadata_feature_version=1\n"
             f"timestamp={ts} ({time.strftime('%a %b %d %H:%M:%S %Y', time.gmtime())})\n"
             f"host-id={host_id}\nscore={score}\nvm_conf_refresh_time={ts}\n"
             "conf_on_shared_storage=True\n"
             f"maintenance={maintenance}\nstate={state_name}\nstopped=False\n")
    return {
        "conf_on_shared_storage": True, "live-data": live, "extra": extra, "hostname": hostname,
        "host-id": host_id, "engine-status": status, "score": score, "stopped": False,
        "maintenance": maintenance, "crc32": "%08x" % (zlib.crc32(extra.encode()) & 0xffffffff),
        "local_conf_timestamp": ts, "host-ts": ts}


def _he_ready(ctx):
    if not _state(ctx)["he"].get("deployed") or not ctx.fs.exists(HE_CONF):
        ctx.print("You must run --deploy first")
        return False
    return True


def _he_vm_status(ctx, args):
    if any(a != "--json" for a in args):
        raise Unsupported(f"hosted-engine --vm-status: options not implemented: {' '.join(args)}")
    if not _he_ready(ctx):
        return 1
    if not ctx.host.services.get("ovirt-ha-broker", {}).get("active"):
        ctx.error("The hosted engine configuration has not been retrieved from shared storage. Please ensure "
                  "that ovirt-ha-agent is running and the storage server is reachable.")
        return 1
    all_stats = _all_stats(_lab(ctx))
    global_maintenance = _global_maintenance(_lab(ctx))
    if args:
        ctx.print(json.dumps({**{str(i): s for i, s in sorted(all_stats.items())},
                              "global_maintenance": global_maintenance}))
        return 0
    if global_maintenance:  # vm_status.py prints the banner before the hosts
        ctx.print("\n\n!! Cluster is in GLOBAL MAINTENANCE mode !!\n")
    for _, stats in sorted(all_stats.items()):
        _he_print_host(ctx, stats)
    return 0


def _he_print_host(ctx, stats):
    labels = [("host-id", "Host ID"), ("host-ts", "Host timestamp"), ("score", "Score"),
              ("engine-status", "Engine status"), ("hostname", "Hostname"), ("maintenance", "Local maintenance"),
              ("stopped", "stopped"), ("local_conf_timestamp", "Local conf file timestamp"),
              ("live-data", "Status up-to-date"), ("conf_on_shared_storage", "Configuration on shared storage"),
              ("crc32", "crc32")]
    ctx.print(f"\n\n--== Host {stats['hostname']} (id: {stats['host-id']}) status ==--\n")
    for key, label in labels:
        value = json.dumps(stats[key]) if key == "engine-status" else stats[key]
        ctx.print(f"{label:35}: {value}")
    ctx.print(f"{'Extra metadata (valid at timestamp)':35}:")
    for line in stats["extra"].splitlines():
        ctx.print(f"\t{line}")


def _he_set_maintenance(ctx, args):
    mode = None
    if args[0].startswith("--set-maintenance="):
        mode = args[0].split("=", 1)[1]
    elif len(args) > 1 and args[1].startswith("--mode="):
        mode = args[1].split("=", 1)[1]
    if mode not in ("global", "local", "none"):
        ctx.error(f"Invalid maintenance mode: {mode}")
        return 1
    if not _he_ready(ctx):
        return 1
    he = _state(ctx)["he"]
    nodes = _he_nodes(_lab(ctx))
    if mode == "global":  # cluster-wide: kept on every node's state
        for node in nodes:
            node.ovirt["he"]["global_maintenance"] = True
    elif mode == "local":
        he["maintenance"] = True
    else:
        for node in nodes:
            node.ovirt["he"]["global_maintenance"] = False
        he["maintenance"] = False
    return 0


# --- yum / dnf -----------------------------------------------------------

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
            ctx.print(f"{name}-{_lab(ctx).engines.original.site.engine['version']}-1.el8.noarch")
        else:
            ctx.print(f"package {name} is not installed")
            missing += 1
    return min(missing, 255)


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
        if specs != ["--enabled"]:
            raise Unsupported("dnf module list is implemented as: dnf module list --enabled")
        if not enabled:
            ctx.error("Error: No matching Modules to list")
            return 1
        _dnf_header(ctx)
        ctx.print(f"{'Name':20}{'Stream':14}{'Profiles':12}Summary")
        for name, stream in sorted(enabled.items()):
            ctx.print(f"{name:20}{stream + ' [e]':14}{'common':12}{name}")
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
    ctx.print(f"Status: {'OK' if vdsm else 'FAILED'}")
    for name, subs in checks:
        ctx.print(f"{name} ... OK")
        for sub in subs:
            ctx.print(f"  {sub} ... OK")
    ctx.print(f"vdsmd ... {'OK' if vdsm else 'BAD'}")
    return 0 if vdsm else 1


def dns_records(lab):
    records = [(h.fqdn, h.spec.address) for h in lab.hosts.values()]
    records += [(r["name"], r["address"]) for r in settings(lab.site)["dns"]]
    return records


_getent_accounts = COMMANDS["getent"]


@command("getent")
def getent(ctx):
    """getent hosts NAME|ADDRESS from the site's DNS; passwd/group as before."""
    if not ctx.args or ctx.args[0] != "hosts":
        return _getent_accounts(ctx)
    records = dns_records(_lab(ctx))
    keys = ctx.args[1:]
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
