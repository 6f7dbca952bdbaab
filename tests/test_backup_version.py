"""The backup's Engine version is read from archives of any size: the copy is examined as it is spooled
(to disk past 64 MiB), never kept whole in memory."""
import contextlib
import io
import os
import tarfile

from providers.engine_backup import engine_version
from providers.ssh import copy_file


class LocalFiles:
    """The part of a Connection that copy_file uses (`sftp()`), over a local folder."""

    def __init__(self, root):
        self.root = root

    @contextlib.contextmanager
    def sftp(self):
        yield self

    def open(self, path, mode):
        handle = open(self.root / path.lstrip("/"), mode)
        handle.chmod = lambda mode: os.chmod(handle.name, mode)
        return handle

    def posix_rename(self, old, new):
        os.replace(self.root / old.lstrip("/"), self.root / new.lstrip("/"))


def archive(path, filler_bytes):
    """An engine-backup-like archive: a large member first, `./version` last."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        files = tarfile.TarInfo("./files")
        files.size = filler_bytes
        tar.addfile(files, io.BytesIO(os.urandom(filler_bytes)))
        version = tarfile.TarInfo("./version")
        version.size = len(b"4.5.6\n")
        tar.addfile(version, io.BytesIO(b"4.5.6\n"))


def test_a_backup_larger_than_the_memory_spool_still_gives_its_version(tmp_path):
    source, target = tmp_path / "engine", tmp_path / "backup"
    source.mkdir(), target.mkdir()
    archive(source / "engine.backup", 70 << 20)
    copied = copy_file(LocalFiles(source), "/engine.backup", LocalFiles(target), "/engine.backup",
                       examine=engine_version)
    assert copied.size > 64 << 20 and copied.examined == "4.5.6"
    assert (target / "engine.backup").stat().st_size == copied.size
