"""Finding ffmpeg and running it.

A system ``ffmpeg`` (``MEDIAENHANCER_FFMPEG`` or on PATH) is preferred; otherwise
the static binary bundled with the ``imageio-ffmpeg`` wheel is used, so
``pip install mediaenhancer`` is enough on a fresh machine. ``ffprobe`` is used
when it sits beside that ffmpeg or on PATH; without it, probing falls back to PyAV.

:func:`run` starts ffmpeg with an argument list (never a shell string), reads its
``-progress`` output to report progress, keeps only the stderr lines the caller
asks for (memory stays flat however long the media), and stops ffmpeg when the
caller cancels or the process is interrupted.

Every input ffmpeg reads is guarded here, in one place (:func:`media_input`, applied by
:func:`run` to each ``-i``, by :func:`probe_argv` to ffprobe and by :func:`open_av` to PyAV):
only the demuxers of the container families we accept (:data:`MEDIA_DEMUXERS`: none of them
opens another file), only the one protocol its source needs (``file`` for a path, ``pipe``,
or ``http``/``https`` over ``tcp`` for exactly the URL we built, without redirects). A file
that hides an HLS playlist or a concat list behind an ID3 tag can then make ffmpeg fetch
nothing: no URL, no other file on the machine.

Every ffmpeg and ffprobe starts in its own process group and, on Linux, dies with the thread
that started it (``PR_SET_PDEATHSIG``): a server or worker killed outright leaves no ffmpeg
running beside the retry of its job.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO, cast

from mediaenhancer_core.engine.filters import optional_ffmpeg_filters, required_ffmpeg_filters
from mediaenhancer_core.errors import CancelledError, DiskFullError, FFmpegNotFoundError, FFmpegTooOldError, RenderError

__all__ = [
    "FFmpegTools",
    "locate_ffmpeg",
    "run",
    "RunResult",
    "CancelToken",
    "MIN_VERSION",
    "REQUIRED_FILTERS",
    "ENGINE_FILTERS",
    "missing_filters",
    "optional_steps",
    "available_filters",
    "MEDIA_DEMUXERS",
    "media_input",
    "guard_inputs",
    "probe_argv",
    "run_probe",
    "ProbeTimeout",
    "open_av",
    "popen_options",
    "PIPE_OUT",
]

log = logging.getLogger("mediaenhancer.ffmpeg")

MIN_VERSION = (5, 1)
# The filters the engine runs itself, outside plan steps: measuring (analysis), the loudness gain
# and limiter (mux), splitting and selecting. The plan steps' own come from the filter registry.
ENGINE_FILTERS = frozenset(
    {
        "ebur128",
        "astats",
        "silencedetect",
        "bandpass",
        "alimiter",
        "volume",
        "aresample",
        "signalstats",
        "blackdetect",
        "freezedetect",
        "select",
        "aselect",
        "setpts",
        "asetpts",
        "metadata",
        "anullsink",
        "nullsink",
        "asplit",
        "split",
        "median",
        "psnr",
    }
)
REQUIRED_FILTERS = ENGINE_FILTERS | required_ffmpeg_filters()


def missing_filters(available: Iterable[str]) -> list[str]:
    """The filters a usable ffmpeg must have that ``available`` (``ffmpeg -filters``) lacks, sorted."""
    return sorted(REQUIRED_FILTERS - set(available))


def optional_steps(available: Iterable[str]) -> dict[str, bool]:
    """Optional plan steps (``--stabilize``'s vidstabtransform) -> whether ``available`` can run them."""
    have = set(available)
    return {name: needs <= have for name, needs in optional_ffmpeg_filters().items()}


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


def available_filters(binary: Path, cache_dir: Path | None = None) -> frozenset[str]:
    """The filter names ``binary`` lists with ``-filters`` (cached like the rest of the capability check)."""
    return _inspect(binary, cache_dir)[2]


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
    missing = missing_filters(filters)
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
        has_vidstab=optional_steps(filters)["vidstabtransform"],
        threads=threads,
    )


# --------------------------------------------------------------------------- reading media safely

#: The demuxers user media may be read with: those of the container families :mod:`.sniff`
#: accepts (MP4/MOV/M4A/HEIF, Matroska/WebM, WAV/RF64, AVI, AIFF, FLAC, Ogg, MP3, ADTS AAC,
#: MPEG-TS, MPEG-PS, FLV, ASF, AMR, CAF, PNG/APNG, JPEG, GIF, WebP) and NUT (our own render
#: intermediates). None of them opens another file or URL (MOV's external references stay off,
#: their default). Playlists and lists of other files (``hls``, ``dash``, ``concat``, ``imf``,
#: ``image2`` sequences, ``sdp``/``rtsp``...) are not here, so ffmpeg refuses them even when
#: its probe picks them ("Format hls not on whitelist").
MEDIA_DEMUXERS = frozenset(
    {
        "mov",
        "matroska",
        "wav",
        "avi",
        "aiff",
        "flac",
        "ogg",
        "mp3",
        "aac",
        "mpegts",
        "mpeg",
        "flv",
        "live_flv",
        "asf",
        "amr",
        "amrnb",
        "amrwb",
        "caf",
        "png_pipe",
        "apng",
        "jpeg_pipe",
        "gif",
        "webp_pipe",
        "nut",
        "srt",
        "ass",
        "webvtt",  # text subtitles: read only so that they are refused as "no sound or picture"
    }
)
#: Formats a caller may force with ``-f`` before an input: generated sources (``lavfi``, whose
#: graph is ours) and raw streams from a pipe. They read nothing but their one input either.
FORCED_DEMUXERS = (
    frozenset({"lavfi", "rawvideo", "f32le", "f64le", "s16le", "s24le", "s32le", "u8", "image2pipe", "yuv4mpegpipe"})
    | MEDIA_DEMUXERS
)
_DEMUXER_LIST = ",".join(sorted(MEDIA_DEMUXERS))
REFUSED_FORMAT = "its format is not one this tool reads (playlists and lists of other files are refused)"


def refused_format(lines: Iterable[str]) -> bool:
    """Whether ffmpeg's messages say it refused the input's format (see :data:`MEDIA_DEMUXERS`)."""
    return any("not on whitelist" in line for line in lines)


_URL = re.compile(r"^(https?)://", re.IGNORECASE)


def media_input(source: str, *, forced: str | None = None) -> tuple[list[str], str]:
    """The ffmpeg/ffprobe input options that confine reading ``source`` to itself, and the source
    as ffmpeg must be given it.

    A path is read through the ``file`` protocol only (and named ``file:PATH``, so a path that
    looks like ``http:...`` is still a path); ``-``/``pipe:`` through ``pipe``; an ``http(s)://``
    URL (one we built: a presigned GET, the loopback byte-window server) through http(s) and
    tcp, with no redirects. ``forced`` is a format given with ``-f`` before the input.
    """
    if forced == "lavfi":  # a filter graph we wrote, not a file
        return ["-format_whitelist", "lavfi"], source
    if forced is not None and forced not in FORCED_DEMUXERS:
        raise ValueError(f"ffmpeg input format {forced!r} is not allowed for media (see ffmpeg.FORCED_DEMUXERS)")
    formats = forced or _DEMUXER_LIST
    extra: list[str] = []
    url = _URL.match(source)
    if url:
        protocols = "http,tcp" if url.group(1).lower() == "http" else "https,tls,tcp"
        extra = ["-max_redirects", "0"]
    elif source == "-" or source.startswith("pipe:"):
        protocols = "pipe"
    else:
        protocols = "file"
        if not source.startswith("file:"):
            source = "file:" + source
    return ["-protocol_whitelist", protocols, "-format_whitelist", formats, *extra], source


def guard_inputs(args: Sequence[str]) -> list[str]:
    """``args`` (an ffmpeg command line) with :func:`media_input`'s options before every ``-i``."""
    out = [args[0]] if args else []
    forced: str | None = None
    i = 1
    while i < len(args):
        arg = args[i]
        if arg == "-f" and i + 1 < len(args):
            forced = args[i + 1]
            out += [arg, forced]
            i += 2
        elif arg == "-i" and i + 1 < len(args):
            options, source = media_input(args[i + 1], forced=forced)
            out += [*options, "-i", source]
            forced = None
            i += 2
        else:
            out.append(arg)
            i += 1
    return out


def probe_argv(ffprobe: Path | str, source: str, *args: str) -> list[str]:
    """An ffprobe command line reading ``source`` under the same rules as :func:`run`'s inputs."""
    options, source = media_input(source)
    return [str(ffprobe), *args, *options, "-i", source]


ProbeTimeout = subprocess.TimeoutExpired  # what run_probe raises when the time is up


def run_probe(argv: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run an ffprobe (or short ffmpeg) command line to completion: text output, killed (with its
    process group) when ``timeout`` passes, dies with its parent. Raises :data:`ProbeTimeout`."""
    log.debug("probe: %s", shlex.join(argv))  # as run() logs its commands (bench/engine.py replays them)
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        **popen_options(),
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        _stop(proc, grace=0.0)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def open_av(source: str, **kwargs: Any) -> Any:
    """``av.open`` (PyAV, the probe without ffprobe) under the same rules as ffmpeg's inputs."""
    import av  # noqa: PLC0415 - ~100 ms, only without ffprobe

    options, source = media_input(source, forced=kwargs.get("format"))
    av_options = dict(zip((o.lstrip("-") for o in options[::2]), options[1::2], strict=True))
    return av.open(source, options={**av_options, **kwargs.pop("options", {})}, **kwargs)


# --------------------------------------------------------------------------- process lifetime

_PR_SET_PDEATHSIG = 1
_prctl: Any = None
if sys.platform.startswith("linux"):
    try:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl
        _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        _prctl.restype = ctypes.c_int
    except (OSError, AttributeError):
        _prctl = None


_SIGKILL = int(signal.SIGKILL)


def _die_with_parent(parent: int) -> Callable[[], None]:
    def preexec() -> None:  # in the child, between fork and exec: nothing but two system calls
        _prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: go now
            os.kill(os.getpid(), _SIGKILL)

    return preexec


def popen_options() -> dict[str, Any]:
    """Keyword arguments for ``subprocess.Popen`` of an ffmpeg or ffprobe: its own process group
    (so stopping it stops anything it started) and, on Linux, SIGKILL when the thread that
    started it dies (a server killed with SIGKILL takes its ffmpeg along)."""
    options: dict[str, Any] = {}
    if os.name == "posix":
        options["process_group"] = 0
    if _prctl is not None:
        options["preexec_fn"] = _die_with_parent(os.getpid())
    return options


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
    argv = guard_inputs([args[0], "-hide_banner", *stdin_flag, "-nostats", "-progress", "pipe:1", *args[1:]])
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
            **popen_options(),
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
        workers.append(threading.Thread(target=guarded(write_stdin, cast(TextIO, proc.stdin).buffer), daemon=True))
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
    except BaseException as exc:  # noqa: BLE001 -- KeyboardInterrupt / SystemExit: stop ffmpeg before unwinding
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
    write_failed = any(
        m in line for line in result.tail for m in (*_DISK_FULL, "Error writing trailer", "Error closing file")
    )
    if check and (proc.returncode != 0 or write_failed):
        raise_for_failure(result, what=what, path=path)
    return result


def _signal(proc: subprocess.Popen[str], sig: int) -> None:
    """``sig`` to ffmpeg's process group (its own, see :func:`popen_options`), or to ffmpeg alone."""
    try:
        if os.name == "posix" and os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen[str], grace: float = 1.0) -> None:
    if proc.poll() is not None:
        return
    try:
        if grace > 0:
            _signal(proc, signal.SIGTERM)
            proc.wait(timeout=grace)  # the output is thrown away: no need for a graceful encoder flush
            return
    except subprocess.TimeoutExpired:
        pass
    _signal(proc, signal.SIGKILL)
    proc.wait()


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
    lines = list(lines)
    if refused_format(lines):
        return REFUSED_FORMAT
    candidates = [ln.strip() for ln in lines if ln.strip() and not _NOISE.match(ln)]
    for line in reversed(candidates):
        if any(w in line.lower() for w in ("error", "invalid", "failed", "cannot", "unable", "no such")):
            return re.sub(r"^\[[^\]]+\]\s*", "", line)
    return candidates[-1] if candidates else "unknown error"
