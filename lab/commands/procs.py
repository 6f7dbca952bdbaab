"""pgrep (procps-ng): the command lines a host is running now, as other sessions see them."""
import re
import shlex

from lab.commands import command
from lab.shell import Unsupported


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
    found = [(pid, line) for pid, line in ctx.host.running_commands()
             if pattern.search(line if whole_line else line.split(" ", 1)[0])]
    for pid, line in found:
        ctx.print(f"{pid} {line}" if any("a" in f for f in flags) else str(pid))
    return 0 if found else 1


@command("systemd-run")
def systemd_run(ctx):
    """`systemd-run --unit=NAME [--collect] [--wait] [--pipe] [--quiet] [--] COMMAND...`: the command runs
    as a transient service, so it outlives the SSH session that started it; with --wait --pipe the
    caller sees its output and exit status as if it ran directly."""
    args, unit, flags = list(ctx.args), None, set()
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option == "--":
            break
        if option.startswith("--unit="):
            unit = option.split("=", 1)[1]
        elif option == "--unit" and args:
            unit = args.pop(0)
        elif option in ("--collect", "--wait", "--pipe", "--quiet", "-q", "-G", "-P"):
            flags.add(option)
        else:
            raise Unsupported(f"systemd-run: option not implemented: {option}")
    if not args:
        ctx.error("systemd-run: Command line to execute required.")
        return 1
    if not {"--wait", "--pipe"} <= flags and not {"-P"} <= flags:
        raise Unsupported("systemd-run is implemented with --wait --pipe only")
    if not flags & {"--quiet", "-q"}:
        ctx.error(f"Running as unit: {unit or 'run-u1'}.service")
    out, err, status = ctx.shell.run(shlex.join(args), ctx.stdin)
    ctx.out += out
    ctx.err += err
    return status
