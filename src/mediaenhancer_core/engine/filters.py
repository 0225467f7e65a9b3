"""The filter registry: every step a plan may name, in one place.

Each entry says what a plan step is: its name, whether it works on the sound or the
picture, the parameters a plan may give it (with their type and bounds), its position in
its chain, the ffmpeg filters it needs (``None``: a Python stage, run by ``audiostage.py``
between the render pass's ffmpeg and the measuring one), and whether an export (ffmpeg
filters only, no per-file options) may run it.

Everything else reads this table: plan validation (``plan.py``: allowed filters, parameter
types and bounds), the planners (chain order), the ffmpeg capability check (``ffmpeg.py``:
the filters a usable ffmpeg must have), the render (ffmpeg or Python stage) and exports
(which steps they keep). Adding a filter is one entry here; see docs/audio.md.

Bounds are ffmpeg's own option ranges (so a plan cannot ask for what ffmpeg would refuse
half-way through a render) or tighter where the size of a value is work for the workers
(a plan may not ask for a 65535-pixel picture).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Param",
    "FilterSpec",
    "FILTERS",
    "AUDIO_FILTERS",
    "VIDEO_FILTERS",
    "PYTHON_STEPS",
    "ordered",
    "order_key",
    "required_ffmpeg_filters",
    "optional_ffmpeg_filters",
    "is_python_step",
    "exportable",
]

SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-+*/()<>=, ")
MAX_TEXT = 64
_WIDTH_TYPES = ("h", "q", "o", "s", "k")  # biquads: Hz, Q factor, octave, slope, kHz


@dataclass(frozen=True)
class Param:
    """One parameter a plan may give a filter.

    ``type``: ``number`` (finite int or float within ``lo``..``hi``), ``bool`` (true/false or
    0/1), ``choice`` (one of ``choices``), ``expr`` (an ffmpeg expression) or ``text``: for
    these two a finite number or a short string of plain characters (no ``:``, ``;``, quotes
    or brackets that could end the option or the filter).
    """

    name: str
    type: str = "number"
    lo: float = -100_000
    hi: float = 100_000
    choices: tuple[str, ...] = ()

    def problem(self, filter_name: str, value: Any) -> str | None:
        """Why ``value`` does not fit, as ``filter.param ...`` (no source), or None."""
        where = f"{filter_name}.{self.name}"
        if isinstance(value, str) and (len(value) > MAX_TEXT or not set(value) <= SAFE_CHARS):
            return f"{where} has an unsafe value {value!r}"
        if self.type == "bool":
            if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
                return None
            return f"{where} must be true or false, got {value!r}"
        if self.type == "choice":
            if value not in self.choices:
                return f"{where} must be one of {', '.join(sorted(self.choices))}, got {value!r}"
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                return f"{where} must be finite"
            if self.type == "number" and not self.lo <= value <= self.hi:
                return f"{where} = {value} is outside {self.lo:g}..{self.hi:g}"
            return None
        if self.type == "number":
            return f"{where} must be a number, got {value!r}"
        if not isinstance(value, str):
            return f"{where} has an unsafe value {value!r}"
        return None


@dataclass(frozen=True)
class FilterSpec:
    name: str  # as plans name it
    kind: str  # "audio" or "video"
    order: int  # position in its chain (lower runs first)
    params: tuple[Param, ...]
    needs: tuple[str, ...] | None  # the ffmpeg filters it needs; None: a Python stage (audiostage.py)
    export: bool = True  # exports (ffmpeg filters only, one plan for many segments) may run it
    optional: bool = False  # an ffmpeg without it is still usable (the feature is then unavailable)

    @property
    def stage(self) -> str:
        return "python" if self.needs is None else "ffmpeg"

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


def _n(name: str, lo: float, hi: float) -> Param:
    return Param(name, "number", lo, hi)


def _c(name: str, *choices: str) -> Param:
    return Param(name, "choice", choices=choices)


def _biquad(*, gain: bool = False, poles: bool = True) -> tuple[Param, ...]:
    params = [_n("f", 0, 99_999), _c("width_type", *_WIDTH_TYPES), _n("w", 0, 99_999)]
    if poles:
        params.append(_n("poles", 1, 2))
    if gain:
        params.append(_n("g", -900, 900))
    return tuple(params)


_REGISTRY: tuple[FilterSpec, ...] = (
    # ---------------------------------------------------------------- audio, in chain order
    FilterSpec(
        "adeclip",
        "audio",
        10,
        (
            _n("window", 10, 100),
            _n("overlap", 50, 95),
            _n("arorder", 0, 25),
            _n("threshold", 1, 100),
            _n("hsize", 100, 9999),
            _c("method", "a", "s", "add", "save"),
        ),
        needs=("adeclip",),
    ),
    FilterSpec("highpass", "audio", 20, _biquad(), needs=("highpass",)),
    FilterSpec("lowpass", "audio", 25, _biquad(), needs=("lowpass",)),
    FilterSpec("bandreject", "audio", 30, _biquad(poles=False), needs=("bandreject",)),
    # afftdn's delay is taken back in the render (apad before, atrim after: render.py)
    FilterSpec(
        "afftdn",
        "audio",
        40,
        (
            _n("nr", 0.01, 97),
            _n("nf", -80, -20),
            Param("tn", "bool"),
            _c("nt", "w", "v", "s", "c", "white", "vinyl", "shellac", "custom"),
            _n("rf", -80, -20),
        ),
        needs=("afftdn", "apad", "atrim", "asetpts"),
    ),
    FilterSpec("equalizer", "audio", 50, _biquad(gain=True, poles=False), needs=("equalizer",)),
    FilterSpec("deesser", "audio", 60, (_n("i", 0, 1), _n("m", 0, 1), _n("f", 0, 1)), needs=("deesser",)),
    FilterSpec(
        "acompressor",
        "audio",
        70,
        (
            _n("threshold", 0.000976563, 1),
            _n("ratio", 1, 20),
            _n("attack", 0.01, 2000),
            _n("release", 0.01, 9000),
            _n("makeup", 1, 64),
            _n("knee", 1, 8),
        ),
        needs=("acompressor",),
    ),
    # Python stages: after every ffmpeg audio filter, on 48 kHz float PCM (audiostage.py). In an
    # export the neural denoiser becomes its afftdn fallback (planner.ffmpeg_only); the others are left out.
    FilterSpec(
        "deepfilternet",
        "audio",
        80,
        (
            _n("atten_lim_db", 3, 100),
            _c("level", "light", "normal", "strong"),
        ),
        needs=None,
        export=False,
    ),
    FilterSpec(
        "leveler",
        "audio",
        90,
        (
            _n("reference_lufs", -70, 0),
            _n("strength", 0, 1),
            _n("max_boost_db", 0, 24),
            _n("max_cut_db", 0, 24),
        ),
        needs=None,
        export=False,
    ),
    FilterSpec(
        "compressor",
        "audio",
        100,
        (
            _n("threshold_dbfs", -60, 0),
            _n("ratio", 1, 10),
            _n("release_ms", 10, 2000),
        ),
        needs=None,
        export=False,
    ),
    # ---------------------------------------------------------------- video, in chain order
    # the analysis pass measures the motion with vidstabdetect; ffmpeg builds without vid.stab lack --stabilize only
    FilterSpec(
        "vidstabtransform",
        "video",
        10,
        (
            _n("smoothing", 0, 120),
            _n("zoom", -100, 100),
            _n("optzoom", 0, 2),
            _c("interpol", "no", "linear", "bilinear", "bicubic"),
            _c("crop", "keep", "black"),
        ),
        needs=("vidstabdetect", "vidstabtransform"),
        export=False,
        optional=True,
    ),
    # denoise before levels: a contrast stretch would amplify the grain. hqdn3d reads a strength of 0 as
    # "use the default" (luma 4, the others derived from it), not "off": a plane left alone needs 0.01
    FilterSpec(
        "hqdn3d",
        "video",
        20,
        (
            _n("luma_spatial", 0, 32),
            _n("chroma_spatial", 0, 32),
            _n("luma_tmp", 0, 48),
            _n("chroma_tmp", 0, 48),
        ),
        needs=("hqdn3d",),
    ),
    # a 3D FFT (Wiener) denoiser over each frame and its neighbours: picture_plan runs it on grain of 14 levels and more
    FilterSpec(
        "fftdnoiz",
        "video",
        23,
        (_n("sigma", 0, 100), _n("prev", 0, 1), _n("next", 0, 1)),
        needs=("fftdnoiz",),
    ),
    FilterSpec("nlmeans", "video", 25, (_n("s", 1, 30), _n("p", 1, 7), _n("r", 1, 15)), needs=("nlmeans",)),
    FilterSpec(
        "eq",
        "video",
        30,
        (
            _n("contrast", -1000, 1000),
            _n("brightness", -1, 1),
            _n("saturation", 0, 3),
            _n("gamma", 0.1, 10),
        ),
        needs=("eq",),
    ),
    FilterSpec("lutyuv", "video", 40, (Param("u", "expr"), Param("v", "expr")), needs=("lutyuv",)),
    # exports fit every segment to one frame size and rate themselves
    FilterSpec(
        "scale",
        "video",
        50,
        (_n("w", -2, 7680), _n("h", -2, 4320), Param("flags", "text")),
        needs=("scale",),
        export=False,
    ),
    FilterSpec("fps", "video", 60, (_n("fps", 1, 240),), needs=("fps",), export=False),
    # sharpen last: it restores what denoising, scaling or stabilisation softened
    FilterSpec(
        "unsharp",
        "video",
        70,
        (
            _n("luma_msize_x", 3, 23),
            _n("luma_msize_y", 3, 23),
            _n("luma_amount", -2, 5),
            _n("chroma_msize_x", 3, 23),
            _n("chroma_msize_y", 3, 23),
            _n("chroma_amount", -2, 5),
        ),
        needs=("unsharp",),
    ),
)

#: name -> spec, every filter a plan may name
FILTERS: dict[str, FilterSpec] = {f.name: f for f in _REGISTRY}
AUDIO_FILTERS = frozenset(f.name for f in _REGISTRY if f.kind == "audio")
VIDEO_FILTERS = frozenset(f.name for f in _REGISTRY if f.kind == "video")
PYTHON_STEPS = frozenset(f.name for f in _REGISTRY if f.needs is None)


class _Step(Protocol):
    filter: str


def order_key(name: str) -> int:
    """A filter's chain position; names not in the registry sort last."""
    spec = FILTERS.get(name)
    return spec.order if spec is not None else 1_000_000


def ordered(steps: Sequence[_Step]) -> list[Any]:
    """``steps`` in chain order (stable: several steps of one filter, like hum notches, keep theirs)."""
    return sorted(steps, key=lambda s: order_key(s.filter))


def is_python_step(name: str) -> bool:
    return name in PYTHON_STEPS


def exportable(name: str) -> bool:
    spec = FILTERS.get(name)
    return spec is not None and spec.export


def required_ffmpeg_filters(specs: Iterable[FilterSpec] | None = None) -> frozenset[str]:
    """The ffmpeg filters the registry's steps need, but for the optional ones."""
    return frozenset(n for f in (specs or _REGISTRY) if f.needs and not f.optional for n in f.needs)


def optional_ffmpeg_filters() -> dict[str, frozenset[str]]:
    """Optional step -> the ffmpeg filters it needs (an ffmpeg without them cannot run that step)."""
    return {f.name: frozenset(f.needs) for f in _REGISTRY if f.needs and f.optional}
