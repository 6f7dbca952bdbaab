"""pgrep (procps-ng): the command lines a host is running now, as other sessions see them."""
import re

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
