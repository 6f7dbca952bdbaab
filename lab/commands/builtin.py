"""Shell builtins and trivial tools: echo, printf, true, false, test, sleep, sh -c, hostname."""

import re

from lab.commands import command
from lab.transport.shell import Unsupported

_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "r": "\r", "0": "\0"}


def _unescape(text):
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), text)


@command("true")
def true(ctx):
    return 0


@command("false")
def false(ctx):
    return 1


@command("sleep")
def sleep(ctx):
    """coreutils sleep NUMBER[s]: waits, without holding the host."""
    if len(ctx.args) != 1 or not re.fullmatch(r"\d+(\.\d+)?s?", ctx.args[0]):
        ctx.error(f"sleep: invalid time interval {' '.join(ctx.args)!r}" if ctx.args else "sleep: missing operand")
        return 1
    ctx.sleep(float(ctx.args[0].rstrip("s")))
    return 0


@command("echo")
def echo(ctx):
    """bash's builtin echo: leading -n/-e/-E flags, words joined by spaces."""
    args, newline, escapes = list(ctx.args), True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        flags = args.pop(0)
        newline = newline and "n" not in flags
        escapes = "e" in flags or (escapes and "E" not in flags)
    text = " ".join(args)
    ctx.print(_unescape(text) if escapes else text, end="\n" if newline else "")
    return 0


@command("printf")
def printf(ctx):
    """printf FORMAT [ARG]...: %s %d %% and backslash escapes; FORMAT repeats for extra args."""
    if not ctx.args:
        ctx.error("printf: usage: printf [-v var] format [arguments]")
        return 2
    fmt, args = _unescape(ctx.args[0]), ctx.args[1:]
    while True:
        used = 0

        def conv(m, args=args):
            nonlocal used
            if m.group(0) == "%%":
                return "%"
            value = args[used] if used < len(args) else ""
            used += 1
            if m.group(1) == "d":
                return str(int(value or 0))
            return value

        if re.search(r"%[^sd%]", fmt):
            raise Unsupported("printf: only %s, %d and %% are implemented")
        ctx.print(re.sub(r"%%|%([sd])", conv, fmt), end="")
        args = args[used:]
        if not args or not used:
            return 0


@command("test", "[")
def test(ctx):
    """test/[ with -e -f -d -s -z -n, = and !=, and a leading !."""
    args = list(ctx.args)
    if ctx.name == "[":
        if not args or args[-1] != "]":
            ctx.error("[: missing `]'")
            return 2
        args.pop()
    negate = bool(args) and args[0] == "!"
    if negate:
        args.pop(0)
    result = _evaluate(ctx, args)
    return int(result == negate)


def _evaluate(ctx, args):
    if len(args) == 0:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, operand = args
        if op in ("-z", "-n"):
            return (operand == "") == (op == "-z")
        if op not in ("-e", "-f", "-d", "-s"):
            raise Unsupported(f"test operator not implemented: {op}")
        path = ctx.path(operand)
        if not ctx.fs.exists(path):
            return False
        node = ctx.fs.get(path)
        return {"-e": True, "-f": not node.is_dir, "-d": node.is_dir, "-s": node.size > 0}[op]
    if len(args) == 3 and args[1] in ("=", "==", "!="):
        return (args[0] == args[2]) == (args[1] != "!=")
    raise Unsupported(f"test expression not implemented: {' '.join(args)}")


@command("sh", "bash")
def sh(ctx):
    """sh -c STRING: run STRING as a command line with the same stdin."""
    if len(ctx.args) < 2 or ctx.args[0] != "-c":
        raise Unsupported(f"{ctx.name} is only implemented as: {ctx.name} -c STRING")
    out, err, status = ctx.shell.run(ctx.args[1], ctx.stdin)
    ctx.out += out
    ctx.err += err
    return status


@command("hostname")
def hostname(ctx):
    """hostname prints the static name, which EL hosts set to the FQDN; -s the short one."""
    opts, args = ctx.opts("fs", ["fqdn", "short"])
    if args:
        raise Unsupported("hostname: setting the hostname is not implemented")
    short = any(o in ("-s", "--short") for o, _ in opts)
    ctx.print(ctx.host.fqdn.split(".")[0] if short else ctx.host.fqdn)
    return 0
