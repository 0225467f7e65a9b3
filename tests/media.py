"""Test media generated with ffmpeg's lavfi sources, and independent measurements.

Nothing here uses Media Enhancer's own measuring code: loudness is measured with
pyloudnorm (ITU-R BS.1770) and true peak by 4x polyphase oversampling with SciPy,
on audio decoded by ffmpeg to float WAV.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe")


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-v", "error", "-y", *args], check=True)


def speech_expr(
    level: float = 0.05, f0: float = 140.0, pause_every: float = 4.0, pause: float = 1.2, start: float = 0.0
) -> str:
    harm = "+".join(
        f"{a}*sin(2*PI*{f0 * k:g}*t)" for k, a in ((1, 1.0), (2, 0.7), (3, 0.5), (4, 0.35), (5, 0.25), (7, 0.15))
    )
    gate = f"gt(mod(t-{start:g}\\,{pause_every:g})\\,{pause:g})*gte(t\\,{start:g})"
    return f"{level}*({harm})*(0.55+0.45*sin(2*PI*4*t))*{gate}"


def audio_graph(
    duration: float,
    *,
    level: float = 0.05,
    noise: float = 0.0,
    hum_hz: int | None = None,
    hum: float = 0.02,
    clip_gain: float | None = None,
    pause_every: float = 4.0,
    pause: float = 1.2,
    channels: int = 1,
    rate: int = 48000,
) -> str:
    parts = [f"aevalsrc=exprs='{speech_expr(level, pause_every=pause_every, pause=pause)}':s={rate}:d={duration}[sp]"]
    mix = ["[sp]"]
    if noise:
        parts.append(f"anoisesrc=c=pink:a={noise}:r={rate}:d={duration}[ns]")
        mix.append("[ns]")
    if hum_hz:
        parts.append(f"sine=f={hum_hz}:r={rate}:d={duration},volume={hum}[hm]")
        mix.append("[hm]")
    chain = f"{''.join(mix)}amix=inputs={len(mix)}:normalize=0" if len(mix) > 1 else "[sp]anull"
    if clip_gain:
        chain += f",volume={clip_gain},aformat=sample_fmts=s16"
    layout = "mono" if channels == 1 else "stereo"
    parts.append(f"{chain},aformat=channel_layouts={layout}[a]")
    return ";".join(parts)


def make_audio(dest: Path, duration: float = 6.0, codec_args: tuple[str, ...] = (), **kw: object) -> Path:
    ffmpeg("-filter_complex", audio_graph(duration, **kw), "-map", "[a]", *codec_args, str(dest))  # type: ignore[arg-type]
    return dest


def make_video(
    dest: Path,
    duration: float = 4.0,
    *,
    size: str = "320x240",
    fps: int = 30,
    dim: bool = False,
    noisy: bool = False,
    shaky: bool = False,
    smooth: bool = False,
    video_args: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p"),
    audio_args: tuple[str, ...] = ("-c:a", "aac", "-b:a", "96k"),
    **audio_kw: object,
) -> Path:
    vf = [f"testsrc2=s={size}:r={fps}:d={duration}"]
    if smooth:  # slow gradients: any fine detail left in the picture is noise
        vf = [f"gradients=s={size}:r={fps}:d={duration}:speed=0.01:c0=0x303030:c1=0xa0a0a0"]
    if shaky:
        w, h = (int(x) for x in size.split("x"))
        vf = [f"testsrc2=s={w + 40}x{h + 40}:r={fps}:d={duration}", f"crop={w}:{h}:20+15*sin(t*9):20+15*cos(t*7)"]
    if dim:
        vf.append("eq=contrast=0.5:brightness=-0.15:saturation=0.6")
    if noisy:
        vf.append("noise=alls=25:allf=t")
    vf.append("format=yuv420p")
    graph = ",".join(vf) + "[v];" + audio_graph(duration, **audio_kw)  # type: ignore[arg-type]
    ffmpeg("-filter_complex", graph, "-map", "[v]", "-map", "[a]", *video_args, *audio_args, "-shortest", str(dest))
    return dest


def make_sync_clip(dest: Path, duration: float = 10.0, events: tuple[float, ...] = (2.0, 5.5, 8.6)) -> Path:
    """Black video with a white flash and a 1 kHz beep at the same instants, silence elsewhere.

    The gaps between events are silent, so --trim-silence cuts them; afterwards every
    flash must still coincide with its beep.
    """
    flash = "+".join(f"between(T\\,{t:g}\\,{t + 0.2:g})" for t in events)  # geq's clock is T
    beep = "+".join(f"between(t\\,{t:g}\\,{t + 0.2:g})" for t in events)
    graph = (
        f"color=black:s=160x120:r=25:d={duration},format=yuv420p,geq=lum='if({flash}\\,235\\,16)':cb=128:cr=128[v];"
        f"aevalsrc=exprs='0.5*sin(2*PI*1000*t)*({beep})':s=48000:d={duration}[a]"
    )
    ffmpeg(
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-map",
        "[a]",
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
    return dest


def decode_audio(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    out = path.with_name(path.name + ".decoded.wav")
    ffmpeg("-i", str(path), "-vn", "-c:a", "pcm_f32le", str(out))
    data, rate = sf.read(str(out), dtype="float64", always_2d=True)
    out.unlink()
    return data, rate


def loudness(path: Path) -> float:
    """Integrated loudness (LUFS) by pyloudnorm."""
    import pyloudnorm

    data, rate = decode_audio(path)
    return float(pyloudnorm.Meter(rate).integrated_loudness(data))


def true_peak(path: Path) -> float:
    """True peak (dBTP) by 4x polyphase oversampling, per BS.1770-4 Annex 2."""
    from scipy.signal import resample_poly

    data, _ = decode_audio(path)
    up = resample_poly(data, 4, 1, axis=0)
    peak = float(np.max(np.abs(up)))
    return 20 * np.log10(peak) if peak > 0 else -120.0


def probe(path: Path) -> dict:
    assert FFPROBE, "ffprobe needed by the tests"
    out = subprocess.run(
        [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def stream_md5(path: Path, selector: str) -> str:
    """MD5 of a stream's packets, copied without decoding (proves a stream was copied)."""
    out = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-map", f"0:{selector}", "-c", "copy", "-f", "md5", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def events(path: Path, kind: str) -> list[float]:
    """Start times of flashes (video) or beeps (audio) in a sync clip."""
    if kind == "video":
        out = subprocess.run(
            [
                FFMPEG,
                "-hide_banner",
                "-i",
                str(path),
                "-map",
                "0:v",
                "-vf",
                "signalstats,metadata=mode=print:key=lavfi.signalstats.YAVG",
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        times, values = [], []
        t = None
        for line in out.splitlines():
            if "pts_time:" in line:
                t = float(line.split("pts_time:")[1].split()[0])
            elif "YAVG=" in line and t is not None:
                times.append(t)
                values.append(float(line.split("YAVG=")[1]))
        starts, on = [], False
        for t, v in zip(times, values):
            if v > 120 and not on:
                starts.append(t)
            on = v > 120
        return starts
    data, rate = decode_audio(path)
    x = np.abs(data[:, 0])
    win = int(rate * 0.005)
    env = np.convolve(x, np.ones(win) / win, mode="same")
    above = env > 0.1
    starts = []
    prev = False
    for i in np.flatnonzero(np.diff(above.astype(int)) == 1):
        t = (i + 1) / rate
        if not starts or t - starts[-1] > 0.3:
            starts.append(t)
    del prev
    return starts
