"""File tools (coreutils behaviour): cat, tail, install, mkdir, rm, mv, ls, stat, chown, chmod, sha256sum."""

import hashlib
import posixpath
import time

from lab import accounts
from lab.commands import command
from lab.transport.shell import Unsupported
from lab.transport.vfs import FsError


def _mode(ctx, text):
    """Octal modes only; symbolic modes are reported as not implemented."""
    if not text or any(c not in "01234567" for c in text) or len(text) > 4:
        raise Unsupported(f"{ctx.name}: mode '{text}' not implemented (octal modes only)")
    return int(text, 8)


def _per_operand(ctx, names, action, failure):
    """Runs action(name) for each operand, as coreutils do: one that fails prints
    failure.format(name=..., error=...), the others still run, and the exit status is then 1."""
    status = 0
    for name in names:
        try:
            action(name)
        except FsError as exc:
            ctx.error(failure.format(name=name, error=exc.strerror))
            status = 1
    return status


# Files the lab makes from the site file rather than storing them (procfs, the SAN's configuration):
# path -> fn(ctx) giving the content, or None where this host has no such file. A stored file wins.
GENERATED = {}


def generated_file(path):
    def register(func):
        GENERATED[path] = func
        return func

    return register


def read_file(ctx, name):
    """A file's content as every reader (cat, tail, sha256sum) sees it."""
    path = ctx.path(name)
    if path in GENERATED and not ctx.fs.exists(path):
        data = GENERATED[path](ctx)
        if data is not None:
            return data
    return ctx.fs.read(path)


def _read_operand(ctx, name):
    return ctx.stdin.read() if name == "-" else read_file(ctx, name)


@command("cat")
def cat(ctx):
    def show(name):
        ctx.out += _read_operand(ctx, name)

    return _per_operand(ctx, ctx.args or ["-"], show, "cat: {name}: {error}")


@command("tail")
def tail(ctx):
    """`tail -n [+]N FILE` / `tail -c [+]N FILE`: the last N lines (bytes), or from line (byte) N on."""
    opts, names = ctx.opts("n:c:")
    if len(opts) != 1 or len(names) > 1:
        raise Unsupported("tail is implemented as: tail -n|-c [+]N [FILE]")
    option, count = opts[0]
    if not count.lstrip("+").isdigit():
        ctx.error(f"tail: invalid number of {'lines' if option == '-n' else 'bytes'}: '{count}'")
        return 1
    name = names[0] if names else "-"
    try:
        data = _read_operand(ctx, name)
    except FsError as exc:
        ctx.error(f"tail: cannot open '{name}' for reading: {exc.strerror}")
        return 1
    number = int(count.lstrip("+"))
    if option == "-c":
        ctx.out += (
            data[max(number - 1, 0) :] if count.startswith("+") else data[len(data) - number :] if number else b""
        )
        return 0
    lines = data.splitlines(keepends=True)
    ctx.out += b"".join(
        lines[max(number - 1, 0) :] if count.startswith("+") else lines[len(lines) - number :] if number else []
    )
    return 0


@command("sha256sum", "sha1sum")
def checksum(ctx):
    """coreutils' sha256sum and sha1sum: `DIGEST  NAME` per operand."""
    _, names = ctx.opts("")
    algorithm = hashlib.sha256 if ctx.name == "sha256sum" else hashlib.sha1

    def digest(name):
        ctx.print(f"{algorithm(_read_operand(ctx, name)).hexdigest()}  {name}")

    return _per_operand(ctx, names or ["-"], digest, ctx.name + ": {name}: {error}")


def _owner(ctx, spec):
    """Parse USER[:GROUP] (names or numbers) into (uid|None, gid|None) as chown does."""
    user, sep, group = spec.partition(":")
    uid = gid = None
    if user:
        u = accounts.find_user(ctx.fs, user)
        if u is None and not user.isdigit():
            return None
        uid = u.uid if u else int(user)
        if sep and not group and u:
            gid = u.gid
    if group:
        g = accounts.find_group(ctx.fs, group)
        if g is None and not group.isdigit():
            return None
        gid = g.gid if g else int(group)
    return uid, gid


@command("chown")
def chown(ctx):
    opts, args = ctx.opts("R", ["recursive"])
    if len(args) < 2:
        ctx.error(f"chown: missing operand after '{args[0]}'" if args else "chown: missing operand")
        return 1
    owner = _owner(ctx, args[0])
    if owner is None:
        ctx.error(f"chown: invalid {'user' if ':' not in args[0] else 'spec'}: '{args[0]}'")
        return 1
    return _each_path(ctx, args[1:], bool(opts), lambda node: _set_owner(node, *owner))


def _set_owner(node, uid, gid):
    if uid is not None:
        node.uid = uid
    if gid is not None:
        node.gid = gid


@command("chmod")
def chmod(ctx):
    opts, args = ctx.opts("R", ["recursive"])
    if len(args) < 2:
        ctx.error("chmod: missing operand")
        return 1
    mode = _mode(ctx, args[0])
    return _each_path(ctx, args[1:], bool(opts), lambda node: setattr(node, "mode", mode))


def _each_path(ctx, names, recursive, change):
    """Apply change to each named path (and below, with -R); 'cannot access' errors exit 1."""

    def apply(name):
        for path in ctx.fs.walk(ctx.path(name)) if recursive else [ctx.path(name)]:
            change(ctx.fs.get(path))

    return _per_operand(ctx, names, apply, ctx.name + ": cannot access '{name}': {error}")


@command("mkdir")
def mkdir(ctx):
    opts, names = ctx.opts("pm:", ["parents", "mode="])
    opts = dict(opts)
    mode = _mode(ctx, opts.get("-m", opts.get("--mode", "755")))
    parents = "-p" in opts or "--parents" in opts
    if not names:
        ctx.error("mkdir: missing operand")
        return 1
    return _per_operand(
        ctx,
        names,
        lambda name: ctx.fs.mkdir(ctx.path(name), mode, parents=parents),
        "mkdir: cannot create directory '{name}': {error}",
    )


@command("install")
def install(ctx):
    """install -d DIR... or install [-D] SRC DST, with -m/-o/-g applied to what it creates."""
    opts, args = ctx.opts("dDm:o:g:", ["directory", "mode=", "owner=", "group="])
    opts = dict(opts)
    mode = _mode(ctx, opts.get("-m", opts.get("--mode", "755")))
    owner = _install_owner(ctx, opts)
    if owner is None:
        return 1
    if "-d" in opts or "--directory" in opts:
        return _install_dirs(ctx, args, mode, owner)
    if len(args) != 2:
        raise Unsupported("install: only 'install [-D] SRC DST' is implemented")
    src, dst = args
    try:
        data = ctx.stdin.read() if src in ("/dev/stdin", "-") else ctx.fs.read(ctx.path(src))
    except FsError as exc:
        ctx.error(f"install: cannot stat '{src}': {exc.strerror}")
        return 1
    target = ctx.path(dst)
    if ctx.fs.exists(target) and ctx.fs.get(target).is_dir:
        target = posixpath.join(target, posixpath.basename(src))
    try:
        if "-D" in opts:
            ctx.fs.mkdir(posixpath.dirname(target), 0o755, parents=True)
        node = ctx.fs.write(target, data)
    except FsError as exc:
        ctx.error(f"install: cannot create regular file '{dst}': {exc.strerror}")
        return 1
    node.mode, node.uid, node.gid = mode, *owner
    return 0


def _install_owner(ctx, opts):
    uid = gid = 0
    user = opts.get("-o", opts.get("--owner"))
    group = opts.get("-g", opts.get("--group"))
    if user is not None:
        u = accounts.find_user(ctx.fs, user)
        if u is None and not user.isdigit():
            ctx.error(f"install: invalid user '{user}'")
            return None
        uid = u.uid if u else int(user)
    if group is not None:
        g = accounts.find_group(ctx.fs, group)
        if g is None and not group.isdigit():
            ctx.error(f"install: invalid group '{group}'")
            return None
        gid = g.gid if g else int(group)
    return uid, gid


def _install_dirs(ctx, names, mode, owner):
    def make(name):
        node = ctx.fs.mkdir(ctx.path(name), mode, parents=True)
        node.mode, node.uid, node.gid = mode, *owner

    return _per_operand(ctx, names, make, "install: cannot create directory '{name}': {error}")


@command("rm")
def rm(ctx):
    opts, names = ctx.opts("rRf", ["recursive", "force"])
    flags = {o for o, _ in opts}
    force = bool(flags & {"-f", "--force"})
    recursive = bool(flags & {"-r", "-R", "--recursive"})
    if not names and not force:
        ctx.error("rm: missing operand")
        return 1
    status = 0
    for name in names:
        path = ctx.path(name)
        if path == "/" and recursive:
            ctx.error("rm: it is dangerous to operate recursively on '/'")
            status = 1
            continue
        if not ctx.fs.exists(path):
            if not force:
                ctx.error(f"rm: cannot remove '{name}': No such file or directory")
                status = 1
            continue
        if ctx.fs.get(path).is_dir and not recursive:
            ctx.error(f"rm: cannot remove '{name}': Is a directory")
            status = 1
            continue
        ctx.fs.remove(path, recursive=True)
    return status


@command("mv")
def mv(ctx):
    opts, args = ctx.opts("f", ["force"])
    if len(args) < 2:
        ctx.error("mv: missing destination file operand")
        return 1
    *sources, dst = args
    dst_path = ctx.path(dst)
    into_dir = ctx.fs.exists(dst_path) and ctx.fs.get(dst_path).is_dir
    if len(sources) > 1 and not into_dir:
        ctx.error(f"mv: target '{dst}' is not a directory")
        return 1
    status = 0
    for src in sources:
        if not ctx.fs.exists(ctx.path(src)):
            ctx.error(f"mv: cannot stat '{src}': No such file or directory")
            status = 1
            continue
        target = posixpath.join(dst_path, posixpath.basename(ctx.path(src))) if into_dir else dst_path
        try:
            ctx.fs.rename(ctx.path(src), target)
        except FsError as exc:
            ctx.error(f"mv: cannot move '{src}' to '{dst}': {exc.strerror}")
            status = 1
    return status


def _symbolic(node):
    """drwxr-xr-x style permission string (ls -l, stat %A)."""
    bits = "".join(ch if node.mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    return ("d" if node.is_dir else "-") + bits


def _name_or_id(name, number):
    return name if name is not None else str(number)


@command("ls")
def ls(ctx):
    opts, names = ctx.opts("1ld", [])
    flags = {o for o, _ in opts}
    status, blocks = 0, []
    for name in names or ["."]:
        try:
            node = ctx.fs.get(ctx.path(name))
        except FsError as exc:
            ctx.error(f"ls: cannot access '{name}': {exc.strerror}")
            status = 2
            continue
        if node.is_dir and "-d" not in flags:
            entries = [
                (n, ctx.fs.get(posixpath.join(ctx.path(name), n)))
                for n in ctx.fs.listdir(ctx.path(name))
                if not n.startswith(".")
            ]
            blocks.append((name, entries, True))
        else:
            blocks.append((name, [(name, node)], False))
    for index, (name, entries, is_dir) in enumerate(blocks):
        if len(blocks) > 1 and is_dir:
            ctx.print(("\n" if index else "") + f"{name}:")
        if "-l" in flags and is_dir:
            ctx.print(f"total {sum((e.size + 1023) // 1024 for _, e in entries)}")
        for entry_name, entry in entries:
            ctx.print(_long(ctx, entry_name, entry) if "-l" in flags else entry_name)
    return status


def _long(ctx, name, node):
    user = _name_or_id(accounts.user_name(ctx.fs, node.uid), node.uid)
    group = _name_or_id(accounts.group_name(ctx.fs, node.gid), node.gid)
    when = time.strftime("%b %e %H:%M", time.localtime(node.mtime))
    return f"{_symbolic(node)} 1 {user} {group} {node.size} {when} {name}"


_DEFAULT_STAT = (
    "  File: %n\n  Size: %s\tBlocks: 0\tIO Block: 4096\t%F\nAccess: (%04a/%A)  Uid: (%u/%U)   Gid: (%g/%G)\nModify: %y"
)


@command("stat")
def stat(ctx):
    """stat [-c FORMAT] FILE...; missing files: 'cannot statx' and exit 1 (coreutils 8.32)."""
    opts, names = ctx.opts("c:", ["format=", "printf="])
    opts = dict(opts)
    fmt = opts.get("-c", opts.get("--format", _DEFAULT_STAT))
    if not names:
        ctx.error("stat: missing operand")
        return 1
    status = 0
    for name in names:
        try:
            node = ctx.fs.get(ctx.path(name))
        except FsError as exc:
            ctx.error(f"stat: cannot statx '{name}': {exc.strerror}")
            status = 1
            continue
        ctx.print(_format_stat(ctx, fmt, name, node))  # outside the try: only the lookup reports "cannot statx"
    return status


def _format_stat(ctx, fmt, name, node):
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] != "%" or i + 1 == len(fmt):
            out.append(fmt[i])
            i += 1
            continue
        spec = fmt[i + 1]
        if spec == "0" and fmt[i + 2 : i + 4] == "4a":
            out.append(f"{node.mode:04o}")
            i += 4
            continue
        out.append(_stat_field(ctx, spec, name, node))
        i += 2
    return "".join(out)


def _stat_field(ctx, spec, name, node):
    if spec == "%":
        return "%"
    if spec == "a":
        return f"{node.mode:o}"
    if spec == "A":
        return _symbolic(node)
    if spec == "u":
        return str(node.uid)
    if spec == "g":
        return str(node.gid)
    if spec == "U":
        return accounts.user_name(ctx.fs, node.uid) or "UNKNOWN"
    if spec == "G":
        return accounts.group_name(ctx.fs, node.gid) or "UNKNOWN"
    if spec == "n":
        return name
    if spec == "s":
        return str(node.size)
    if spec == "F":
        if node.is_dir:
            return "directory"
        return "regular file" if node.data else "regular empty file"
    if spec == "f":
        return f"{node.st_mode:x}"
    if spec == "Y":
        return str(int(node.mtime))
    if spec == "y":
        return time.strftime("%Y-%m-%d %H:%M:%S.000000000 %z", time.localtime(node.mtime))
    raise Unsupported(f"stat: format %{spec} not implemented")
