"""Video enhancement: copy when nothing changes, measured improvements, scaling, fps, stabilisation, sync."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mediaenhancer_core.engine.enhance import EnhanceJob, enhance_file
from mediaenhancer_core.engine.planner import EnhanceOptions
from mediaenhancer_core.engine.presets import BUILTIN_PRESETS
from tests import media as M


def _job(**kw) -> EnhanceJob:
    opts = {k: v for k, v in kw.items() if k in EnhanceOptions.__dataclass_fields__}
    rest = {k: v for k, v in kw.items() if k not in opts}
    return EnhanceJob(options=EnhanceOptions(preset=BUILTIN_PRESETS["podcast"], **opts), **rest)


def _luma(path: Path) -> tuple[float, float, float]:
    """Mean over frames of (YAVG, YLOW, YHIGH), 8-bit levels, by ffmpeg's signalstats."""
    out = subprocess.run(
        [
            M.FFMPEG,
            "-hide_banner",
            "-i",
            str(path),
            "-map",
            "0:v",
            "-vf",
            "signalstats,metadata=mode=print",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    vals: dict[str, list[float]] = {"YAVG": [], "YLOW": [], "YHIGH": []}
    for line in out.splitlines():
        for k in vals:
            if f"lavfi.signalstats.{k}=" in line:
                vals[k].append(float(line.split("=")[1]))
    return tuple(sum(v) / len(v) for v in vals.values())  # type: ignore[return-value]


def _noise_psnr(path: Path, pre: str = "null") -> float:
    """PSNR of the picture against its median-filtered self: lower means noisier."""
    out = subprocess.run(
        [
            M.FFMPEG,
            "-hide_banner",
            "-i",
            str(path),
            "-filter_complex",
            f"[0:v]{pre},format=gray,split[a][b];[b]median=radius=1[m];[a][m]psnr",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    line = next(ln for ln in out.splitlines() if "PSNR y:" in ln)
    return float(line.split("PSNR y:")[1].split()[0])


def _vstream(path: Path) -> dict:
    return next(s for s in M.probe(path)["streams"] if s["codec_type"] == "video")


def test_clean_video_is_copied_not_reencoded(tmp_path: Path, tools) -> None:
    src = M.make_video(tmp_path / "clean.mp4", 3.0, level=0.05)
    res = enhance_file(src, _job(), tools)
    assert res.status == "enhanced", res.error
    assert res.plan["video_steps"] == []
    assert res.plan["output"]["video"] == "copy"
    assert M.stream_md5(Path(res.output), "v:0") == M.stream_md5(src, "v:0")


def test_audio_only_copies_even_a_bad_picture(tmp_path: Path, tools) -> None:
    src = M.make_video(tmp_path / "dim.mp4", 3.0, dim=True, noisy=True, level=0.02, noise=0.004)
    res = enhance_file(src, _job(audio_only=True), tools)
    assert res.status == "enhanced", res.error
    assert res.plan["video_steps"] == []
    assert M.stream_md5(Path(res.output), "v:0") == M.stream_md5(src, "v:0")
    assert abs(M.loudness(Path(res.output)) - -16.0) <= 0.5


@pytest.mark.slow
def test_dim_noisy_video_gets_brighter_cleaner_picture(tmp_path: Path, tools) -> None:
    src = M.make_video(tmp_path / "dim.mp4", 3.0, dim=True, noisy=True, smooth=True, level=0.05)
    res = enhance_file(src, _job(), tools)
    assert res.status == "enhanced", res.error
    filters = [s["filter"] for s in res.plan["video_steps"]]
    assert ("hqdn3d" in filters or "nlmeans" in filters) and "eq" in filters
    for step in res.plan["video_steps"]:
        assert step["reason"] and step["measured"], step
    out = Path(res.output)
    avg_in, low_in, high_in = _luma(src)
    avg_out, low_out, high_out = _luma(out)
    # (10-90% spreads are no contrast measure here: the noise itself widens the source's)
    assert high_out > high_in + 10, "highlights were not lifted"
    assert avg_out > avg_in + 10, "the dim picture did not get brighter"
    # the contrast stretch scales the noise too: compare with the source stretched the same way
    eq = next(st for st in res.plan["video_steps"] if st["filter"] == "eq")["params"]
    stretched = "eq=" + ":".join(f"{k}={v}" for k, v in eq.items())
    assert _noise_psnr(out) > _noise_psnr(src, stretched) + 2.5, "noise was not reduced"
    v = _vstream(out)
    assert (v["width"], v["height"]) == (320, 240)


def test_resolution_and_fps(tmp_path: Path, tools) -> None:
    src = M.make_video(tmp_path / "in.mp4", 2.0, level=0.05)
    res = enhance_file(src, _job(resolution="720p", fps=15.0, quality="draft"), tools)
    assert res.status == "enhanced", res.error
    v = _vstream(Path(res.output))
    assert (v["width"], v["height"]) == (960, 720)
    assert v["avg_frame_rate"] == "15/1"
    names = [s["filter"] for s in res.plan["video_steps"]]
    assert names.index("scale") < names.index("unsharp")  # upscaled pictures get sharpened after scaling


@pytest.mark.slow
def test_stabilize_reduces_frame_to_frame_motion(tmp_path: Path, tools) -> None:
    src = M.make_video(tmp_path / "shaky.mp4", 3.0, shaky=True, level=0.05)
    res = enhance_file(src, _job(stabilize=True, quality="draft"), tools)
    assert res.status == "enhanced", res.error
    assert res.plan["video_steps"][0]["filter"] == "vidstabtransform"

    def ydif(p: Path) -> float:
        out = subprocess.run(
            [
                M.FFMPEG,
                "-hide_banner",
                "-i",
                str(p),
                "-vf",
                "crop=iw/2:ih/2,signalstats,metadata=mode=print:key=lavfi.signalstats.YDIF",
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        vals = [float(ln.split("=")[1]) for ln in out.splitlines() if "YDIF=" in ln]
        return sum(vals[1:]) / len(vals[1:])

    assert ydif(Path(res.output)) < ydif(src) * 0.8


@pytest.mark.slow
def test_trim_silence_keeps_picture_and_sound_in_sync(tmp_path: Path, tools) -> None:
    from tests.audio_meters import speech_sync_clip

    events = (2.0, 5.5, 8.6)
    src = speech_sync_clip(tmp_path / "sync.mp4", 10.5, events)  # a beep and a spoken phrase at each flash
    res = enhance_file(src, _job(trim_silence=True, quality="draft"), tools)
    assert res.status == "enhanced", res.error
    assert res.plan["trim"] is not None
    out = Path(res.output)
    duration = float(M.probe(out)["format"]["duration"])
    assert duration < 10.5 - 3.5, "long pauses were not shortened"
    flashes = M.events(out, "video")
    assert len(flashes) == len(events), flashes
    beeps = beep_starts(out, flashes)
    for f, b in zip(flashes, beeps):
        assert abs(f - b) <= 0.045, f"flash at {f:.3f}s, beep at {b:.3f}s: out of sync"


def beep_starts(path: Path, near: list[float], hz: float = 1000.0, length: float = 0.1) -> list[float]:
    """Where a ``length`` s tone at ``hz`` starts within 0.5 s of each time in ``near`` (matched filter; the
    speech after each beep does not correlate with a pure tone)."""
    import numpy as np

    from tests.audio_meters import decode

    x = decode(path)
    rate = 48000
    t = np.arange(int(length * rate)) / rate
    found = []
    for f in near:
        a = max(0, int((f - 0.5) * rate))
        seg = x[a : int((f + 0.5) * rate)]
        mag = np.hypot(
            np.correlate(seg, np.cos(2 * np.pi * hz * t), "valid"),
            np.correlate(seg, np.sin(2 * np.pi * hz * t), "valid"),
        )
        found.append((a + int(np.argmax(mag))) / rate)
    return found


@pytest.mark.parametrize(
    ("fmt", "vcodec", "acodec"),
    [
        ("webm", "vp9", "opus"),
        ("mkv", "h264", "aac"),
        ("mov", "h264", "aac"),
        ("mp3", None, "mp3"),
        ("m4a", None, "aac"),
    ],
)
def test_output_formats(tmp_path: Path, tools, fmt: str, vcodec: str | None, acodec: str) -> None:
    src = M.make_video(tmp_path / "in.mp4", 2.0, size="160x120", level=0.05)
    res = enhance_file(src, _job(format=fmt, quality="draft"), tools)
    assert res.status == "enhanced", res.error
    out = Path(res.output)
    assert out.suffix == "." + fmt
    streams = {s["codec_type"]: s["codec_name"] for s in M.probe(out)["streams"]}
    assert streams.get("video") == vcodec
    assert streams["audio"] == acodec
    assert abs(M.loudness(out) - -16.0) <= 0.5


def test_mov_input_keeps_mov_and_pcm_never_goes_into_mp4(tmp_path: Path, tools) -> None:
    src = tmp_path / "in.mov"
    M.make_video(src, 2.0, size="160x120", level=0.05, audio_args=("-c:a", "pcm_s16le"))
    res = enhance_file(src, _job(), tools)
    assert res.status == "enhanced", res.error
    assert Path(res.output).suffix == ".mov"
    res2 = enhance_file(src, _job(format="mp4", force=True), tools)
    assert res2.status == "enhanced", res2.error
    audio = next(s for s in M.probe(Path(res2.output))["streams"] if s["codec_type"] == "audio")
    assert audio["codec_name"] == "aac"


def test_one_analysis_pass_and_one_render_pass(tmp_path: Path, tools, monkeypatch: pytest.MonkeyPatch) -> None:
    import mediaenhancer_core.engine.analysis as analysis
    import mediaenhancer_core.engine.picture as picture
    import mediaenhancer_core.engine.render as render

    calls: list[tuple[str, int, list[str]]] = []

    def spy(module):
        real = module.run

        def wrapper(args, **kw):
            calls.append((kw.get("what", "?"), sum(1 for a in args if a == "-i"), [str(a) for a in args]))
            return real(args, **kw)

        monkeypatch.setattr(module, "run", wrapper)

    spy(analysis)
    spy(picture)
    spy(render)
    src = M.make_video(tmp_path / "dim.mp4", 2.0, dim=True, noisy=True, level=0.02, noise=0.004)
    res = enhance_file(src, _job(), tools)
    assert res.status == "enhanced", res.error
    # the input is decoded exactly twice: one analysis pass and one render pass; the mux step
    # reads the render's intermediate (and the input only for its metadata); the output check
    # measures the written file for the summary. The frames for the picture figures come from those
    # decodes too (one more output of the analysis pass and of the output check): no decode of their own.
    reads_input = [c[0] for c in calls if str(src) in c[2][c[2].index("-i") + 1 : c[2].index("-i") + 2]]
    assert reads_input == ["analysis", "render"]
    assert [c[0] for c in calls if c[0] != "audio stage"] == ["analysis", "render", "mux", "output check"]
    assert calls[-1][2][calls[-1][2].index("-i") + 1] == res.output  # the check reads the output
    assert [c[0] for c in calls if "[vpic]" in c[2]] == ["analysis", "output check"]
    report = res.after["video"]
    assert report["before"]["frames"] > 0 and report["after"]["frames"] > 0
    assert report["after"]["noise_luma"] < report["before"]["noise_luma"]  # the picture was denoised
