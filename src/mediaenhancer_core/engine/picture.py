"""Picture measurements taken on decoded frames: noise, black/white points, colour cast.

The analysis pass (``signalstats``) gives frame averages; these need pixels:

noise
    The standard deviation of the noise in 8-bit levels, per plane (luma, chroma). Each
    frame is cut into 16x16 blocks; a plane is fitted to each block (so gradients do not
    count as noise) and the residual's standard deviation taken. Texture only adds to a
    block's figure, so the flattest blocks tell the noise: the 10th percentile, then the
    median of the blocks near it (no bias correction needed: within 5% on white noise and
    on real footage with added noise). Blocks that are dead flat at black or white (letterbox bars, clipped
    highlights) are left out: they would read as zero noise.
    Footage with no flat area (foliage) has only textured blocks, and its texture reads as noise
    (the clean forest clip: σ 4.1). ``noise_scale_ratio`` tells them apart: the same estimate on
    the luma averaged over 2x2 pixels, times 2, over the full-size estimate. Grain is white, so
    averaging halves it: ratio about 1 (1.0-1.2 on grainy real clips, CRF 18-28). Texture is
    coarser and survives: 3.5 on the clean forest clip, 2.2 with σ 5 grain added, 1.5 with σ 10.
levels
    Black and white points: the 0.5th and 99.5th luma percentiles.
cast
    Measured on near-neutral pixels only (low chroma, mid luma). A scene whose dominant
    colour is legitimate (green screen, forest, sunset) has grey or white things in it that
    stay neutral; a real cast moves those too. When too few near-neutral pixels exist, no
    cast is claimed. Read on means of 8x8 chroma samples: grain would pull it toward grey.

numpy is imported inside the functions: the CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mediaenhancer_core.engine.ffmpeg import CancelToken, FFmpegTools, run
from mediaenhancer_core.engine.filtergraph import filter_str

__all__ = [
    "PictureStats",
    "FrameSampler",
    "frame_sampler",
    "measure_picture",
    "picture_stats",
    "FrameFollower",
    "picture_report",
    "noise_sigma",
    "frame_stats",
]

BLOCK = 16
MAX_FRAMES = 8
MAX_WIDTH = 1920  # larger pictures are halved before measuring (noise is then per halved pixel)
NEUTRAL_RADIUS = 12  # chroma distance from grey (8-bit levels) of a "near-neutral" pixel
CAST_POOL = 8  # the cast is read on means of 8x8 chroma samples (16x16 luma pixels): grain does not dilute it
NEUTRAL_MIN_FRACTION = 0.02  # fewer near-neutral pixels than this: no evidence either way


@dataclass
class PictureStats:
    noise_luma: float  # σ in 8-bit levels
    noise_chroma: float  # σ in 8-bit levels (mean of U and V)
    noise_scale_ratio: float  # 2 x luma σ at half size / luma σ: about 1 for grain, 2-4 where texture is read
    black_point: float  # 0.5th luma percentile (of 4x4 means, so grain does not widen it), 8-bit levels
    white_point: float  # 99.5th luma percentile
    mean_luma: float
    neutral_u: float  # mean U - 128 over near-neutral pixels (8-bit levels); 0 when unknown
    neutral_v: float
    neutral_fraction: float  # share of the picture (8x8 chroma areas, CAST_POOL) that is near-neutral
    frames: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def noise_sigma(plane: Any, *, exclude_extremes: bool = True) -> float:
    """Noise σ of one 8-bit plane (2-D array), in levels. See the module text."""
    import numpy as np  # noqa: PLC0415 - the CLI's --help stays fast

    p = np.asarray(plane, dtype=np.float32)
    h, w = (p.shape[0] // BLOCK) * BLOCK, (p.shape[1] // BLOCK) * BLOCK
    if h < BLOCK or w < BLOCK:
        return 0.0
    blocks = p[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK, BLOCK)
    c = np.arange(BLOCK, dtype=np.float32) - (BLOCK - 1) / 2.0
    m = blocks.mean(axis=(1, 2))
    gx = (blocks * c[None, None, :]).sum(axis=(1, 2)) / (BLOCK * (c**2).sum())
    gy = (blocks * c[None, :, None]).sum(axis=(1, 2)) / (BLOCK * (c**2).sum())
    resid = blocks - m[:, None, None] - gx[:, None, None] * c[None, None, :] - gy[:, None, None] * c[None, :, None]
    var = (resid**2).sum(axis=(1, 2)) / (BLOCK * BLOCK - 3)
    keep = np.ones(var.shape, dtype=bool)
    if exclude_extremes:
        lo, hi = blocks.min(axis=(1, 2)), blocks.max(axis=(1, 2))
        dead = var < 0.25
        keep &= ~(dead & ((m < 24) | (m > 232)))  # bars and clipped areas
        keep &= (lo > 1) | (hi > 40)  # blocks stuck at the bottom of the scale
        keep &= (hi < 254) | (lo < 215)
    s = np.sqrt(var[keep])
    if s.size < 8:
        s = np.sqrt(var)
    p10 = float(np.percentile(s, 10))
    near = s[s <= p10 * 1.2 + 0.05]
    est = float(np.median(near)) if near.size else p10
    # the median of the blocks under 1.2x the 10th percentile needs no bias correction: on white
    # noise and real footage with added noise it reads within 5% (tests/test_picture.py)
    return max(0.0, est)


def _pool(p: Any, fy: int, fx: int) -> Any:
    """Means over fy x fx blocks (the top-left whole blocks), summed slice by slice: on 8-bit levels every
    partial sum is an exact integer in float32, so the result is bit for bit that of
    ``reshape(...).mean(axis=(1, 3))``, about four times faster on a 1080p plane."""
    h, w = p.shape[0] // fy * fy, p.shape[1] // fx * fx
    p = p[:h, :w]
    rows = p[0::fy].copy()
    for k in range(1, fy):
        rows += p[k::fy]
    out = rows[:, 0::fx].copy()
    for k in range(1, fx):
        out += rows[:, k::fx]
    out /= fy * fx
    return out


def frame_stats(y: Any, u: Any, v: Any) -> dict[str, float]:
    """Statistics of one frame's 8-bit planes (u, v at the luma's size or subsampled)."""
    import numpy as np  # noqa: PLC0415 - the CLI's --help stays fast

    y = np.asarray(y, dtype=np.float32)
    u = np.asarray(u, dtype=np.float32)
    v = np.asarray(v, dtype=np.float32)
    # luma at chroma resolution, to pair with each chroma sample
    fy, fx = y.shape[0] // u.shape[0], y.shape[1] // u.shape[1]
    ys = _pool(y[: u.shape[0] * fy, : u.shape[1] * fx], fy, fx)
    # near-neutral pixels judged on 8x8 means of the chroma planes: grain scatters single samples in and out of
    # the window and pulls their mean toward grey (indoor clip: 5.2 levels off grey clean, 0.7 under σ 20 grain;
    # on the means 4.9 and 4.9), so a grainy cast went uncorrected and a denoised output read another cast
    if u.shape[0] >= CAST_POOL and u.shape[1] >= CAST_POOL:
        cu, cv, cy = _pool(u, CAST_POOL, CAST_POOL), _pool(v, CAST_POOL, CAST_POOL), _pool(ys, CAST_POOL, CAST_POOL)
    else:
        cu, cv, cy = u, v, ys
    du, dv = cu - 128.0, cv - 128.0
    neutral = (np.hypot(du, dv) < NEUTRAL_RADIUS) & (cy > 40) & (cy < 225)
    # black and white points on 4x4 means: grain would otherwise widen them by about 2.5σ
    h4, w4 = y.shape[0] // 4 * 4, y.shape[1] // 4 * 4
    y4 = _pool(y, 4, 4) if h4 and w4 else y
    frac = float(neutral.mean())
    # 4:2:0 (the sampled frames): the luma at chroma resolution is already the 2x2 means
    y2 = ys if (fy, fx) == (2, 2) and ys.shape == (y.shape[0] // 2, y.shape[1] // 2) else _pool(y, 2, 2)
    return {
        "noise_luma": noise_sigma(y),
        "noise_luma_half": 2.0 * noise_sigma(y2, exclude_extremes=False),
        "noise_chroma": (noise_sigma(u, exclude_extremes=False) + noise_sigma(v, exclude_extremes=False)) / 2.0,
        "black_point": float(np.percentile(y4, 0.5)),
        "white_point": float(np.percentile(y4, 99.5)),
        "mean_luma": float(y.mean()),
        "neutral_u": float(du[neutral].mean()) if frac > 0 else 0.0,
        "neutral_v": float(dv[neutral].mean()) if frac > 0 else 0.0,
        "neutral_fraction": frac,
    }


@dataclass(frozen=True)
class FrameSampler:
    """Which frames the picture figures are taken from, and at what size: a filter chain that fits
    any decode of the file (the analysis pass gives it one branch of its own graph, so that no
    extra decode is needed) and an output that writes the frames as raw 8-bit yuv420p."""

    width: int
    height: int
    gap: float  # seconds between sampled frames
    frames: int  # at most this many

    def chain(self) -> str:
        """select -> scale -> format, for a filtergraph branch fed with the decoded picture."""
        # lt(selected_n,N) caps the count inside the graph (as -frames:v would): an output that is
        # closed early inside a multi-output ffmpeg would leave the graph to fill its queue
        pick = f"(isnan(prev_selected_t)+gte(t-prev_selected_t,{self.gap:.3f}))*lt(selected_n,{self.frames})"
        return ",".join(
            [
                filter_str("select", {"expr": pick}),
                filter_str("scale", {"w": self.width, "h": self.height, "flags": "area"}),
                "format=yuv420p",
            ]
        )

    def output_args(self, label: str, out: Path) -> list[str]:
        """The ffmpeg output that writes the branch ``label`` (e.g. ``[vpic]``) to ``out``."""
        return ["-map", label, "-fps_mode", "passthrough", "-f", "rawvideo", "-y", str(out)]

    def read(self, out: Path) -> list[tuple[Any, Any, Any]]:
        """The frames written to ``out``, as (y, u, v) planes."""
        import numpy as np  # noqa: PLC0415 - the CLI's --help stays fast

        width, height = self.width, self.height
        data = np.fromfile(out, dtype=np.uint8) if out.exists() else np.zeros(0, dtype=np.uint8)
        size = width * height * 3 // 2
        result = []
        for k in range(min(self.frames, len(data) // size)):
            f = data[k * size : (k + 1) * size]
            y = f[: width * height].reshape(height, width)
            u = f[width * height : width * height * 5 // 4].reshape(height // 2, width // 2)
            v = f[width * height * 5 // 4 :].reshape(height // 2, width // 2)
            result.append((y, u, v))
        return result


def frame_sampler(
    *,
    width: int,
    height: int,
    duration: float,
    span: tuple[float, float] | None = None,
    frames: int = MAX_FRAMES,
) -> FrameSampler | None:
    """Up to ``frames`` frames spread over the file (or ``span``); None when the picture is too small."""
    if width > MAX_WIDTH:
        width, height = width // 2, height // 2
    width, height = width - width % 2, height - height % 2
    if width < 2 or height < 2:
        return None
    length = (span[1] - span[0]) if span else duration
    gap = max(0.2, length / frames) if length > 0 else 0.2
    return FrameSampler(width=width, height=height, gap=gap, frames=frames)


def read_frames(
    path: Path,
    tools: FFmpegTools,
    *,
    width: int,
    height: int,
    duration: float,
    span: tuple[float, float] | None = None,
    stream: int | None = None,
    cancel: CancelToken | None = None,
    frames: int = MAX_FRAMES,
) -> list[tuple[Any, Any, Any]]:
    """The sampled frames of ``path`` by a decode of its own. ``analyze`` takes the same frames from
    its pass instead; this stays for ``bench/picture_sampling.py`` and for checking that both agree."""
    sampler = frame_sampler(width=width, height=height, duration=duration, span=span, frames=frames)
    if sampler is None:
        return []
    with tempfile.TemporaryDirectory(prefix="me-picture-") as tmp:
        out = Path(tmp) / "frames.yuv"
        args = [str(tools.ffmpeg), "-v", "error"]
        if span is not None:
            args += ["-ss", f"{span[0]:.6f}", "-t", f"{max(0.05, span[1] - span[0]):.6f}"]
        args += ["-i", str(path), "-filter_complex"]
        args += [f"[{f'0:{stream}' if stream is not None else '0:v:0'}]{sampler.chain()}[vpic]"]
        args += ["-frames:v", str(sampler.frames), *sampler.output_args("[vpic]", out)]  # stop decoding there
        run(args, cancel=cancel, what="picture measurement", path=path)
        return sampler.read(out)


def measure_picture(
    path: Path,
    tools: FFmpegTools,
    *,
    width: int,
    height: int,
    duration: float,
    span: tuple[float, float] | None = None,
    stream: int | None = None,
    cancel: CancelToken | None = None,
) -> PictureStats | None:
    """Measure ``path``'s picture on a few frames of a decode of its own; None when none could be decoded."""
    frames = read_frames(
        path, tools, width=width, height=height, duration=duration, span=span, stream=stream, cancel=cancel
    )
    return picture_stats(frames)


def picture_stats(frames: list[tuple[Any, Any, Any]]) -> PictureStats | None:
    """The figures of the sampled frames (:meth:`FrameSampler.read`); None when there are none."""
    return stats_of_rows([frame_stats(*f) for f in frames])


class FrameFollower:
    """Measures the sampled frames while ffmpeg is still writing them: :meth:`poll` (from a thread,
    during the pass) takes every whole frame now in the file, so only the last one is left for after
    the pass. The figures are those of :func:`picture_stats` on the same frames."""

    def __init__(self, sampler: FrameSampler, path: Path) -> None:
        self.sampler = sampler
        self.path = path
        self.rows: list[dict[str, float]] = []
        self._size = sampler.width * sampler.height * 3 // 2

    def poll(self) -> None:
        import numpy as np  # noqa: PLC0415 - the CLI's --help stays fast

        w, h, size = self.sampler.width, self.sampler.height, self._size
        while len(self.rows) < self.sampler.frames:
            offset = len(self.rows) * size
            try:
                if self.path.stat().st_size < offset + size:
                    return  # the next frame is not all written yet (ffmpeg writes the file in order)
                with self.path.open("rb") as fh:
                    fh.seek(offset)
                    data = fh.read(size)
            except FileNotFoundError:
                return  # ffmpeg has not opened its output yet
            if len(data) < size:
                return
            f = np.frombuffer(data, dtype=np.uint8)
            y = f[: w * h].reshape(h, w)
            u = f[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
            v = f[w * h * 5 // 4 :].reshape(h // 2, w // 2)
            self.rows.append(frame_stats(y, u, v))

    def stats(self) -> PictureStats | None:
        """After the pass: the frames not measured yet, then the figures (None: no frame)."""
        self.poll()
        return stats_of_rows(self.rows)


def stats_of_rows(rows: list[dict[str, float]]) -> PictureStats | None:
    """The figures from the :func:`frame_stats` of each sampled frame; None when there are none."""
    if not rows:
        return None

    def med(key: str) -> float:
        vals = sorted(r[key] for r in rows)
        return vals[len(vals) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2

    frac = med("neutral_fraction")
    weight = sum(r["neutral_fraction"] for r in rows)

    def neutral(key: str) -> float:
        if frac < NEUTRAL_MIN_FRACTION or weight <= 0:
            return 0.0
        return sum(r[key] * r["neutral_fraction"] for r in rows) / weight

    def r2(x: float) -> float:
        return round(x, 2) if math.isfinite(x) else 0.0

    return PictureStats(
        noise_luma=r2(med("noise_luma")),
        noise_chroma=r2(med("noise_chroma")),
        noise_scale_ratio=r2(med("noise_luma_half") / med("noise_luma")) if med("noise_luma") > 0.05 else 1.0,
        black_point=r2(med("black_point")),
        white_point=r2(med("white_point")),
        mean_luma=r2(sum(r["mean_luma"] for r in rows) / len(rows)),
        neutral_u=r2(neutral("neutral_u")),
        neutral_v=r2(neutral("neutral_v")),
        neutral_fraction=round(frac, 4),
        frames=len(rows),
    )


def picture_report(before: dict[str, Any] | None, after: PictureStats | None) -> dict[str, Any] | None:
    """Noise, levels and cast of the written output beside the input's (both measured the same way:
    the same frame sampling, each in the analysis pass that decodes that file anyway)."""
    if before is None or after is None:
        return None
    a = after.to_dict()
    return {
        "before": before,
        "after": a,
        "noise_change": round(a["noise_luma"] - float(before["noise_luma"]), 2),
    }
