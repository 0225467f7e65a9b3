"""Writing files so that nothing is ever half-written or lost.

Outputs go to a hidden temporary file beside their final path and are renamed into
place only when complete; a failure or an interrupt removes the temporary file and
leaves whatever was at the final path before untouched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from mediaenhancer_core.errors import DiskFullError, OutputExistsError, OutputNotWritableError

__all__ = ["temp_path_for", "atomic_output", "atomic_write_text", "atomic_copy", "PARTIAL_MARK", "os_error"]

PARTIAL_MARK = ".partial-"


def temp_path_for(final: Path) -> Path:
    """A hidden sibling of ``final`` with the same extension (ffmpeg picks the muxer by it)."""
    return final.with_name(f".{final.stem}{PARTIAL_MARK}{secrets.token_hex(4)}{final.suffix}")


def os_error(exc: OSError, path: Path) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"{path}: the disk is full; free some space or write the output elsewhere", path=path)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return OutputNotWritableError(
            f"{path}: cannot write here ({exc.strerror}); choose another output folder with -o or --out-dir", path=path
        )
    return OutputNotWritableError(
        f"{path}: cannot write ({exc.strerror}); choose another output path with -o or --out-dir", path=path
    )


def ensure_parent(final: Path) -> None:
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, final.parent) from None
    if not os.access(final.parent, os.W_OK):
        raise OutputNotWritableError(
            f"{final.parent}: folder is not writable; choose another output folder with -o or --out-dir",
            path=final.parent,
        )


@contextlib.contextmanager
def atomic_output(final: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``final``, on any failure remove it.
    ``replace=False``: a file that appeared at ``final`` meanwhile is never replaced
    (:class:`OutputExistsError`; the new file is linked into place only where none is)."""
    ensure_parent(final)
    tmp = temp_path_for(final)
    try:
        yield tmp
        if not tmp.exists():
            raise OutputNotWritableError(f"{final}: nothing was written", path=final)
        try:
            if replace:
                os.replace(tmp, final)
            else:
                _link_new(tmp, final)
        except FileExistsError:
            raise OutputExistsError(f"{final} exists; pass --force to replace it", path=final) from None
        except OSError as exc:
            raise os_error(exc, final) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _link_new(tmp: Path, final: Path) -> None:
    """Put ``tmp`` at ``final`` only if nothing is there (atomically where hard links exist)."""
    try:
        os.link(tmp, final)  # fails with FileExistsError when something is there
    except FileExistsError:
        raise
    except OSError:  # no hard links on this filesystem (FAT, some network mounts): check, then rename
        if os.path.lexists(final):
            raise FileExistsError(final) from None
        os.replace(tmp, final)


def atomic_write_text(path: Path, text: str, *, replace: bool = True) -> None:
    with atomic_output(Path(path), replace=replace) as tmp:
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise os_error(exc, Path(path)) from None


def atomic_copy(src: Path, dst: Path) -> None:
    with atomic_output(dst) as tmp:
        try:
            shutil.copyfile(src, tmp)
        except OSError as exc:
            raise os_error(exc, dst) from None
