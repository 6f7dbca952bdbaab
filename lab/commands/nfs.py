"""exportfs (nfs-utils 2.3, as on EL8): the export table kept in /var/lib/nfs/etab.

exportfs -r / -a read /etc/exports and /etc/exports.d/*.exports (exports(5)) and write the table;
exportfs [-v] and -s print it. As in nfs-utils, the table lives in /var/lib/nfs/etab, so it is part
of the host's files and survives a lab restart. The lab's etab holds one `PATH<TAB>CLIENT(OPTIONS)`
line per export, OPTIONS in the order `exportfs -v` prints them (the real etab lists more fields).
"""

import posixpath

from lab.commands import command
from lab.transport.shell import Unsupported
from lab.transport.vfs import FsError

EXPORTS, EXPORTS_D, ETAB = "/etc/exports", "/etc/exports.d", "/var/lib/nfs/etab"

# exports(5) keywords the lab understands; flags map to (option, its opposite).
_PAIRS = {
    "rw": ("ro", False),
    "ro": ("ro", True),
    "sync": ("async", False),
    "async": ("async", True),
    "wdelay": ("wdelay", True),
    "no_wdelay": ("wdelay", False),
    "hide": ("hide", True),
    "nohide": ("hide", False),
    "crossmnt": ("crossmnt", True),
    "subtree_check": ("subtree_check", True),
    "no_subtree_check": ("subtree_check", False),
    "secure": ("secure", True),
    "insecure": ("secure", False),
    "root_squash": ("root_squash", True),
    "no_root_squash": ("root_squash", False),
    "all_squash": ("all_squash", True),
    "no_all_squash": ("all_squash", False),
    "secure_locks": ("secure_locks", True),
    "auth_nlm": ("secure_locks", True),
    "insecure_locks": ("secure_locks", False),
    "no_auth_nlm": ("secure_locks", False),
}
_VALUED = ("anonuid", "anongid", "fsid", "sec")
# nfs-utils defaults (exports(5)): ro, sync, wdelay, hide, no_subtree_check, secure, root_squash.
_DEFAULTS = {
    "ro": True,
    "async": False,
    "wdelay": True,
    "hide": True,
    "crossmnt": False,
    "subtree_check": False,
    "secure": True,
    "root_squash": True,
    "all_squash": False,
    "secure_locks": True,
}


class ExportsError(Exception):
    pass


def _parse_options(text, where):
    flags, values = dict(_DEFAULTS), {}
    for option in filter(None, text.split(",")):
        name, sep, value = option.partition("=")
        if name in _PAIRS and not sep:
            key, on = _PAIRS[name]
            flags[key] = on
        elif name in _VALUED and sep and value:
            values[name] = value
        else:
            raise ExportsError(f'{where}: unknown keyword "{option}"')
    return flags, values


def render_options(flags, values):
    """The option list as nfs-utils 2.3 `exportfs -v` prints it (utils/exportfs/exportfs.c dump())."""
    out = [
        "async" if flags["async"] else "sync",
        "wdelay" if flags["wdelay"] else "no_wdelay",
        "hide" if flags["hide"] else "nohide",
    ]
    if flags["crossmnt"]:
        out.append("crossmnt")
    out.append("subtree_check" if flags["subtree_check"] else "no_subtree_check")
    if not flags["secure_locks"]:
        out.append("insecure_locks")
    for name in ("fsid", "anonuid", "anongid"):
        if name in values and not (name.startswith("anon") and values[name] == "65534"):
            out.append(f"{name}={values[name]}")
    out += [
        f"sec={values.get('sec', 'sys')}",
        "ro" if flags["ro"] else "rw",
        "secure" if flags["secure"] else "insecure",
        "root_squash" if flags["root_squash"] else "no_root_squash",
        "all_squash" if flags["all_squash"] else "no_all_squash",
    ]
    return ",".join(out)


def _parse_line(line, where):
    """One exports(5) line -> [(path, client, options)]; `-opts` defaults and bare clients included."""
    words = line.split()
    path, defaults, entries = words[0], "", []
    if not path.startswith("/"):
        raise ExportsError(f"{where}: bad path {path!r}")
    clients = words[1:] or ["*"]  # a path with no client is exported to the world, with a warning
    for word in clients:
        if word.startswith("-"):
            defaults = word[1:]
            continue
        client, _, rest = word.partition("(")
        if rest and not rest.endswith(")"):
            raise ExportsError(f"{where}: syntax error")
        options = ",".join(filter(None, [defaults, rest[:-1]]))
        entries.append((path, client or "*", options))
    return entries


def read_exports(fs):
    """Every export in /etc/exports then /etc/exports.d/*.exports: ([(path, client, flags, values)], errors)."""
    files = [EXPORTS] if fs.exists(EXPORTS) else []
    if fs.exists(EXPORTS_D) and fs.get(EXPORTS_D).is_dir:
        files += [
            posixpath.join(EXPORTS_D, n)
            for n in fs.listdir(EXPORTS_D)
            if n.endswith(".exports") and not n.startswith(".") and len(n) > len(".exports")
        ]
    exports, errors = [], []
    for name in files:
        for number, raw in enumerate(fs.read(name).decode(errors="replace").splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            where = f"{name}:{number}"
            try:
                for path, client, options in _parse_line(line, where):
                    exports.append((path, client, *_parse_options(options, where)))
            except ExportsError as exc:
                errors.append(str(exc))
    return exports, errors


def read_etab(fs):
    if not fs.exists(ETAB):
        return []
    table = []
    for line in fs.read(ETAB).decode().splitlines():
        path, _, rest = line.partition("\t")
        client, _, options = rest.partition("(")
        table.append((path, client, options.rstrip(")")))
    return table


@command("exportfs")
def exportfs(ctx):
    opts, args = ctx.opts("ravs")
    flags = {o for o, _ in opts}
    if args:
        raise Unsupported("exportfs: exporting or unexporting named client:/path is not implemented")
    status = 0
    if flags & {"-r", "-a"}:
        status = _export_all(ctx, replace="-r" in flags, verbose="-v" in flags)
        if "-s" not in flags:
            return status
    table = read_etab(ctx.fs)
    for path, client, options in table:
        if "-s" in flags:
            ctx.print(f"{path}  {client}({options})")
            continue
        shown = "<world>" if client == "*" else client
        head = f"{path}\n\t\t{shown}" if len(path) > 14 else f"{path:<14}\t{shown}"
        ctx.print(f"{head}({options})" if "-v" in flags else head)
    return status


def _export_all(ctx, replace, verbose):
    """-a adds every export in the files to the table; -r also drops the ones no longer there."""
    exported, errors = export_all(ctx.fs, replace)
    for error in errors:
        ctx.error(f"exportfs: {error}")
    if verbose:
        for path, client in exported:
            ctx.print(f"exporting {client}:{path}")
    return 1 if errors else 0


def export_all(fs, replace):
    """The table made from the exports files (`exportfs -a`, or `-r` with replace): ([(path, client)] exported,
    [errors]). nfs-server.service runs `exportfs -r` as it starts and reloads, and `exportfs -au` as it stops."""
    exports, errors = read_exports(fs)
    table, exported = ([] if replace else read_etab(fs)), []
    for path, client, flags, values in exports:
        try:
            node = fs.get(path)
        except FsError as exc:
            errors.append(f"Failed to stat {path}: {exc.strerror}")
            continue
        if not node.is_dir:
            errors.append(f"{path} is not a directory")
            continue
        entry = (path, client, render_options(flags, values))
        table = [e for e in table if e[:2] != entry[:2]] + [entry]
        exported.append((path, client))
    write_etab(fs, table)
    return exported, errors


def write_etab(fs, table):
    fs.mkdir(posixpath.dirname(ETAB), 0o755, parents=True)
    fs.write(ETAB, "".join(f"{p}\t{c}({o})\n" for p, c, o in table).encode())
