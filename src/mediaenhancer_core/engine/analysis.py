"""Measuring a media file in ONE decode pass.

One ffmpeg run decodes the file once and feeds every measurement from a single
filtergraph:

audio
    ``ebur128`` (integrated loudness, loudness range, true peak, and the momentary
    loudness every 100 ms, from which the noise floor is taken), ``astats`` (sample
    peak, RMS, DC offset, clipping); silence spans are the runs of quiet 400 ms blocks
    in the momentary series, with a threshold set from the measured noise floor; a
    low-frequency rumble detector; and a 16 kHz mono copy sent through a pipe to
    :class:`~mediaenhancer_core.engine.speech.SpeechMeter` (voice activity, content class,
    speech and pause figures, mains hum harmonics from the long-term spectrum).
video
    ``signalstats`` on two frames a second, downscaled (levels, brightness,
    saturation, colour cast), ``blackdetect`` and ``freezedetect`` on a small copy
    of every frame, a noise estimate (PSNR of the picture against its median-filtered
    self) on a centre crop once a second, and ``vidstabdetect`` when stabilisation
    is asked for.
picture
    A few frames spread over the file, written raw to a work file, for the figures of
    :mod:`~mediaenhancer_core.engine.picture` (noise, black and white points, cast of
    near-neutral pixels). They come from this same decode: no second pass over the file.
    ``picture=True`` with ``video=False`` takes only these (the output check of ``enhance``).

Only the stderr lines of our named filter instances are kept, and momentary
loudness is folded into a compact list, so memory stays flat for long inputs.
"""

from __future__ import annotations

import math
import re
import threading
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mediaenhancer_core.engine.ffmpeg import PIPE_OUT, CancelToken, FFmpegTools, run
from mediaenhancer_core.engine.filtergraph import filter_str
from mediaenhancer_core.engine.probe import MediaInfo
from mediaenhancer_core.engine.workdirs import make_workdir, remove_workdir
from mediaenhancer_core.errors import CorruptMediaError

__all__ = [
    "AudioMeasurements",
    "VideoMeasurements",
    "Analysis",
    "analyze",
    "silence_spans",
    "silence_threshold",
    "loudness_from_blocks",
]

BLOCK_STEP = 0.1  # ebur128 reports momentary loudness every 100 ms
BLOCK_WINDOW = 0.4  # over the last 400 ms
SILENCE_MIN = 0.5  # seconds: shorter pauses are not spans
# Clipping: the signal sits at its extreme value (whatever that is: clipping happens at any level, e.g.
# in a preamp before a quiet recorder) in runs of equal samples. astats counts the samples at the
# extremes ("Peak count") and gives 20*log10 of their mean run length ("Flat factor"); a sine sampled
# at 45 degrees (EBU Tech 3341 case 19) sits at its extremes in runs of two (6 dB) without being clipped.
CLIP_MIN_SAMPLES = 24
CLIP_MIN_FLAT_DB = 9.5  # runs of three equal samples and more


@dataclass
class AudioMeasurements:
    integrated_lufs: float
    loudness_range_lu: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    rms_dbfs: float
    noise_floor_lufs: float
    dc_offset: float
    clipped_samples: int  # samples at the extremes, in runs (all channels)
    clipping: bool
    silence_threshold_db: float
    silence_spans: list[tuple[float, float]]
    silence_share: float
    hum_hz: int | None
    hum_prominence_db: dict[str, float]
    rumble_db: float  # energy below 60 Hz relative to the whole signal
    decoded_seconds: float
    # --- speech (voice activity from the 16 kHz copy; levels from the momentary loudness) ---
    content: str = "unknown"  # speech, speech+music, music, ambience, silence (unknown: not measured)
    speech_seconds: float = 0.0
    speech_share: float = 0.0  # speech time over sounding time
    speech_spans: list[tuple[float, float]] = field(default_factory=list)
    speech_lufs: float | None = None
    pause_floor_lufs: float | None = None  # noise floor in the pauses between speech
    speech_to_noise_db: float | None = None
    speech_spread_lu: float | None = None  # loudness spread between speech segments (P90 - P10)
    tonality: float | None = None  # spectral flatness of the sounding non-speech parts (low: tonal, music)
    hum_fundamental_hz: float | None = None
    hum_harmonics: list[tuple[int, float, float]] = field(default_factory=list)  # (k, Hz, dB above neighbours)
    sample_count: int = 0  # samples measured (all channels), for the share of clipped ones

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VideoMeasurements:
    width: int
    height: int
    fps: float
    full_range: bool
    bit_depth: int
    luma_low: float  # 10th percentile of luma, 0..1 (mean over sampled frames)
    luma_high: float  # 90th percentile
    luma_min: float
    luma_max: float
    brightness: float  # mean luma 0..1
    contrast: float  # luma_high - luma_low
    saturation: float  # mean saturation 0..1 (of the maximum possible)
    cast_u: float  # mean U offset from neutral, -1..1
    cast_v: float
    noise_sigma: float  # estimated noise standard deviation in 8-bit levels
    black_spans: list[tuple[float, float]]
    frozen_spans: list[tuple[float, float]]
    sampled_frames: int
    stabilization_file: str | None = None
    # measured on frames sampled in the analysis pass (picture.PictureStats; None: not measured)
    picture: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Analysis:
    info: MediaInfo
    audio: AudioMeasurements | None = None
    video: VideoMeasurements | None = None
    # the picture figures (picture.PictureStats) when asked for; also in video.picture when video was measured
    picture: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.info.path,
            "duration": self.info.duration,
            "format": self.info.format_name,
            "size": self.info.size,
            "streams": [asdict(s) for s in self.info.streams],
            "audio": self.audio.to_dict() if self.audio else None,
            "video": self.video.to_dict() if self.video else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        info = MediaInfo.from_dict(
            {
                "path": data["file"],
                "format_name": data["format"],
                "duration": data["duration"],
                "size": data["size"],
                "streams": data["streams"],
            }
        )
        audio = data.get("audio")
        video = data.get("video")
        return cls(
            info=info,
            audio=AudioMeasurements(
                **{
                    **audio,
                    "silence_spans": [tuple(s) for s in audio["silence_spans"]],
                    "speech_spans": [tuple(s) for s in audio.get("speech_spans", [])],
                    "hum_harmonics": [tuple(h) for h in audio.get("hum_harmonics", [])],
                }
            )
            if audio
            else None,
            video=VideoMeasurements(
                **{
                    **video,
                    "black_spans": [tuple(s) for s in video["black_spans"]],
                    "frozen_spans": [tuple(s) for s in video["frozen_spans"]],
                }
            )
            if video
            else None,
        )


# --------------------------------------------------------------------------- graph


def _audio_graph(in_label: str) -> str:
    """The audio half of the analysis graph.

    The raw branch carries the real measurements (ebur128 with a momentary value every
    100 ms, from which noise floor and silence spans are derived, and astats). The rumble
    detector only looks below 100 Hz, so it runs on a 2 kHz copy. ``[a16]`` is the 16 kHz
    mono copy for the speech meter (written to a pipe).
    """
    parts = [
        f"{in_label}asplit=3[a_raw][a_det][a_sp]",
        "[a_raw]"
        + ",".join(
            [
                filter_str("ebur128", {"peak": "true", "framelog": "info"}, instance="raw"),
                filter_str("asetnsamples", {"n": 16384, "p": 0}),  # astats costs per frame: fewer, larger ones
                filter_str(
                    "astats",
                    {
                        "measure_perchannel": "none",
                        "measure_overall": "Peak_level+RMS_level+DC_offset+Peak_count+Flat_factor+Number_of_samples",
                    },
                    instance="raw",
                ),
            ]
        )
        + "[aout]",
        # One-second frames: resampled to 2 kHz, AAC's 1024-sample frames become 43-sample ones, and
        # astats' per-frame cost then made this branch ten times slower (6.3 s against 0.6 s a minute).
        "[a_det]"
        + filter_str("aresample", {"out_sample_rate": 2000})
        + ","
        + filter_str("asetnsamples", {"n": 2000, "p": 0})
        + ","
        + (lp := filter_str("lowpass", {"f": 60, "poles": 2}))
        + f",{lp},"
        + filter_str("astats", {"measure_perchannel": "none", "measure_overall": "RMS_level"}, instance="rumble")
        + ",anullsink",
        "[a_sp]"
        + ",".join(
            [
                filter_str("aresample", {"out_sample_rate": 16000}),
                filter_str("aformat", {"sample_fmts": "flt", "channel_layouts": "mono"}),
            ]
        )
        + "[a16]",
    ]
    return ";".join(parts)


def _video_graph(in_label: str, info: MediaInfo, trf: Path | None, sampler: Any = None) -> str:
    """The video half; ``sampler`` (picture.FrameSampler) adds the branch ``[vpic]`` of sampled frames."""
    v = info.video
    assert v is not None
    branches = ["stats", "bf", "noise"] + (["stab"] if trf else []) + (["pic"] if sampler is not None else [])
    # The decoded format, pinned before the split: the split's outputs share one format, and with an input
    # -ss/-t (a span) ffmpeg's trim filter let the noise branch's format=gray win, so that every branch
    # (signalstats' levels, cast and saturation, the sampled frames' chroma) got grey frames.
    pin = filter_str("format", {"pix_fmts": v.pix_fmt}) + "," if v.pix_fmt else ""
    parts = [f"{in_label}{pin}split={len(branches)}" + "".join(f"[v_{b}]" for b in branches)]
    every_half_second = "isnan(prev_selected_t)+gte(t-prev_selected_t,0.5)"
    every_second = "isnan(prev_selected_t)+gte(t-prev_selected_t,1)"
    parts.append(
        "[v_stats]"
        + ",".join(
            [
                filter_str("select", {"expr": every_half_second}),
                filter_str("scale", {"w": "min(640,iw)", "h": -2, "flags": "bilinear"}),
                "signalstats",
                filter_str("metadata", {"mode": "print"}, instance="stats"),
                "nullsink",
            ]
        )
    )
    parts.append(
        "[v_bf]"
        + ",".join(
            [
                filter_str("scale", {"w": 320, "h": -2, "flags": "fast_bilinear"}),
                filter_str("blackdetect", {"d": 0.5, "pic_th": 0.98}, instance="black"),
                filter_str("freezedetect", {"n": 0.003, "d": 2}, instance="freeze"),
            ]
        )
        + "[vout]"
    )
    parts.append(
        "[v_noise]"
        + ",".join(
            [
                filter_str("select", {"expr": every_second}),
                filter_str("crop", {"w": "min(iw,max(64,iw/2))", "h": "min(ih,max(64,ih/2))"}),
                "format=gray",
                "split[n_a][n_b]",
            ]
        )
    )
    parts.append("[n_b]" + filter_str("median", {"radius": 1}) + "[n_m]")
    parts.append("[n_a][n_m]" + filter_str("psnr", None, instance="noise") + ",nullsink")
    if trf:
        parts.append(
            "[v_stab]"
            + filter_str("vidstabdetect", {"shakiness": 6, "accuracy": 9, "result": str(trf)}, instance="stab")
            + ",nullsink"
        )
    if sampler is not None:
        parts.append("[v_pic]" + sampler.chain() + "[vpic]")
    return ";".join(parts)


# --------------------------------------------------------------------------- parsing

_PREFIX = re.compile(r"^\[(?P<name>[^\]@ ]+(?:@[^\] ]+)?) @ 0x[0-9a-f]+\] (?P<rest>.*)$")
_MOMENTARY = re.compile(r"\bM:\s*(-?[\d.]+|-inf|nan)")
_SUMMARY_I = re.compile(r"^\s*I:\s*(-?[\d.]+|-inf) LUFS")
_SUMMARY_LRA = re.compile(r"^\s*LRA:\s*(-?[\d.]+) LU")
_SUMMARY_PEAK = re.compile(r"^\s*Peak:\s*(-?[\d.]+|-inf) dBFS")
_KV = re.compile(r"^([A-Za-z][A-Za-z _()]*?):\s*(-?[\d.]+|-?inf|nan)\s*$")
_DECODE_ERRORS = (
    "partial file",
    "Invalid NAL",
    "error while decoding",
    "Invalid data found",
    "corrupt",
    "Error splitting",
    "truncat",
    "Packet corrupt",
    "missing picture",
    "concealing",
)


class _FrameTable:
    """Per-frame picture statistics in flat float arrays: memory stays small for long inputs."""

    KEYS = ("t", "YMIN", "YLOW", "YAVG", "YHIGH", "YMAX", "SATAVG", "UAVG", "VAVG")

    def __init__(self) -> None:
        self.cols = {k: array("f") for k in self.KEYS}

    def add(self, frame: dict[str, float]) -> None:
        if "YAVG" not in frame:
            return
        for k, col in self.cols.items():
            col.append(frame.get(k, math.nan))

    def __len__(self) -> int:
        return len(self.cols["YAVG"])

    def rows(self, keep: Callable[[float], bool]) -> list[int]:
        return [i for i, t in enumerate(self.cols["t"]) if keep(t)]

    def values(self, key: str, rows: list[int]) -> list[float]:
        col = self.cols[key]
        return [col[i] for i in rows if math.isfinite(col[i])]


class _Collector:
    """Streams stderr lines into compact measurements."""

    def __init__(self) -> None:
        self.momentary = array("f")  # momentary loudness every 100 ms (400 ms windows)
        self.summary: dict[str, dict[str, float]] = {}
        self.stats: dict[str, dict[str, float]] = {}
        self.black: list[tuple[float, float]] = []
        self.freeze_starts: list[float] = []
        self.freeze: list[tuple[float, float]] = []
        self.psnr_y: float | None = None
        self.frames = _FrameTable()
        self.decode_errors = 0
        self._summary_of: str | None = None
        self._frame: dict[str, float] | None = None

    def feed(self, line: str) -> bool:
        """Consume a line; return True to keep it (we keep none: everything is folded)."""
        m = _PREFIX.match(line)
        if m is None:
            if self._summary_of is not None:
                self._summary_line(line)
            elif any(e in line for e in _DECODE_ERRORS):
                self.decode_errors += 1
            return False
        name, rest = m.group("name"), m.group("rest")
        self._summary_of = None
        if "@" not in name:  # a demuxer or decoder talking
            if any(e in rest for e in _DECODE_ERRORS):
                self.decode_errors += 1
            return False
        kind, inst = name.split("@", 1)
        if kind == "ebur128":
            if rest.startswith("Summary"):
                self._summary_of = inst
                self.summary[inst] = {}
            elif rest.startswith("t:") and inst == "raw":
                mm = _MOMENTARY.search(rest)
                if mm:
                    self.momentary.append(_num(mm.group(1)))
        elif kind == "astats":
            kv = _KV.match(rest)
            if kv:
                self.stats.setdefault(inst, {})[kv.group(1).strip()] = _num(kv.group(2))
        elif kind == "blackdetect" or kind == "black":
            pass
        elif kind == "metadata":
            if rest.startswith("frame:"):
                if self._frame:
                    self.frames.add(self._frame)
                self._frame = {}
                if "pts_time:" in rest:
                    self._frame["t"] = _num(rest.split("pts_time:")[1].split()[0])
            elif rest.startswith("lavfi.signalstats.") and self._frame is not None:
                key, _, value = rest[len("lavfi.signalstats.") :].partition("=")
                self._frame[key] = _num(value)
        elif kind == "psnr":
            if "PSNR y:" in rest:
                self.psnr_y = _num(rest.split("PSNR y:")[1].split()[0])
        return False

    def feed_detect(self, line: str) -> None:
        if "black_start:" in line:
            fields = dict(re.findall(r"(black_start|black_end):\s*(-?[\d.]+)", line))
            if "black_start" in fields and "black_end" in fields:
                self.black.append((float(fields["black_start"]), float(fields["black_end"])))
        elif "lavfi.freezedetect.freeze_start:" in line:
            self.freeze_starts.append(_num(line.split("freeze_start:")[1].split()[0]))
        elif "lavfi.freezedetect.freeze_end:" in line and self.freeze_starts:
            self.freeze.append((self.freeze_starts.pop(0), _num(line.split("freeze_end:")[1].split()[0])))

    def _summary_line(self, line: str) -> None:
        assert self._summary_of is not None
        target = self.summary[self._summary_of]
        for key, rx in (("I", _SUMMARY_I), ("LRA", _SUMMARY_LRA), ("Peak", _SUMMARY_PEAK)):
            mm = rx.match(line)
            if mm:
                target[key] = _num(mm.group(1))


def _num(text: str) -> float:
    text = text.strip()
    if text in ("-inf", "inf", "nan"):
        return float(text)
    try:
        return float(text)
    except ValueError:
        return math.nan


# --------------------------------------------------------------------------- loudness maths


def loudness_from_blocks(momentary: list[float]) -> float:
    """BS.1770 integrated loudness from 400 ms block loudness values (gated)."""
    powers = [10 ** ((m + 0.691) / 10) for m in momentary if math.isfinite(m) and m > -70.0]
    if not powers:
        return -70.0
    rel = 10 * math.log10(sum(powers) / len(powers)) - 0.691 - 10.0
    gated = [p for p in powers if 10 * math.log10(p) - 0.691 > rel]
    if not gated:
        return -70.0
    return 10 * math.log10(sum(gated) / len(gated)) - 0.691


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    idx = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[idx]


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1e-6:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _db(x: float) -> float:
    return round(x, 2) if math.isfinite(x) else (-120.0 if x < 0 or math.isnan(x) else 120.0)


# --------------------------------------------------------------------------- entry point


def analyze(
    path: Path,
    info: MediaInfo,
    tools: FFmpegTools,
    *,
    audio: bool = True,
    video: bool = True,
    stabilize: bool = False,
    workdir: Path | None = None,
    span: tuple[float, float] | None = None,
    on_progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    what: str = "analysis",
    picture: bool | None = None,
    speech_spans: list[tuple[float, float]] | None = None,
) -> Analysis:
    """Measure ``path`` in one decode pass. ``info`` comes from :func:`probe`; ``span`` (start,
    end seconds) limits the pass to the part that will be used (an export's segments).
    ``picture`` (default: as ``video``) samples frames for the picture figures in the same pass;
    their raw frames go to ``workdir`` (or a work folder of their own) and are removed after.
    ``speech_spans``, when given, are taken as where the speech is instead of running the voice
    detector (an output check on the input's timeline measures the same turns as the input)."""
    do_audio = audio and info.has_audio
    do_video = video and info.has_video
    sampler = None
    if info.video is not None and (video if picture is None else picture):
        from mediaenhancer_core.engine.picture import frame_sampler  # noqa: PLC0415 - numpy, only for video

        v = info.video
        sampler = frame_sampler(width=v.width or 0, height=v.height or 0, duration=info.duration, span=span)
    if not do_audio and not do_video and sampler is None:
        return Analysis(info=info)
    trf = None
    if do_video and stabilize:
        if workdir is None:
            raise ValueError("stabilize needs a workdir for the motion file")
        trf = workdir / "motion.trf"

    graph_parts = []
    maps: list[str] = []
    if do_audio:
        graph_parts.append(_audio_graph(f"[0:{info.audio.index}]"))  # type: ignore[union-attr]
        maps += ["-map", "[aout]"]
    if do_video:
        graph_parts.append(_video_graph(f"[0:{info.video.index}]", info, trf, sampler))  # type: ignore[union-attr]
        maps += ["-map", "[vout]"]
    elif sampler is not None:
        graph_parts.append(f"[0:{info.video.index}]{sampler.chain()}[vpic]")  # type: ignore[union-attr]
    args = [str(tools.ffmpeg), "-v", "info"]
    if tools.threads:
        args += ["-threads", str(tools.threads)]
    if span is not None:
        args += ["-ss", f"{span[0]:.6f}", "-t", f"{max(0.05, span[1] - span[0]):.6f}"]
    args += ["-i", str(path), "-filter_complex", ";".join(graph_parts)]
    if maps:
        args += maps
        if do_video:
            args += ["-c:v", "wrapped_avframe"]
        if do_audio:
            args += ["-c:a", "pcm_f32le"]
        args += ["-f", "null", "-"]
    meter = None
    if do_audio:
        from mediaenhancer_core.engine.speech import SpeechMeter  # noqa: PLC0415 - numpy and the VAD load only when sound is measured

        meter = SpeechMeter(vad=speech_spans is None)
        args += ["-map", "[a16]", "-c:a", "pcm_f32le", "-f", "f32le", PIPE_OUT]
    own_folder = None
    frames_file = None
    if sampler is not None:
        if workdir is None:
            workdir = own_folder = make_workdir()
        frames_file = workdir / "picture-frames.yuv"
        args += sampler.output_args("[vpic]", frames_file)

    col = _Collector()

    def keep(line: str) -> bool:
        col.feed(line)
        if "black_start" in line or "freezedetect." in line:
            col.feed_detect(line)
        return False

    decoded = 0.0

    def progress(seconds: float) -> None:
        nonlocal decoded
        decoded = max(decoded, seconds)
        if on_progress:
            on_progress(seconds)

    follower = None
    if sampler is not None and frames_file is not None:
        from mediaenhancer_core.engine.picture import FrameFollower  # noqa: PLC0415 - numpy, only for video

        # the sampled frames are measured as they come (they are spread over the file), not after the pass
        follower = FrameFollower(sampler, frames_file)
    stop = threading.Event()
    failed: list[BaseException] = []

    def follow() -> None:
        assert follower is not None
        try:
            while not stop.wait(0.25):
                follower.poll()
        except BaseException as exc:  # noqa: BLE001 - raised below, after the pass
            failed.append(exc)

    watcher = threading.Thread(target=follow, daemon=True) if follower is not None else None
    try:
        if watcher is not None:
            watcher.start()
        run(
            args,
            keep=keep,
            on_progress=progress,
            cancel=cancel,
            what=what,
            path=path,
            read_pipe=meter.read if meter is not None else None,
        )
        stop.set()
        if watcher is not None:
            watcher.join()
        if failed:
            raise failed[0]
        pictured = follower.stats() if follower is not None else None
    finally:
        stop.set()
        if watcher is not None:
            watcher.join()
        if frames_file is not None:
            frames_file.unlink(missing_ok=True)
        if own_folder is not None:
            remove_workdir(own_folder)
    if col._frame:
        col.frames.add(col._frame)

    duration = (span[1] - span[0]) if span is not None else info.duration
    if duration > 2.0 and decoded < duration * 0.9 - 1.0 and col.decode_errors:
        raise CorruptMediaError(
            f"{path}: truncated or damaged (only {decoded:.1f} s of {duration:.1f} s decode); "
            "re-export or re-download it",
            path=path,
        )

    result = Analysis(info=info)
    if do_audio:
        assert meter is not None
        result.audio = _audio_measurements(col, decoded or duration, meter, speech_spans)
    result.picture = pictured
    if do_video:
        result.video = _video_measurements(col, info, trf, decoded or duration)
        if result.picture is not None:
            # noise, black/white points and the cast of near-neutral pixels, from decoded frames
            # (see picture.py); the noise figure replaces the median-filter PSNR guess
            result.video.picture = result.picture.to_dict()
            result.video.noise_sigma = result.picture.noise_luma
    return result


def _audio_measurements(
    col: _Collector, decoded: float, meter: Any, known_speech: list[tuple[float, float]] | None = None
) -> AudioMeasurements:
    from mediaenhancer_core.engine.speech import speech_figures  # noqa: PLC0415

    raw = col.summary.get("raw", {})
    stats = col.stats.get("raw", {})
    integrated = raw.get("I", -70.0)
    # The noise floor is the level of the quietest tenth of the 400 ms blocks (the first three
    # reports cover partial windows and are skipped). Digital silence counts: a recording with
    # true silence in its pauses has no noise to remove.
    momentary = [max(m, -120.0) for m in col.momentary[3:] if not math.isnan(m)]
    noise_floor = _percentile(momentary, 0.10) if momentary else -120.0

    peak = stats.get("Peak level dB", -math.inf)
    peak_count = int(stats.get("Peak count", 0) or 0)
    flat = stats.get("Flat factor", 0.0) or 0.0
    clipping = math.isfinite(peak) and peak_count >= CLIP_MIN_SAMPLES and flat >= CLIP_MIN_FLAT_DB
    clipped_samples = peak_count if clipping else 0

    threshold = silence_threshold(noise_floor, integrated)
    spans = silence_spans(col.momentary, threshold, decoded)
    silent = sum(b - a for a, b in spans)

    rms = stats.get("RMS level dB", -math.inf)
    rumble_level = col.stats.get("rumble", {}).get("RMS level dB", -math.inf)
    rumble = rumble_level - rms if math.isfinite(rumble_level) and math.isfinite(rms) else -120.0

    hum = meter.hum()
    if known_speech is None:
        speech = meter.speech_spans()
    else:
        speech = [(a, min(b, decoded)) for a, b in known_speech if a < decoded]
    figures = speech_figures(col.momentary, speech, decoded, meter.gap_snr(speech))
    sounding = meter.sounding_seconds()
    tonality = meter.tonality(speech)
    share = min(1.0, figures.speech_seconds / sounding) if sounding > 0 else 0.0
    content = classify(integrated, sounding, figures.speech_seconds, share, tonality)

    return AudioMeasurements(
        integrated_lufs=_db(integrated),
        loudness_range_lu=_db(raw.get("LRA", 0.0)),
        true_peak_dbtp=_db(raw.get("Peak", -math.inf)),
        sample_peak_dbfs=_db(peak),
        rms_dbfs=_db(rms),
        noise_floor_lufs=_db(noise_floor),
        dc_offset=round(stats.get("DC offset", 0.0) or 0.0, 6),
        clipped_samples=clipped_samples,
        clipping=clipping,
        silence_threshold_db=float(threshold),
        silence_spans=spans,
        silence_share=round(silent / decoded, 4) if decoded > 0 else 0.0,
        hum_hz=hum.mains_hz,
        hum_prominence_db=hum.prominence_db,
        rumble_db=_db(rumble),
        decoded_seconds=round(decoded, 3),
        content=content,
        speech_seconds=figures.speech_seconds,
        speech_share=round(share, 3),
        speech_spans=speech,
        speech_lufs=figures.speech_lufs,
        pause_floor_lufs=figures.pause_floor_lufs,
        speech_to_noise_db=figures.speech_to_noise_db,
        speech_spread_lu=figures.speech_spread_lu,
        tonality=round(tonality, 4) if tonality is not None else None,
        hum_fundamental_hz=hum.fundamental_hz,
        hum_harmonics=hum.harmonics,
        sample_count=int(stats.get("Number of samples", 0) or 0),
    )


MUSIC_FLATNESS = 0.12  # sounding non-speech parts more tonal than this are music (noise: 0.3 and up)


def classify(integrated: float, sounding: float, speech_seconds: float, share: float, tonality: float | None) -> str:
    """What a sound track mostly holds, from the measurements."""
    if integrated <= -69.0:
        return "silence"
    if sounding < 0.5:
        return "ambience"  # sound, but next to nothing where speech would be
    tonal = tonality is not None and tonality < MUSIC_FLATNESS
    if speech_seconds >= 1.0 and share >= 0.25:
        # music under the speech shows in the pauses; too little pause time says nothing
        return "speech+music" if tonal and share < 0.6 else "speech"
    return "music" if tonal else "ambience"


def silence_threshold(noise_floor: float, integrated: float) -> float:
    """Blocks quieter than this (LUFS, 400 ms) are silence: above the noise floor, well below speech."""
    return round(min(max(noise_floor + 8.0, -70.0), integrated - 12.0), 1)


def silence_spans(momentary: Any, threshold: float, duration: float) -> list[tuple[float, float]]:
    """Runs of 400 ms blocks under ``threshold``, as (start, end) seconds, at least SILENCE_MIN long.

    The block reported at time t covers [t - 0.4, t]; reports come every 100 ms.
    """
    spans: list[tuple[float, float]] = []
    start: float | None = None
    last = 0.0
    for i, m in enumerate(momentary):
        t = round((i + 1) * BLOCK_STEP, 3)
        quiet = not (m > threshold)  # NaN and -inf count as quiet
        if quiet and start is None:
            start = max(0.0, t - BLOCK_WINDOW)
        elif not quiet and start is not None:
            spans.append((start, last))
            start = None
        if quiet:
            last = t
    if start is not None:
        spans.append((start, max(last, duration) if duration - last < 0.2 else last))
    return [(round(a, 3), round(min(b, duration), 3)) for a, b in spans if min(b, duration) - a >= SILENCE_MIN]


def _video_measurements(col: _Collector, info: MediaInfo, trf: Path | None, duration: float) -> VideoMeasurements:
    v = info.video
    assert v is not None
    table = col.frames
    # levels describe the picture, not its black stretches (fades, slates): leave those out
    black = _merge(col.black)
    rows = table.rows(lambda t: not any(a <= t <= b for a, b in black))
    if len(rows) < 2:
        rows = table.rows(lambda t: True)
    # signalstats' YBITDEPTH is the depth the content happens to use (1 for a flat frame); the
    # scale of its statistics follows the pixel format
    pix = v.pix_fmt or ""
    bits = 16 if "16" in pix else 12 if "12" in pix else 10 if "10" in pix else 8
    scale = float((1 << bits) - 1)
    full_range = bool(v.pix_fmt and v.pix_fmt.startswith("yuvj"))

    def mean(key: str) -> float:
        vals = table.values(key, rows)
        return sum(vals) / len(vals) if vals else math.nan

    neutral = 1 << (bits - 1)
    ylow, yhigh = mean("YLOW") / scale, mean("YHIGH") / scale
    ymin = _percentile(table.values("YMIN", rows), 0.5) / scale if rows else math.nan
    ymax = _percentile(table.values("YMAX", rows), 0.5) / scale if rows else math.nan
    # saturation in signalstats is the chroma vector length; its maximum is about 181 at 8 bits
    sat = mean("SATAVG") / (scale * 0.7071)
    psnr = col.psnr_y if col.psnr_y is not None and math.isfinite(col.psnr_y) else 60.0
    sigma = 255.0 / (10 ** (psnr / 20.0))

    def r(x: float, nd: int = 4) -> float:
        return round(x, nd) if math.isfinite(x) else 0.0

    return VideoMeasurements(
        width=v.width or 0,
        height=v.height or 0,
        fps=round(v.fps or 0.0, 3),
        full_range=full_range,
        bit_depth=bits,
        luma_low=r(ylow),
        luma_high=r(yhigh),
        luma_min=r(ymin),
        luma_max=r(ymax),
        brightness=r(mean("YAVG") / scale),
        contrast=r(yhigh - ylow),
        saturation=r(sat),
        cast_u=r((mean("UAVG") - neutral) / neutral),
        cast_v=r((mean("VAVG") - neutral) / neutral),
        noise_sigma=r(sigma, 2),
        black_spans=_merge([(round(a, 3), round(b, 3)) for a, b in col.black]),
        # a freeze still going at the end of the file is never closed by freezedetect
        frozen_spans=_merge(
            [(round(a, 3), round(b, 3)) for a, b in [*col.freeze, *((s, duration) for s in col.freeze_starts)]]
        ),
        sampled_frames=len(rows),
        stabilization_file=str(trf) if trf else None,
    )
