"""Files that are never half-written: the bottom layer every other one may use (it imports no genzoo module).

An atomic write goes to a temporary file in the same folder, is fsynced, then renamed over the target (rename
is atomic on POSIX), so a crash leaves either the old file or the new one, never a torn mix.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in folder `path` durable (the folder's own metadata)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


@functools.cache
def umask() -> int:
    """The process's umask. tempfile makes files 0o600 and folders 0o700; run files get the modes open() and
    mkdir() would give instead, or a run folder shared with a group would hold files only its writer can read."""
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, rename over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (a data set's archive need not fit in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


LOCK_FILE = ".lock"


class FolderBusy(Exception):
    """Another live process holds the folder's lock; `holder` is what it wrote about itself ({} if unreadable)."""

    def __init__(self, folder: Path, holder: dict):
        super().__init__(f"{folder} is locked by {holder or 'another process'}")
        self.folder, self.holder = folder, holder


class FolderLock:
    """One writer per folder: an exclusive flock(2) on folder/.lock, held from acquire() to release().

    The kernel drops a flock when its process ends in any way (kill -9, power loss: the lock is gone after a
    reboot), so a lock file left behind by a dead writer is simply taken over; no PID liveness guessing. The file
    holds the holder's PID, host, command and start time, for the message the next writer gets. release()
    removes it. Between open() and flock() another process may have released and removed the file, so the lock
    counts only if the path still names the locked file (else it is tried again). flock is reliable on local
    Linux and macOS file systems; on NFS and other network file systems it may not be."""

    def __init__(self, folder: Path, holder: dict):
        self.path = Path(folder) / LOCK_FILE
        self.holder = holder
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock (creating the folder if needed) or raise FolderBusy at once; never waits."""
        import fcntl  # POSIX only; imported here so that the module imports everywhere

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while self.fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(fd)
                os.close(fd)
                raise FolderBusy(self.path.parent, holder) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # released and removed by its holder in between: lock the file that is there now
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(self.holder).encode())
            self.fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock (a no-op when not held)."""
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def read_holder(fd: int) -> dict:
    """What a lock's holder wrote about itself ({} while it is still writing it, or if it is not JSON)."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}
