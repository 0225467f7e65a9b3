"""Many files: expanding paths, globs and folders, and running them in parallel.

One bad file never stops the rest: each file gets its own :class:`FileResult`.
Work runs in threads (the work itself is in ffmpeg subprocesses), ``jobs`` at a
time; results come back in input order. An interrupt cancels every running
ffmpeg, removes temporary files, and propagates.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from mediaenhancer_core.engine.enhance import ENHANCED_MARK, EnhanceJob, FileResult, ProgressEvent, enhance_file
from mediaenhancer_core.engine.ffmpeg import CancelToken, FFmpegTools
from mediaenhancer_core.engine.planner import Planner
from mediaenhancer_core.errors import InputNotFoundError, InputUnreadableError, MediaEnhancerError
from mediaenhancer_core.files import PARTIAL_MARK

__all__ = ["MEDIA_EXTENSIONS", "InputItem", "expand_inputs", "run_batch"]

MEDIA_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".flv",
        ".wmv",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".mp3",
        ".m4a",
        ".aac",
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".aif",
        ".aiff",
        ".wma",
        ".caf",
    }
)
_GLOB_CHARS = set("*?[")


@dataclass
class InputItem:
    path: Path
    root: Path | None = None  # the folder it was found under (to mirror sub-folders)
    error: MediaEnhancerError | None = None  # a pattern that matched nothing, a missing path


def _is_candidate(p: Path) -> bool:
    name = p.name
    return (
        p.suffix.lower() in MEDIA_EXTENSIONS
        and not name.startswith(".")
        and ENHANCED_MARK + "." not in name
        and PARTIAL_MARK not in name
    )


def expand_inputs(args: Sequence[str], *, recursive: bool = False) -> list[InputItem]:
    """Files, folders and glob patterns to a de-duplicated list, in the order given."""
    items: list[InputItem] = []
    seen: set[Path] = set()

    def add(p: Path, root: Path | None = None) -> None:
        key = p.resolve() if p.exists() else p.absolute()
        if key not in seen:
            seen.add(key)
            items.append(InputItem(p, root))

    for arg in args:
        p = Path(arg)
        if p.is_dir():
            walker: Iterable[Path]
            try:
                if recursive:
                    walker = (
                        Path(d) / f
                        for d, dirs, files in sorted(os.walk(p))
                        for f in sorted(files)
                        if not any(part.startswith(".") for part in Path(d).relative_to(p).parts)
                    )
                else:
                    walker = sorted(c for c in p.iterdir() if c.is_file())
                found = [c for c in walker if _is_candidate(c)]
            except PermissionError:
                items.append(
                    InputItem(
                        p,
                        error=InputUnreadableError(
                            f"{p}: permission denied; make the folder readable (chmod +rx)", path=p
                        ),
                    )
                )
                continue
            if not found:
                items.append(
                    InputItem(
                        p,
                        error=InputNotFoundError(
                            f"{p}: no media files in this folder{'' if recursive else ' (add --recursive to look in sub-folders)'}",
                            path=p,
                        ),
                    )
                )
            for c in found:
                add(c, p)
        elif p.exists() or not (_GLOB_CHARS & set(arg)):
            add(p)  # a missing plain path fails later with a clear message
        else:
            matches = sorted(glob.glob(arg, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file() and _is_candidate(Path(m))]
            if not files:
                items.append(
                    InputItem(p, error=InputNotFoundError(f"{arg}: no media files match this pattern", path=p))
                )
            for m in files:
                add(m)
    return items


def run_batch(
    items: Sequence[InputItem],
    job: EnhanceJob,
    tools: FFmpegTools,
    *,
    jobs: int = 1,
    planner: Planner | None = None,
    temp_dir: Path | None = None,
    on_start: Callable[[str], None] | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[FileResult]:
    cancel = cancel or CancelToken()
    results: list[FileResult | None] = [None] * len(items)
    claimed: set[Path] = set()
    claim_lock = threading.Lock()

    def claim(dest: Path) -> bool:
        key = dest.resolve()
        with claim_lock:
            if key in claimed:
                return False
            claimed.add(key)
            return True

    def one(i: int) -> FileResult:
        item = items[i]
        if item.error is not None:
            err = item.error
            return FileResult(
                input=str(item.path), status="failed", error={"code": err.code, "message": err.message}, exit_error=err
            )
        if on_start:
            on_start(str(item.path))
        file_job = job
        if item.root is not None and job.out_dir is not None:
            from dataclasses import replace  # noqa: PLC0415

            file_job = replace(job, relative_to=item.root)
        return enhance_file(
            item.path,
            file_job,
            tools,
            planner=planner,
            temp_dir=temp_dir,
            on_progress=on_progress,
            cancel=cancel,
            claim=claim,
        )

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="enhance")
    pending: dict[Future[FileResult], int] = {}
    next_i = 0
    try:
        while next_i < len(items) or pending:
            while next_i < len(items) and len(pending) < max(1, jobs):
                pending[pool.submit(one, next_i)] = next_i
                next_i += 1
            done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                i = pending.pop(fut)
                res = fut.result()
                results[i] = res
                if on_result:
                    on_result(res)
    except BaseException:
        cancel.cancel("interrupted")
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return [r for r in results if r is not None]
