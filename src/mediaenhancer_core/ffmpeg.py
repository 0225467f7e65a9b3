"""Finding ffmpeg and running it.

A system ``ffmpeg`` (``MEDIAENHANCER_FFMPEG`` or on PATH) is preferred; otherwise
the static binary bundled with the ``imageio-ffmpeg`` wheel is used, so
``pip install mediaenhancer`` is enough on a fresh machine. ``ffprobe`` is used
when it sits beside that ffmpeg or on PATH; without it, probing falls back to PyAV.

:func:`run` starts ffmpeg with an argument list (never a shell string), reads its
``-progress`` output to report progress, keeps only the stderr lines the caller
asks for (memory stays flat however long the media), and stops ffmpeg when the
caller cancels or the process is interrupted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CancelledError, DiskFullError, FFmpegNotFoundError, FFmpegTooOldError, RenderError

__all__ = ["FFmpegTools", "locate_ffmpeg", "run", "RunResult", "CancelToken", "MIN_VERSION", "REQUIRED_FILTERS", "PIPE_OUT"]

log = logging.getLogger("mediaenhancer.ffmpeg")

MIN_VERSION = (5, 1)
REQUIRED_FILTERS = frozenset(
    {
        "ebur128", "astats", "silencedetect", "afftdn", "highpass", "bandreject", "bandpass",
        "adeclip", "alimiter", "volume", "aresample", "signalstats", "blackdetect", "freezedetect",
        "hqdn3d", "eq", "unsharp", "scale", "fps", "select", "aselect", "setpts", "asetpts",
        "metadata", "anullsink", "nullsink", "asplit", "split", "median", "psnr",
    }
)
INSTALL_HINT = (
    "install ffmpeg 5.1 or newer (e.g. `apt install ffmpeg`), set MEDIAENHANCER_FFMPEG to its path, "
    "or reinstall mediaenhancer so its bundled ffmpeg (imageio-ffmpeg) is present"
)


@dataclass(frozen=True)
class FFmpegTools:
    ffmpeg: Path
    ffprobe: Path | None
    version: tuple[int, ...]
    version_text: str
    source: str  # "setting", "path" or "bundled"
    has_vidstab: bool = True
    threads: int = 0

    def describe(self) -> str:
        probe = str(self.ffprobe) if self.ffprobe else "PyAV (no ffprobe found)"
        return f"ffmpeg {self.version_text} ({self.source}: {self.ffmpeg}); probe: {probe}"


_VERSION_RE = re.compile(r"ffmpeg version (?:n)?(\d+)\.(\d+)(?:\.(\d+))?")
_cache: dict[tuple[str, float], tuple[tuple[int, ...], str, frozenset[str]]] = {}
_cache_lock = threading.Lock()


def _bundled_ffmpeg() -> Path | None:
    try:
        import imageio_ffmpeg  # noqa: PLC0415 - lazy: only needed without a system ffmpeg
    except ImportError:
        return None
    bin_dir = Path(imageio_ffmpeg.__file__).parent / "binaries"
    for candidate in sorted(bin_dir.glob("ffmpeg-*")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _inspect(binary: Path, cache_dir: Path | None = None) -> tuple[tuple[int, ...], str, frozenset[str]]:
    try:
        st = binary.stat()
    except OSError:
        raise FFmpegNotFoundError(f"ffmpeg not found at {binary}; {INSTALL_HINT}", path=binary) from None
    key = (str(binary), st.st_mtime)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    disk_key = hashlib.sha256(f"{binary.resolve()}|{st.st_mtime_ns}|{st.st_size}".encode()).hexdigest()[:24]
    cache_file = cache_dir / f"ffmpeg-{disk_key}.json" if cache_dir else None
    if cache_file is not None:
        try:
            data = json.loads(cache_file.read_text("utf-8"))
            result = (tuple(data["version"]), str(data["text"]), frozenset(data["filters"]))
            with _cache_lock:
                _cache[key] = result
            return result
        except (OSError, ValueError, KeyError, TypeError):
            pass
    try:
        out = subprocess.run([str(binary), "-hide_banner", "-version"], capture_output=True, text=True, timeout=30)
        filters = subprocess.run([str(binary), "-hide_banner", "-filters"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise FFmpegNotFoundError(f"cannot run ffmpeg at {binary} ({exc}); {INSTALL_HINT}", path=binary) from None
    first = (out.stdout.splitlines() or [""])[0]
    match = _VERSION_RE.search(first)
    text = first.split(" Copyright")[0].replace("ffmpeg version ", "").strip() or "unknown"
    # Git builds ("N-1234-g...") carry no release number: treat them as new enough
    # and rely on the filter check below.
    version = tuple(int(g) for g in match.groups() if g is not None) if match else (99,)
    names = frozenset(
        parts[1]
        for line in filters.stdout.splitlines()
        if (parts := line.split()) and len(parts) >= 3 and len(parts[0]) in (2, 3) and parts[0] != "="
    )
    result = (version, text, names)
    with _cache_lock:
        _cache[key] = result
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": list(version), "text": text, "filters": sorted(names)}), "utf-8")
            os.replace(tmp, cache_file)
        except OSError:
            pass  # a cache is an optimisation only
    return result


def locate_ffmpeg(
    ffmpeg: Path | None = None,
    ffprobe: Path | None = None,
    *,
    path_env: str | None = None,
    threads: int = 0,
    cache_dir: Path | None = None,
) -> FFmpegTools:
    """Find a usable ffmpeg (and ffprobe when there is one).

    ``ffmpeg``/``ffprobe`` are explicit paths from settings; ``path_env`` is the
    PATH to search (passed in by the front end).
    """
    source = "setting"
    binary: Path | None = None
    if ffmpeg is not None:
        binary = Path(ffmpeg)
        if binary.is_dir() or not binary.exists():
            found = shutil.which(str(binary), path=path_env)
            if not found:
                raise FFmpegNotFoundError(
                    f"MEDIAENHANCER_FFMPEG points to {binary}, which is not an executable file; fix the path or unset it",
                    path=binary,
                )
            binary = Path(found)
    else:
        found = shutil.which("ffmpeg", path=path_env)
        if found:
            binary, source = Path(found), "path"
        else:
            binary, source = _bundled_ffmpeg(), "bundled"
    if binary is None:
        raise FFmpegNotFoundError(f"no ffmpeg found on PATH and no bundled ffmpeg; {INSTALL_HINT}")

    version, text, filters = _inspect(binary, cache_dir)
    if version < MIN_VERSION:
        raise FFmpegTooOldError(
            f"ffmpeg {text} at {binary} is too old (need {'.'.join(map(str, MIN_VERSION))} or newer); {INSTALL_HINT}",
            path=binary,
        )
    missing = sorted(REQUIRED_FILTERS - filters)
    if missing:
        raise FFmpegTooOldError(
            f"ffmpeg at {binary} lacks the filters {', '.join(missing)}; {INSTALL_HINT}",
            path=binary,
        )

    probe: Path | None = None
    if ffprobe is not None:
        probe = Path(ffprobe)
        if not probe.is_file():
            raise FFmpegNotFoundError(
                f"MEDIAENHANCER_FFPROBE points to {probe}, which is not a file; fix the path or unset it", path=probe
            )
    elif source != "bundled":
        beside = binary.with_name("ffprobe" + binary.suffix)
        if beside.is_file() and os.access(beside, os.X_OK):
            probe = beside
        elif found_probe := shutil.which("ffprobe", path=path_env):
            probe = Path(found_probe)
    return FFmpegTools(
        ffmpeg=binary,
        ffprobe=probe,
        version=version,
        version_text=text,
        source=source,
        has_vidstab={"vidstabdetect", "vidstabtransform"} <= filters,
        threads=threads,
    )


# --------------------------------------------------------------------------- running


class CancelToken:
    """Set from another thread (or a signal handler) to stop running ffmpeg processes."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


@dataclass
class RunResult:
    returncode: int
    kept: list[str] = field(default_factory=list)  # stderr lines matched by `keep`
    tail: list[str] = field(default_factory=list)  # the last stderr lines, for error messages


ProgressFn = Callable[[float], None]  # seconds of media processed so far


_DISK_FULL = ("No space left on device", "Disk quota exceeded")

# Put this in the argument list where an output file would go to have ffmpeg write that output into a
# pipe that ``run(..., read_pipe=...)`` reads (ffmpeg sees ``pipe:N``, N the pipe's descriptor).
PIPE_OUT = "\x00mediaenhancer-pipe-out"


def run(
    args: Sequence[str],
    *,
    keep: Callable[[str], bool] | None = None,
    on_progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    what: str = "ffmpeg",
    path: Path | None = None,
    check: bool = True,
    write_stdin: Callable[[BinaryIO], None] | None = None,
    read_pipe: Callable[[BinaryIO], None] | None = None,
) -> RunResult:
    """Run ffmpeg (``args[0]``) and wait for it.

    ``keep`` selects stderr lines to return; the last 40 lines are kept anyway for
    error messages. Progress comes from ``-progress pipe:1`` which this adds.

    Streaming through Python: ``write_stdin`` is called in a thread with ffmpeg's standard
    input (read it with ``-i pipe:0``) and the pipe is closed when it returns; ``read_pipe``
    is called in a thread with the read end of a pipe whose write end ffmpeg gets where
    :data:`PIPE_OUT` stands in ``args``. An exception in either stops ffmpeg and is raised here.
    """
    stdin_flag = ["-nostdin"] if write_stdin is None else []  # -nostdin would stop ffmpeg reading pipe:0
    argv = [args[0], "-hide_banner", *stdin_flag, "-nostats", "-progress", "pipe:1", *args[1:]]
    pipe_r = pipe_w = -1
    if read_pipe is not None:
        pipe_r, pipe_w = os.pipe()
        argv = [f"pipe:{pipe_w}" if a == PIPE_OUT else a for a in argv]
    log.debug("%s: %s", what, shlex.join(argv))
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if write_stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            bufsize=1,
            pass_fds=(pipe_w,) if read_pipe is not None else (),
        )
    except OSError as exc:
        if read_pipe is not None:
            os.close(pipe_r)
            os.close(pipe_w)
        raise FFmpegNotFoundError(f"cannot start {args[0]} ({exc.strerror}); {INSTALL_HINT}") from None
    if read_pipe is not None:
        os.close(pipe_w)  # only ffmpeg writes: the reader sees the end when ffmpeg exits
    failures: list[BaseException] = []

    def guarded(fn: Callable[[BinaryIO], None], stream: BinaryIO) -> Callable[[], None]:
        def body() -> None:
            try:
                fn(stream)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                failures.append(exc)
                _stop(proc)
            finally:
                try:
                    stream.close()
                except OSError:
                    pass

        return body

    workers: list[threading.Thread] = []
    if write_stdin is not None:
        assert proc.stdin is not None
        workers.append(threading.Thread(target=guarded(write_stdin, proc.stdin.buffer), daemon=True))
    if read_pipe is not None:
        workers.append(threading.Thread(target=guarded(read_pipe, os.fdopen(pipe_r, "rb")), daemon=True))

    kept: list[str] = []
    tail: deque[str] = deque(maxlen=40)

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            line = line.rstrip("\n")
            if keep is not None and keep(line):
                kept.append(line)
            tail.append(line)

    def read_progress() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if on_progress is not None and line.startswith("out_time_us="):
                value = line.split("=", 1)[1].strip()
                if value.lstrip("-").isdigit() and int(value) >= 0:
                    on_progress(int(value) / 1_000_000)

    readers = [threading.Thread(target=read_stderr, daemon=True), threading.Thread(target=read_progress, daemon=True)]
    for t in readers:
        t.start()
    if cancel is not None:

        def watch() -> None:
            while proc.poll() is None:
                if cancel.wait(0.2):
                    _stop(proc)
                    return

        threading.Thread(target=watch, daemon=True).start()
    for t in workers:
        t.start()
    interrupted: BaseException | None = None
    try:
        proc.wait()
        for t in workers:
            t.join()
    except BaseException as exc:  # KeyboardInterrupt / SystemExit: stop ffmpeg before unwinding
        interrupted = exc
        _stop(proc)
    finally:
        for t in readers:
            t.join(timeout=5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if interrupted is not None:
        raise interrupted
    if cancel is not None and cancel.cancelled:
        raise CancelledError(f"{what} {cancel.reason}", path=path)
    if failures:
        raise failures[0]

    result = RunResult(returncode=proc.returncode, kept=kept, tail=list(tail))
    # ffmpeg 5.1 exits 0 when writing the trailer fails (e.g. the disk filled up)
    write_failed = any(m in line for line in result.tail for m in (*_DISK_FULL, "Error writing trailer", "Error closing file"))
    if check and (proc.returncode != 0 or write_failed):
        raise_for_failure(result, what=what, path=path)
    return result


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=1)  # the output is thrown away: no need for a graceful encoder flush
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except ProcessLookupError:
        pass


def raise_for_failure(result: RunResult, *, what: str, path: Path | None) -> None:
    text = "\n".join(result.tail)
    if any(marker in text for marker in _DISK_FULL):
        raise DiskFullError(
            f"{path or what}: the disk is full; free some space or write the output elsewhere (-o/--out-dir)",
            path=path,
        )
    reason = _last_error_line(result.tail)
    raise RenderError(f"{path or ''}: {what} failed: {reason}".lstrip(": "), path=path)


_NOISE = re.compile(r"^\s*(Stream mapping|Press \[q\]|Output #|Input #|  Stream #|    Metadata|Conversion failed)")


def _last_error_line(lines: Iterable[str]) -> str:
    candidates = [ln.strip() for ln in lines if ln.strip() and not _NOISE.match(ln)]
    for line in reversed(candidates):
        if any(w in line.lower() for w in ("error", "invalid", "failed", "cannot", "unable", "no such")):
            return re.sub(r"^\[[^\]]+\]\s*", "", line)
    return candidates[-1] if candidates else "unknown error"
