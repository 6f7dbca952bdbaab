"""pgrep (procps-ng): the command lines a host is running now, as other sessions see them."""

import re
import shlex

from lab import units
from lab.commands import COMMANDS, command
from lab.transport.shell import Input, Shell, Unsupported


@command("pgrep")
def pgrep(ctx):
    """`pgrep [-f] [-a] PATTERN`: exit 0 and one PID per match, 1 when nothing matches, 2 on a bad pattern."""
    args = list(ctx.args)
    flags = {a for a in args if a.startswith("-")}
    patterns = [a for a in args if not a.startswith("-")]
    if flags - {"-f", "-a", "-fa", "-af"} or len(patterns) != 1:
        raise Unsupported("pgrep is implemented as: pgrep [-f] [-a] PATTERN")
    try:
        pattern = re.compile(patterns[0])
    except re.error as exc:
        ctx.error(f"pgrep: {exc}")
        return 2
    whole_line = any("f" in f for f in flags)
    found = [
        (pid, line)
        for pid, line in ctx.host.running_commands()
        if pattern.search(line if whole_line else line.split(" ", 1)[0])
    ]
    for pid, line in found:
        ctx.print(f"{pid} {line}" if any("a" in f for f in flags) else str(pid))
    return 0 if found else 1


_RUN_FLAGS = {
    "--collect": "collect",
    "-G": "collect",
    "--wait": "wait",
    "--pipe": "pipe",
    "--quiet": "quiet",
    "-q": "quiet",
    "-P": "pipe-wait",
}
_PROPERTIES = ("RemainAfterExit", "StandardOutput")


@command("systemd-run")
def systemd_run(ctx):
    """`systemd-run [--unit=NAME] [-p PROPERTY=VALUE]... [--collect] [--quiet] [--wait] [--pipe] [--] COMMAND...`
    (systemd 239): the command runs as a transient service, with systemd's environment (no SSH_CLIENT)
    and standard input /dev/null, so it outlives the SSH session that started it. Without --wait,
    systemd-run returns once the service started; with --wait --pipe (-P) the service's standard
    output and error are the caller's, and systemd-run ends with the service's exit status."""
    args, name, flags, settings = list(ctx.args), None, set(), {}
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option == "--":
            break
        if option.startswith("--unit="):
            name = option.split("=", 1)[1]
        elif option in ("--unit", "-p", "--property") and args:
            value = args.pop(0)
            name, settings = (value, settings) if option == "--unit" else (name, {**settings, **_property(value)})
        elif option.startswith("--property="):
            settings.update(_property(option.split("=", 1)[1]))
        elif option in _RUN_FLAGS:
            flags.add(_RUN_FLAGS[option])
        else:
            raise Unsupported(f"systemd-run: option not implemented: {option}")
    if "pipe-wait" in flags:
        flags |= {"pipe", "wait"}
    if not args:
        ctx.error("systemd-run: Command line to execute required.")
        return 1
    if ("wait" in flags) != ("pipe" in flags):
        raise Unsupported("systemd-run is implemented with --wait --pipe together, or with neither")
    name = (name or f"run-u{len(ctx.host.units) + 1}").removesuffix(".service")
    if units.create(ctx.host, name, args, settings, "collect" in flags) is None:
        ctx.error(f"Failed to start transient service unit: Unit {name}.service already exists.")
        return 1
    if "quiet" not in flags:
        ctx.error(f"Running as unit: {name}.service")
    if "pipe" in flags:
        return _run_piped(ctx, name, shlex.join(args))
    units.start_in_background(ctx.host, name, _service(ctx.host, name, shlex.join(args), settings))
    return 0


def _property(text):
    key, eq, value = text.partition("=")
    if not eq or key not in _PROPERTIES:
        raise Unsupported(f"systemd-run: property not implemented: {text}")
    if key == "StandardOutput" and not value.startswith("file:"):
        raise Unsupported(f"systemd-run: StandardOutput={value} not implemented (only file:PATH)")
    return {key: value}


def _run_piped(ctx, name, line):
    """The service writes to the caller's channel; when that is gone, its next write kills it (SIGPIPE)."""
    host = ctx.host
    shell = Shell(host, COMMANDS, getattr(ctx, "live", None), env={}, pid=ctx.shell.pid, unit=name)
    try:
        out, err, status = shell.run(line, Input(b""))
    except units.Stopped:
        units.finish(host, name, None, units.SIGTERM)
        return 143
    except Exception:
        units.finish(host, name, None, units.SIGPIPE)
        raise
    units.finish(host, name, status)
    ctx.out += out
    ctx.err += err
    return status


def _service(host, name, line, settings):
    """The unit's process: its output goes to StandardOutput=file:PATH (standard error inherits it)."""
    path = settings.get("StandardOutput", "").removeprefix("file:") or None

    def write(data):
        if path is not None and data:
            host.fs.write(path, data, append=True)

    def run():
        out, err, status = host.run(line, Input(b""), live_out=write, kind="unit", env={}, unit=name)
        with host.lock:
            write(out + err)
            host.save()
        return status

    return run
