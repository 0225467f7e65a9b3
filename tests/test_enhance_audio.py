"""Loudness and true peak of enhanced audio, checked by an independent BS.1770 meter."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaenhancer_core.engine.enhance import EnhanceJob, enhance_file
from mediaenhancer_core.engine.planner import EnhanceOptions
from mediaenhancer_core.engine.presets import BUILTIN_PRESETS
from tests import media as M


def _job(preset: str = "podcast", **kw) -> EnhanceJob:
    opts = {k: v for k, v in kw.items() if k in EnhanceOptions.__dataclass_fields__}
    rest = {k: v for k, v in kw.items() if k not in opts}
    return EnhanceJob(options=EnhanceOptions(preset=BUILTIN_PRESETS[preset], **opts), **rest)


def _check(out: Path, target: float, ceiling: float) -> None:
    measured = M.loudness(out)
    peak = M.true_peak(out)
    assert abs(measured - target) <= 0.5, f"{out.name}: {measured:.2f} LUFS, target {target}"
    assert peak <= ceiling + 0.05, f"{out.name}: true peak {peak:.2f} dBTP above {ceiling}"


@pytest.mark.parametrize(
    ("preset", "target", "ceiling"),
    [("podcast", -16.0, -1.5), ("streaming", -14.0, -1.0), ("broadcast", -23.0, -1.0)],
)
def test_presets_hit_their_target_with_every_cleanup_on(
    tmp_path: Path, tools, preset: str, target: float, ceiling: float
) -> None:
    # a tone pattern (not speech to the voice detector), loud hiss, 50 Hz hum: hum notches and the rumble
    # filter run, and the loudness target must still hold. (Real speech with every step on, the neural
    # denoiser and the leveler included: test_audio_quality.py.)
    src = M.make_audio(tmp_path / "in.wav", 10.0, ("-c:a", "pcm_s16le"), level=0.03, noise=0.006, hum_hz=50, hum=0.03)
    res = enhance_file(src, _job(preset, trim_silence=True), tools)
    assert res.status == "enhanced", res.error
    steps = [s["filter"] for s in res.plan["audio_steps"]]
    assert {"bandreject", "highpass"} <= set(steps)
    assert res.plan["trim"] is None and any("kept whole" in n for n in res.plan["notes"])  # no speech: no cuts
    _check(Path(res.output), target, ceiling)


def test_clipped_loud_input_is_declipped_and_limited(tmp_path: Path, tools) -> None:
    src = M.make_audio(tmp_path / "clipped.wav", 6.0, ("-c:a", "pcm_s16le"), level=0.3, clip_gain=4.0)
    res = enhance_file(src, _job("streaming"), tools)
    assert res.status == "enhanced", res.error
    assert res.before["audio"]["clipping"] is True
    assert res.plan["audio_steps"][0]["filter"] == "adeclip"
    _check(Path(res.output), -14.0, -1.0)


def test_peaky_input_needs_the_limiter_and_still_hits_target(tmp_path: Path, tools) -> None:
    # quiet speech with sharp, short bursts (plosives, a tapped microphone) 15 dB above it:
    # linear gain alone would push the bursts far over the ceiling
    src = tmp_path / "bursts.wav"
    M.ffmpeg(
        "-filter_complex",
        M.audio_graph(8.0, level=0.01)
        + ";aevalsrc=exprs='0.4*sin(2*PI*900*t)*exp(-mod(t\\,1.3)*300)':s=48000:d=8[c];[a][c]amix=inputs=2:normalize=0[o]",
        "-map",
        "[o]",
        "-c:a",
        "pcm_s16le",
        str(src),
    )
    res = enhance_file(src, _job("podcast", denoise=False), tools)
    assert res.status == "enhanced", res.error
    assert res.plan["loudness"]["mode"] == "linear+limiter"
    assert res.after["audio"]["limiter"] is True
    _check(Path(res.output), -16.0, -1.5)


def test_clean_input_gets_linear_gain_only(tmp_path: Path, tools) -> None:
    src = M.make_audio(tmp_path / "clean.wav", 6.0, ("-c:a", "pcm_s24le"), level=0.05)
    res = enhance_file(src, _job("podcast"), tools)
    assert res.status == "enhanced", res.error
    assert res.plan["audio_steps"] == []
    assert res.after["audio"]["limiter"] is False
    assert res.plan["loudness"]["mode"] == "linear"
    _check(Path(res.output), -16.0, -1.5)


@pytest.mark.parametrize(
    ("name", "codec_args", "codec"),
    [
        ("in.mp3", ("-c:a", "libmp3lame", "-q:a", "4"), "mp3"),
        ("in.m4a", ("-c:a", "aac", "-b:a", "96k"), "aac"),
        ("in.flac", ("-c:a", "flac"), "flac"),
        ("in.ogg", ("-c:a", "libvorbis"), "vorbis"),
        ("in.opus", ("-c:a", "libopus", "-b:a", "48k"), "opus"),
        ("in.wav", ("-c:a", "pcm_s16le"), "pcm_s16le"),
    ],
)
def test_audio_formats_keep_their_container(
    tmp_path: Path, tools, name: str, codec_args: tuple[str, ...], codec: str
) -> None:
    src = M.make_audio(tmp_path / name, 5.0, codec_args, level=0.03, noise=0.004)
    res = enhance_file(src, _job("podcast"), tools)
    assert res.status == "enhanced", res.error
    out = Path(res.output)
    assert out.name == name.replace(".", ".enhanced.", 1)
    info = M.probe(out)
    streams = info["streams"]
    assert [s["codec_type"] for s in streams] == ["audio"]
    assert streams[0]["codec_name"] == codec
    assert int(streams[0]["sample_rate"]) <= 48000
    _check(out, -16.0, -1.5)


def test_high_sample_rate_is_not_kept(tmp_path: Path, tools) -> None:
    src = M.make_audio(tmp_path / "hi.flac", 3.0, ("-c:a", "flac"), level=0.05, rate=96000)
    res = enhance_file(src, _job("podcast"), tools)
    assert res.status == "enhanced", res.error
    assert int(M.probe(Path(res.output))["streams"][0]["sample_rate"]) == 48000


def test_target_and_ceiling_override_the_preset(tmp_path: Path, tools) -> None:
    src = M.make_audio(tmp_path / "in.wav", 5.0, ("-c:a", "pcm_s16le"), level=0.05)
    res = enhance_file(src, _job("podcast", target_lufs=-20.0, true_peak=-3.0), tools)
    assert res.status == "enhanced", res.error
    _check(Path(res.output), -20.0, -3.0)


def test_stereo_input_stays_stereo(tmp_path: Path, tools) -> None:
    src = M.make_audio(tmp_path / "st.m4a", 4.0, ("-c:a", "aac"), level=0.05, channels=2)
    res = enhance_file(src, _job("podcast"), tools)
    assert res.status == "enhanced", res.error
    assert M.probe(Path(res.output))["streams"][0]["channels"] == 2
    _check(Path(res.output), -16.0, -1.5)


def test_silent_input_is_not_amplified(tmp_path: Path, tools) -> None:
    src = tmp_path / "silence.wav"
    M.ffmpeg("-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "3", "-c:a", "pcm_s16le", str(src))
    res = enhance_file(src, _job("podcast"), tools)
    assert res.status == "enhanced", res.error
    assert res.after["audio"]["gain_db"] == 0.0
    assert "silent" in res.plan["loudness"]["reason"]
