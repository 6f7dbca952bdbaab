"""In-memory POSIX-like filesystem for one simulated host.

Paths are kept in a flat dict keyed by normalised absolute path; this keeps
lookups trivial and the state easy to serialise to JSON.
"""

import base64
import errno
import fnmatch
import posixpath
import stat as statmod
import time
from dataclasses import dataclass, field


class FsError(OSError):
    """A filesystem error carrying a real errno, so tools can print strerror."""

    def __init__(self, code, path):
        super().__init__(code, _STRERROR[code], path)


_STRERROR = {
    errno.ENOENT: "No such file or directory",
    errno.EEXIST: "File exists",
    errno.EISDIR: "Is a directory",
    errno.ENOTDIR: "Not a directory",
    errno.ENOTEMPTY: "Directory not empty",
    errno.EINVAL: "Invalid argument",
    errno.EBUSY: "Device or resource busy",
}


@dataclass
class Node:
    """One file or directory; mode holds permission bits only."""

    kind: str  # "file" or "dir"
    mode: int
    uid: int = 0
    gid: int = 0
    mtime: float = field(default_factory=time.time)
    data: bytes = b""

    @property
    def is_dir(self):
        return self.kind == "dir"

    @property
    def size(self):
        return 4096 if self.is_dir else len(self.data)

    @property
    def st_mode(self):
        """Full st_mode with file-type bits, as stat(2) reports it."""
        kind = statmod.S_IFDIR if self.is_dir else statmod.S_IFREG
        return kind | self.mode

    def to_json(self):
        out = {"kind": self.kind, "mode": self.mode, "uid": self.uid, "gid": self.gid, "mtime": self.mtime}
        if not self.is_dir:
            out["data"] = base64.b64encode(self.data).decode()
        return out

    @classmethod
    def from_json(cls, d):
        return cls(
            kind=d["kind"],
            mode=d["mode"],
            uid=d["uid"],
            gid=d["gid"],
            mtime=d["mtime"],
            data=base64.b64decode(d.get("data", "")),
        )


def normpath(path, cwd="/"):
    """Absolute, normalised path (no trailing slash, no '..')."""
    path = posixpath.join(cwd, path)
    norm = posixpath.normpath(path)
    return "/" + norm.lstrip("/")


class VirtualFS:
    """The host's files. Callers pass absolute or cwd-relative paths."""

    def __init__(self, nodes=None):
        self.nodes = nodes if nodes is not None else {"/": Node("dir", 0o555)}

    # --- lookup -------------------------------------------------------
    def get(self, path):
        node = self.nodes.get(normpath(path))
        if node is None:
            self._check_parents(normpath(path))
            raise FsError(errno.ENOENT, path)
        return node

    def exists(self, path):
        return normpath(path) in self.nodes

    def _check_parents(self, path):
        """Raise ENOTDIR when a path component is a regular file."""
        parent = posixpath.dirname(path)
        while parent != "/":
            node = self.nodes.get(parent)
            if node is not None and not node.is_dir:
                raise FsError(errno.ENOTDIR, path)
            parent = posixpath.dirname(parent)

    def _parent_dir(self, path):
        parent = self.nodes.get(posixpath.dirname(path))
        if parent is None:
            self._check_parents(path)
            raise FsError(errno.ENOENT, path)
        if not parent.is_dir:
            raise FsError(errno.ENOTDIR, path)
        return parent

    def listdir(self, path):
        """Names directly inside a directory, sorted."""
        path = normpath(path)
        if not self.get(path).is_dir:
            raise FsError(errno.ENOTDIR, path)
        prefix = path.rstrip("/") + "/"
        return sorted(
            p[len(prefix) :] for p in self.nodes if p.startswith(prefix) and p != prefix and "/" not in p[len(prefix) :]
        )

    def walk(self, path):
        """The path and, for a directory, everything below it."""
        path = normpath(path)
        self.get(path)
        prefix = path.rstrip("/") + "/"
        return [path] + sorted(p for p in self.nodes if p.startswith(prefix))

    def glob(self, pattern, cwd="/"):
        """Expand a shell pattern component by component, like sh does."""
        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        bases = ["/"] if absolute else [cwd]
        for part in parts:
            nxt = []
            for base in bases:
                if not any(c in part for c in "*?["):
                    candidate = posixpath.join(base, part)
                    if normpath(candidate) in self.nodes:
                        nxt.append(candidate)
                    continue
                try:
                    names = self.listdir(base)
                except FsError:
                    continue
                nxt += [
                    posixpath.join(base, n)
                    for n in names
                    if fnmatch.fnmatchcase(n, part) and (part.startswith(".") or not n.startswith("."))
                ]
            bases = nxt
        if absolute:
            return sorted(bases)
        return sorted(posixpath.relpath(b, cwd) for b in bases)

    # --- mutation -----------------------------------------------------
    def read(self, path):
        node = self.get(path)
        if node.is_dir:
            raise FsError(errno.EISDIR, path)
        return node.data

    def write(self, path, data, mode=0o644, uid=0, gid=0, append=False):
        """Create or replace (or append to) a regular file's content."""
        key = normpath(path)
        node = self.nodes.get(key)
        if node is None:
            self._parent_dir(key)
            node = self.nodes[key] = Node("file", mode, uid, gid, data=b"")
        elif node.is_dir:
            raise FsError(errno.EISDIR, path)
        node.data = node.data + data if append else data
        node.mtime = time.time()
        return node

    def mkdir(self, path, mode=0o755, uid=0, gid=0, parents=False):
        key = normpath(path)
        if key in self.nodes:
            if parents and self.nodes[key].is_dir:
                return self.nodes[key]
            raise FsError(errno.EEXIST, path)
        if parents:
            parent = posixpath.dirname(key)
            if parent not in self.nodes:
                self.mkdir(parent, 0o755, 0, 0, parents=True)
        self._parent_dir(key)
        node = self.nodes[key] = Node("dir", mode, uid, gid)
        return node

    def remove(self, path, recursive=False):
        key = normpath(path)
        node = self.get(key)
        if node.is_dir:
            if key == "/":
                raise FsError(errno.EBUSY, path)
            if not recursive and self.listdir(key):
                raise FsError(errno.ENOTEMPTY, path)
            for p in self.walk(key):
                del self.nodes[p]
        else:
            del self.nodes[key]

    def rename(self, src, dst):
        """Move src (and its subtree) to dst, replacing a file at dst."""
        skey, dkey = normpath(src), normpath(dst)
        self.get(skey)
        self._parent_dir(dkey)
        if dkey.startswith(skey + "/"):
            raise FsError(errno.EINVAL, dst)
        target = self.nodes.get(dkey)
        if target is not None and target.is_dir:
            if not self.nodes[skey].is_dir:
                raise FsError(errno.EISDIR, dst)
            if self.listdir(dkey):
                raise FsError(errno.ENOTEMPTY, dst)
        for p in self.walk(skey):
            self.nodes[dkey + p[len(skey) :]] = self.nodes.pop(p)

    # --- persistence --------------------------------------------------
    def to_json(self):
        return {p: n.to_json() for p, n in sorted(self.nodes.items())}

    @classmethod
    def from_json(cls, d):
        return cls({p: Node.from_json(n) for p, n in d.items()})
