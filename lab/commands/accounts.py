"""Account tools: id, getent (glibc) and groupadd/useradd (shadow-utils exit values)."""

from lab import accounts
from lab.commands import command
from lab.transport.shell import Unsupported

# shadow-utils EXIT VALUES (groupadd(8), useradd(8))
E_USAGE, E_BAD_ARG, E_GID_IN_USE, E_NOTFOUND, E_NAME_IN_USE = 2, 3, 4, 6, 9
E_UID_IN_USE = 4
FIRST_SYSTEM_ID, FIRST_USER_ID = 201, 1000  # EL8 login.defs SYS_*_MIN / *_MIN


@command("id")
def id_(ctx):
    opts, args = ctx.opts("ugGn", ["user", "group", "groups", "name"])
    flags = {o for o, _ in opts}
    if len(args) > 1:
        ctx.error(f"id: extra operand '{args[1]}'")
        return 1
    user = accounts.find_user(ctx.fs, args[0] if args else "root")
    if user is None:
        ctx.error(f"id: '{args[0]}': no such user")
        return 1
    gids = [user.gid] + [g.gid for g in accounts.groups(ctx.fs) if user.name in g.members and g.gid != user.gid]
    names = {"-n", "--name"} & flags
    if flags & {"-u", "--user"}:
        ctx.print(user.name if names else str(user.uid))
    elif flags & {"-g", "--group"}:
        ctx.print(_gname(ctx, user.gid) if names else str(user.gid))
    elif flags & {"-G", "--groups"}:
        ctx.print(" ".join(_gname(ctx, g) if names else str(g) for g in gids))
    else:
        groups = ",".join(f"{g}({_gname(ctx, g)})" for g in gids)
        ctx.print(f"uid={user.uid}({user.name}) gid={user.gid}({_gname(ctx, user.gid)}) groups={groups}")
    return 0


def _gname(ctx, gid):
    return accounts.group_name(ctx.fs, gid) or str(gid)


GETENT_DATABASES = {}  # database -> fn(ctx, keys) -> exit status; `hosts` is in commands/names.py


def getent_database(name):
    def register(func):
        GETENT_DATABASES[name] = func
        return func

    return register


@command("getent")
def getent(ctx):
    """getent DATABASE [KEY...]: exit 2 when a key is not found (getent(1))."""
    if not ctx.args:
        ctx.error("getent: wrong number of arguments")
        return 1
    database, keys = ctx.args[0], ctx.args[1:]
    if database not in GETENT_DATABASES:
        raise Unsupported(f"getent: database not implemented: {database}")
    return GETENT_DATABASES[database](ctx, keys)


@getent_database("passwd")
@getent_database("group")
def _accounts(ctx, keys):
    database = ctx.args[0]
    find = accounts.find_user if database == "passwd" else accounts.find_group
    if not keys:
        entries = accounts.users(ctx.fs) if database == "passwd" else accounts.groups(ctx.fs)
        for entry in entries:
            ctx.print(entry.line())
        return 0
    status = 0
    for key in keys:
        entry = find(ctx.fs, key)
        if entry is None:
            status = 2
        else:
            ctx.print(entry.line())
    return status


def _parse_id(ctx, text, what):
    if not text.isdigit():
        ctx.error(f"{ctx.name}: invalid {what} ID '{text}'")
        return None
    return int(text)


def _free_id(taken, system):
    """Next free id the way shadow-utils allocates: system ids downwards, others upwards."""
    if system:
        return next(i for i in range(999, FIRST_SYSTEM_ID - 1, -1) if i not in taken)
    return next(i for i in range(FIRST_USER_ID, 60000) if i not in taken)


@command("groupadd")
def groupadd(ctx):
    opts, args = ctx.opts("g:rf", ["gid=", "system", "force"])
    opts = dict(opts)
    if len(args) != 1:
        ctx.error("Usage: groupadd [options] GROUP")
        return E_USAGE
    name = args[0]
    existing = accounts.groups(ctx.fs)
    force = "-f" in opts or "--force" in opts
    if any(g.name == name for g in existing):
        if force:
            return 0
        ctx.error(f"groupadd: group '{name}' already exists")
        return E_NAME_IN_USE
    taken = {g.gid for g in existing}
    gid_text = opts.get("-g", opts.get("--gid"))
    if gid_text is None:
        gid = _free_id(taken, "-r" in opts or "--system" in opts)
    else:
        gid = _parse_id(ctx, gid_text, "group")
        if gid is None:
            return E_BAD_ARG
        if gid in taken:
            if force:
                gid = _free_id(taken, False)
            else:
                ctx.error(f"groupadd: GID '{gid}' already exists")
                return E_GID_IN_USE
    accounts.append_line(ctx.fs, accounts.GROUP, accounts.Group(name, gid, []).line())
    return 0


@command("useradd")
def useradd(ctx):
    """useradd with -u -g -G -m -M -s -d -c -r; EL8 defaults (user groups, create home)."""
    opts, args = ctx.opts(
        "u:g:G:mMs:d:c:rNU",
        [
            "uid=",
            "gid=",
            "groups=",
            "create-home",
            "no-create-home",
            "shell=",
            "home-dir=",
            "comment=",
            "system",
            "no-user-group",
            "user-group",
        ],
    )
    if len(args) != 1:
        ctx.error("Usage: useradd [options] LOGIN")
        return E_USAGE
    o = {_LONG.get(k, k): v for k, v in opts}
    name = args[0]
    if accounts.find_user(ctx.fs, name) is not None and not name.isdigit():
        ctx.error(f"useradd: user '{name}' already exists")
        return E_NAME_IN_USE
    system = "-r" in o
    uid = _new_uid(ctx, o.get("-u"), system)
    if uid < 0:
        return -uid
    gid, new_group = _primary_group(ctx, name, o, uid, system)
    if gid < 0:
        return -gid
    extra = _supplementary(ctx, o.get("-G"))
    if extra is None:
        return E_NOTFOUND
    home = o.get("-d", f"/home/{name}")
    user = accounts.User(name, uid, gid, o.get("-c", ""), home, o.get("-s", "/bin/bash"))
    if new_group:
        accounts.append_line(ctx.fs, accounts.GROUP, accounts.Group(name, gid, []).line())
    _add_member(ctx, name, extra)
    accounts.append_line(ctx.fs, accounts.PASSWD, user.line())
    if ("-m" in o or not system) and "-M" not in o and not ctx.fs.exists(ctx.path(home)):
        ctx.fs.mkdir(ctx.path(home), 0o700, uid, gid, parents=True)
    return 0


_LONG = {
    "--uid": "-u",
    "--gid": "-g",
    "--groups": "-G",
    "--create-home": "-m",
    "--no-create-home": "-M",
    "--shell": "-s",
    "--home-dir": "-d",
    "--comment": "-c",
    "--system": "-r",
    "--no-user-group": "-N",
    "--user-group": "-U",
}


def _new_uid(ctx, text, system):
    """The uid to use, or -(exit status) after printing the error."""
    taken = {u.uid for u in accounts.users(ctx.fs)}
    if text is None:
        return _free_id(taken, system)
    uid = _parse_id(ctx, text, "user")
    if uid is None:
        return -E_BAD_ARG
    if uid in taken:
        ctx.error(f"useradd: UID {uid} is not unique")
        return -E_UID_IN_USE
    return uid


def _primary_group(ctx, name, o, uid, system):
    """(gid, whether a user private group must be created), or (-(exit status), False)."""
    if "-g" in o:
        group = accounts.find_group(ctx.fs, o["-g"])
        if group is None:
            ctx.error(f"useradd: group '{o['-g']}' does not exist")
            return -E_NOTFOUND, False
        return group.gid, False
    if "-N" in o:
        return 100, False
    if accounts.find_group(ctx.fs, name) is not None:
        ctx.error(f"useradd: group {name} exists - if you want to add this user to that group, use -g.")
        return -E_NAME_IN_USE, False
    taken = {g.gid for g in accounts.groups(ctx.fs)}
    return (uid if uid not in taken else _free_id(taken, system)), True


def _supplementary(ctx, text):
    if not text:
        return []
    names = []
    for key in text.split(","):
        group = accounts.find_group(ctx.fs, key)
        if group is None:
            ctx.error(f"useradd: group '{key}' does not exist")
            return None
        names.append(group.name)
    return names


def _add_member(ctx, user, group_names):
    if not group_names:
        return
    groups = accounts.groups(ctx.fs)
    for group in groups:
        if group.name in group_names and user not in group.members:
            group.members.append(user)
    accounts.save_groups(ctx.fs, groups)
