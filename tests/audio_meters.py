"""Meters for the audio-quality tests, written for the tests alone (the engine shares none of them).

Real speech and noise come from tests/data/media (see its SOURCES.md); mixtures are made
here at known signal-to-noise ratios, so that the clean recording is known and the
enhanced output can be scored against it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from tests import media as M

MEDIA = Path(__file__).parent / "data" / "media"
RATE = 48000


def load(name: str, rate: int = RATE) -> np.ndarray:
    """A recording from tests/data/media as mono float64 at ``rate``."""
    out = subprocess.run(
        [M.FFMPEG, "-v", "error", "-i", str(MEDIA / name), "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.float32).astype(np.float64)


def decode(path: Path, rate: int = RATE, channels: int = 1) -> np.ndarray:
    out = subprocess.run(
        [
            M.FFMPEG,
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-ac",
            str(channels),
            "-ar",
            str(rate),
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    x = np.frombuffer(out, np.float32).astype(np.float64)
    return x if channels == 1 else x.reshape(-1, channels)


def write(path: Path, x: np.ndarray, rate: int = RATE, codec: str = "pcm_s24le") -> Path:
    """Write float audio (mono or [n, ch]) through ffmpeg, so any container works."""
    data = np.asarray(x, np.float32)
    ch = 1 if data.ndim == 1 else data.shape[1]
    subprocess.run(
        [
            M.FFMPEG,
            "-v",
            "error",
            "-y",
            "-f",
            "f32le",
            "-ar",
            str(rate),
            "-ac",
            str(ch),
            "-i",
            "-",
            "-c:a",
            codec,
            str(path),
        ],
        input=data.tobytes(),
        check=True,
    )
    return path


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-30))


def db(x: float) -> float:
    return 20 * np.log10(max(x, 1e-15))


def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise (looped or cut to the speech's length) at ``snr_db`` (power over the whole file)."""
    n = np.resize(noise, speech.shape)
    n = n * (rms(speech) / rms(n)) / 10 ** (snr_db / 20)
    return speech + n


def si_sdr(estimate: np.ndarray, reference: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio (dB) of ``estimate`` against ``reference``."""
    n = min(len(estimate), len(reference))
    e = estimate[:n] - np.mean(estimate[:n])
    r = reference[:n] - np.mean(reference[:n])
    a = np.dot(e, r) / np.dot(r, r)
    target = a * r
    return float(10 * np.log10(np.sum(target**2) / np.sum((e - target) ** 2)))


def lag(output: np.ndarray, reference: np.ndarray, max_lag: int = 4800) -> int:
    """Samples by which ``output`` is late against ``reference`` (cross-correlation peak, FFT)."""
    n = min(len(output), len(reference))
    a, b = output[:n], reference[:n]
    size = 1 << int(np.ceil(np.log2(2 * n)))
    c = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    c = np.concatenate([c[-max_lag:], c[: max_lag + 1]])
    return int(np.argmax(c)) - max_lag


def speech_mask(clean: np.ndarray, rate: int = RATE, block: float = 0.05, below_db: float = 35.0) -> np.ndarray:
    """Per block of ``block`` seconds: True where the clean recording has speech (within ``below_db`` of its loud part)."""
    n = int(rate * block)
    blocks = len(clean) // n
    e = np.array([db(rms(clean[i * n : (i + 1) * n])) for i in range(blocks)])
    return e > np.percentile(e, 95) - below_db


def pause_level(x: np.ndarray, clean: np.ndarray, rate: int = RATE, block: float = 0.05) -> float:
    """RMS level (dBFS) of ``x`` in the pauses of the clean recording, at least 150 ms away from speech."""
    n = int(rate * block)
    sp = speech_mask(clean, rate, block)
    guard = int(round(0.15 / block))
    pause = ~np.convolve(sp, np.ones(2 * guard + 1), mode="same").astype(bool)
    idx = np.flatnonzero(pause)
    assert len(idx) >= 4, "the clean recording has no pause long enough to measure"
    return db(np.sqrt(np.mean([np.mean(x[i * n : (i + 1) * n] ** 2) for i in idx])))


def speech_level(x: np.ndarray, clean: np.ndarray, rate: int = RATE, block: float = 0.05) -> float:
    n = int(rate * block)
    idx = np.flatnonzero(speech_mask(clean, rate, block))
    return db(np.sqrt(np.mean([np.mean(x[i * n : (i + 1) * n] ** 2) for i in idx])))


def line_prominence(x: np.ndarray, freq: float, rate: int = RATE) -> float:
    """How far a spectral line at ``freq`` stands above the bands 6-25 Hz beside it (dB; ~0 when absent)."""
    n = 1 << 16  # 0.73 Hz bins at 48 kHz
    frames = [x[i : i + n] for i in range(0, len(x) - n + 1, n // 2)] or [np.pad(x, (0, n - len(x)))]
    p = np.mean([np.abs(np.fft.rfft(f * np.hanning(n))) ** 2 for f in frames], axis=0)
    res = rate / n
    k = int(round(freq / res))
    peak = p[k - 3 : k + 4].max()
    side = np.concatenate(
        [p[int((freq - 25) / res) : int((freq - 6) / res)], p[int((freq + 6) / res) : int((freq + 25) / res)]]
    )
    return float(10 * np.log10(peak / np.median(side)))


def short_term_loudness(x: np.ndarray, start: float, end: float, rate: int = RATE) -> float:
    """BS.1770 loudness of a stretch (pyloudnorm), for the level of one speaker's turn."""
    import pyloudnorm

    seg = x[int(start * rate) : int(end * rate)]
    return float(pyloudnorm.Meter(rate).integrated_loudness(seg))


def noisy_speech(
    dest: Path,
    *,
    speech: str = "speech-male-en-2.flac",
    noise: str = "noise-rain-1.flac",
    snr: float = 10.0,
    hum_hz: int | None = None,
    codec: str = "pcm_s16le",
) -> Path:
    """A real voice over real noise at ``snr`` dB (and mains hum with three harmonics, if asked), written to ``dest``."""
    x = mix(load(speech), load(noise), snr)
    if hum_hz:
        t = np.arange(len(x)) / RATE
        x = x + sum((0.01 / k) * np.sin(2 * np.pi * hum_hz * k * t) for k in (1, 2, 3))
    return write(dest, x * 0.5, codec=codec)


def phrase(
    length: float,
    used: set[tuple[int, int]] | None = None,
    rate: int = RATE,
    voices: tuple[str, ...] = (
        "speech-female-en-1.flac",
        "speech-male-en-2.flac",
        "speech-female-en-2.flac",
        "speech-female-eu-1.flac",
    ),
    max_gap: float = 0.45,
) -> np.ndarray:
    """A stretch of real speech exactly ``length`` seconds long (peak 0.5) that is loud at both ends and has
    no pause longer than ``max_gap`` inside: one phrase with known bounds. ``used`` avoids repeats."""
    used = used if used is not None else set()
    hop = rate // 100
    n = int(round(length * 100))
    for k, name in enumerate(voices):
        x = load(name, rate)
        x = x / np.max(np.abs(x)) * 0.5
        frames = len(x) // hop
        loud = np.sqrt(np.mean(x[: frames * hop].reshape(frames, hop) ** 2, axis=1)) > 0.02
        for s in range(0, frames - n):
            if (k, s) in used or not (loud[s] and loud[s + 1] and loud[s + n - 1] and loud[s + n - 2]):
                continue
            quiet = longest = 0
            for v in loud[s : s + n]:
                quiet = 0 if v else quiet + 1
                longest = max(longest, quiet)
            if longest * 0.01 < max_gap:
                used.add((k, s))
                return x[s * hop : (s + n) * hop]
    raise AssertionError(f"no {length} s phrase in the test recordings")


def speech_sync_clip(dest: Path, duration: float, events: tuple[float, ...], phrase_s: float = 1.5) -> Path:
    """Black video with a white flash at each event; the sound has a 1 kHz beep at the same instants, each
    followed by a real spoken phrase, and digital silence between (pauses --trim-silence may cut)."""
    x = np.zeros(int(duration * RATE))
    used: set[tuple[int, int]] = set()
    t = np.arange(int(0.1 * RATE)) / RATE
    for e in events:
        i = int(round(e * RATE))
        x[i : i + len(t)] = 0.5 * np.sin(2 * np.pi * 1000 * t)
        p = phrase(phrase_s, used)
        x[i + len(t) : i + len(t) + len(p)] = p[: len(x) - i - len(t)]
    wav = write(dest.with_suffix(".wav"), x)
    flash = "+".join(f"between(T\\,{e:g}\\,{e + 0.2:g})" for e in events)
    M.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=black:s=160x120:r=25:d={duration}",
        "-i",
        str(wav),
        "-filter_complex",
        f"[0]format=yuv420p,geq=lum='if({flash}\\,235\\,16)':cb=128:cr=128[v]",
        "-map",
        "[v]",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        str(dest),
    )
    wav.unlink()
    return dest
