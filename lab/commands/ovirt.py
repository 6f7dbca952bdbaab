"""What the lab's oVirt tools share: the host's oVirt state, the lab they run in, option reading, and
otopi's answer files and failure report (engine-setup and hosted-engine are otopi programs).

The tools are one module each: engine_setup (engine-upgrade-check, engine-setup), engine_backup,
hosted_engine, packages (yum/dnf, rpm, nodectl) and names (getent hosts, ssh-keyscan). Formats and
exit codes follow the upstream sources listed in lab/README.md ("oVirt commands"). State lives in
Host.ovirt (saved with the host) and in the Engine APIs run by lab.ovirt_site.EngineServices.
"""

import time

from lab.ovirt_site import settings
from lab.transport.shell import Unsupported
from lab.transport.vfs import FsError

ENGINE_PACKAGE = "ovirt-engine-setup"
HE_PACKAGE = "ovirt-hosted-engine-setup"
HE_CONF = "/etc/ovirt-hosted-engine/hosted-engine.conf"
SETUP_PACKAGES = [
    "ovirt-engine-setup",
    "ovirt-engine-setup-base",
    "ovirt-engine-setup-plugin-ovirt-engine",
    "ovirt-engine-setup-plugin-ovirt-engine-common",
    "ovirt-engine-setup-plugin-websocket-proxy",
]


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


def otopi_failed(print_line, stage, message):
    """otopi's report of a stage method that raised, and the stages it still runs (otopi context.py)."""
    print_line(f"[ ERROR ] Failed to execute stage '{stage}': {message}")
    for step in ("Clean up", "Pre-termination", "Termination"):
        print_line(f"[ INFO  ] Stage: {step}")


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
