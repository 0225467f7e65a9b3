"""Temporary work folders that say whether the process using them is still alive.

Analysis files, render intermediates and downloaded sources live in a work folder under
``temp_dir`` (the ``MEDIAENHANCER_TEMP_DIR`` setting, else the system's temporary folder). A
process that is killed outright (SIGKILL, a lost machine) cannot remove its folder, so every
folder made here holds an ``.owner`` file that its process keeps locked (``flock``) while it
works; the kernel drops the lock when the process dies, however it dies. :func:`reap` (run
when a worker or the server starts, and by ``mediaenhancer enhance``) removes the folders
whose lock is free, and never one a live process holds.

The lock file is locked under a temporary name and only then renamed to ``.owner``, so a reaper
can never see an ``.owner`` file that is not locked yet. Folders without one are left alone
unless they are older than :data:`UNOWNED_AGE` (made by an older version, or by a process that
died between creating the folder and locking it).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from mediaenhancer_core.errors import TempDirError

__all__ = ["make_workdir", "remove_workdir", "workdir", "reap", "PREFIX", "OWNER", "UNOWNED_AGE"]

log = logging.getLogger("mediaenhancer.workdirs")

PREFIX = "mediaenhancer-"
OWNER = ".owner"
UNOWNED_AGE = 6 * 3600.0  # seconds

_held: dict[str, int] = {}  # folder -> the descriptor holding its lock
_lock = threading.Lock()

try:
    import fcntl
except ImportError:  # Windows: folders are made and removed, but not reaped after a crash
    fcntl = None  # type: ignore[assignment]


def _temp_root(temp_dir: Path | None) -> Path:
    return Path(temp_dir) if temp_dir is not None else Path(tempfile.gettempdir())


def _unusable(temp_dir: Path | None, exc: OSError) -> TempDirError:
    folder = _temp_root(temp_dir)
    reason = exc.strerror or exc.__class__.__name__
    if exc.errno == errno.ENOTDIR or (folder.exists() and not folder.is_dir()):
        reason = "it is a file, not a folder" if folder.exists() else "a part of its path is a file"
    if temp_dir is not None:
        return TempDirError(
            f"MEDIAENHANCER_TEMP_DIR={folder}: cannot make work files there ({reason}); "
            "point MEDIAENHANCER_TEMP_DIR at a writable folder or unset it",
            path=folder,
        )
    return TempDirError(
        f"the temporary folder {folder} cannot be used ({reason}); set MEDIAENHANCER_TEMP_DIR to a writable folder",
        path=folder,
    )


def make_workdir(prefix: str = PREFIX, temp_dir: Path | None = None) -> Path:
    """A new work folder under ``temp_dir`` (made if missing), owned by this process until
    :func:`remove_workdir`. Raises :class:`TempDirError` when the folder cannot be made."""
    if not prefix.startswith(PREFIX):
        prefix = PREFIX + prefix
    try:
        if temp_dir is not None:
            Path(temp_dir).mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=temp_dir))
    except OSError as exc:
        raise _unusable(temp_dir, exc) from None
    if fcntl is not None:
        try:
            pending = folder / f".owner-{os.getpid()}"
            fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, f"{os.getpid()}\n".encode())
            os.rename(pending, folder / OWNER)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise _unusable(temp_dir, exc) from None
        with _lock:
            _held[str(folder)] = fd
    return folder


def remove_workdir(folder: Path) -> None:
    """Remove a folder made by :func:`make_workdir` (and give up its lock)."""
    shutil.rmtree(folder, ignore_errors=True)
    with _lock:
        fd = _held.pop(str(folder), None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


@contextlib.contextmanager
def workdir(prefix: str = PREFIX, temp_dir: Path | None = None) -> Iterator[Path]:
    folder = make_workdir(prefix, temp_dir)
    try:
        yield folder
    finally:
        remove_workdir(folder)


def reap(temp_dir: Path | None = None, *, now: float | None = None) -> list[Path]:
    """Remove the work folders under ``temp_dir`` that no live process owns; returns them."""
    if fcntl is None:
        return []
    root = _temp_root(temp_dir)
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = [e for e in root.iterdir() if e.name.startswith(PREFIX)]
    except OSError:
        return []
    uid = os.getuid()
    for entry in entries:
        try:
            st = entry.lstat()
        except OSError:
            continue
        if not entry.is_dir() or entry.is_symlink() or st.st_uid != uid:
            continue
        with _lock:
            if str(entry) in _held:
                continue  # ours
        try:
            fd = os.open(entry / OWNER, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            if now - st.st_mtime > UNOWNED_AGE:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
            continue
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live process holds it
            shutil.rmtree(entry, ignore_errors=True)  # while holding the lock: nobody can claim it meanwhile
            removed.append(entry)
        finally:
            os.close(fd)
    if removed:
        log.warning(
            "removed %d work folder(s) left by processes that died: %s",
            len(removed),
            ", ".join(p.name for p in removed),
        )
    return removed
