"""Users and groups read from (and written to) the host's /etc files.

The virtual /etc/passwd and /etc/group are the only source of truth, so a
`groupadd` is visible to `cat /etc/group` and to `getent` alike.
"""

from dataclasses import dataclass

PASSWD = "/etc/passwd"
GROUP = "/etc/group"


@dataclass
class User:
    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str

    def line(self):
        return f"{self.name}:x:{self.uid}:{self.gid}:{self.gecos}:{self.home}:{self.shell}"


@dataclass
class Group:
    name: str
    gid: int
    members: list

    def line(self):
        return f"{self.name}:x:{self.gid}:{','.join(self.members)}"


def _lines(fs, path):
    if not fs.exists(path):
        return []
    text = fs.read(path).decode()
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def users(fs):
    out = []
    for ln in _lines(fs, PASSWD):
        f = ln.split(":")
        out.append(User(f[0], int(f[2]), int(f[3]), f[4], f[5], f[6]))
    return out


def groups(fs):
    out = []
    for ln in _lines(fs, GROUP):
        f = ln.split(":")
        out.append(Group(f[0], int(f[2]), [m for m in f[3].split(",") if m]))
    return out


def find_user(fs, key):
    """A user by name, or by number when key is all digits (like getpwnam/getpwuid)."""
    for u in users(fs):
        if u.name == key:
            return u
    if key.isdigit():
        return next((u for u in users(fs) if u.uid == int(key)), None)
    return None


def find_group(fs, key):
    for g in groups(fs):
        if g.name == key:
            return g
    if key.isdigit():
        return next((g for g in groups(fs) if g.gid == int(key)), None)
    return None


def user_name(fs, uid):
    return next((u.name for u in users(fs) if u.uid == uid), None)


def group_name(fs, gid):
    return next((g.name for g in groups(fs) if g.gid == gid), None)


def append_line(fs, path, line):
    """Append an entry, keeping the file's owner and mode."""
    node = fs.get(path)
    data = node.data
    if data and not data.endswith(b"\n"):
        data += b"\n"
    fs.write(path, data + line.encode() + b"\n")


def save_groups(fs, group_list):
    fs.write(GROUP, "".join(g.line() + "\n" for g in group_list).encode())
