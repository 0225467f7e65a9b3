"""Files and folders only the server's own user may read (issue 12): folders 0700, files 0600.

The database, the media kept by the local storage backend, the queue file and the server keys
hold other people's data; the process umask (often 022) would leave them readable by every
local user. These helpers set the modes explicitly, whatever the umask.

    make_dirs(root / "media" / user_id)        # each folder it creates is 0700
    with open_private(path, "wb") as fh: ...   # created 0600 (O_EXCL unless exist_ok)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

__all__ = ["make_dirs", "open_private", "touch_private", "FOLDER_MODE", "FILE_MODE"]

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_dirs(path: Path | str) -> Path:
    """``mkdir -p`` where every folder created is 0700 (existing ones are left as they are)."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is filtered by the umask
    return path


def open_private(path: Path | str, mode: str = "wb", *, exist_ok: bool = False) -> IO[Any]:
    """Open a new file for writing, created 0600. ``exist_ok``: also open an existing one."""
    flags = os.O_WRONLY | os.O_CREAT | (0 if exist_ok else os.O_EXCL)
    if "a" in mode:
        flags |= os.O_APPEND
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode)
    except BaseException:
        os.close(fd)
        raise


def touch_private(path: Path | str) -> Path:
    """Create ``path`` empty and 0600 when it is missing (an existing file keeps its content and
    is narrowed to 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return Path(path)
