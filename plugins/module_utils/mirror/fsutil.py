"""Filesystem helpers: atomic, durable replacement of files, hashing, and the run lock."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import MirrorError
from .layout import Layout


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (a power cut must not lose it)."""
    fd = os.open(str(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".tmp-", suffix="-" + path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def holds(path: Path, data: bytes) -> bool:
    """True when ``path`` is a readable file whose content is exactly ``data``."""
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def write_if_changed(path: Path, data: bytes) -> bool:
    """atomic_write unless the file already holds exactly ``data``; True when it wrote."""
    if holds(path, data):
        return False
    atomic_write(path, data)
    return True


def publish(src: Path, dest: Path) -> None:
    """Atomically move a complete, fsync'd file into its visible place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(src, 0o644)
    os.replace(src, dest)
    fsync_dir(dest.parent)


def link_into_place(src: Path, dest: Path, inode: tuple[int, int]) -> None:
    """Make ``dest`` a hard link of ``src`` atomically; ``src`` keeps its name.

    ``inode`` is the (st_dev, st_ino) the caller verified: if ``src`` was renamed over since,
    the link is dropped instead of published.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = dest.parent / f".tmp-{secrets.token_hex(4)}-{dest.name}"
        try:
            os.link(src, tmp, follow_symlinks=False)
            break
        except FileExistsError:
            continue
    try:
        linked = os.lstat(tmp)
        if (linked.st_dev, linked.st_ino) != inode:
            raise MirrorError(f"{src} changed while it was being published; run again")
        publish(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def sha256_of(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return sha256_of(handle)


def existing_ancestor(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest parent that does."""
    return next(folder for folder in (path, *path.parents) if folder.exists())


def free_bytes(path: Path) -> int | None:
    """Bytes an unprivileged writer can still use on the filesystem of ``path`` (or of the
    folder it would be created in); None when that cannot be read."""
    try:
        info = os.statvfs(existing_ancestor(Path(path)))
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


@contextlib.contextmanager
def run_lock(layout: Layout, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on a mirror (or index) root so two runs never write the same
    files. Fails at once when another run holds it, unless ``wait``: then takes it when that
    run ends.
    """
    layout.state.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            message = f"another pypi-mirror run holds {layout.lock}; wait for it to finish"
            raise MirrorError(message) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
