"""The one-pass analysis, checked against signals with known properties and an independent meter."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediaenhancer_core.engine.analysis import analyze, loudness_from_blocks, silence_spans, silence_threshold
from mediaenhancer_core.engine.probe import probe
from tests import media as M


def _analyze(path: Path, tools, **kw):
    return analyze(path, probe(path, tools), tools, **kw)


def test_loudness_matches_an_independent_meter(tmp_path: Path, tools) -> None:
    src = M.make_audio(tmp_path / "a.wav", 6.0, ("-c:a", "pcm_s16le"), level=0.04, noise=0.003)
    a = _analyze(src, tools).audio
    assert a is not None
    assert abs(a.integrated_lufs - M.loudness(src)) <= 0.2
    assert abs(a.true_peak_dbtp - M.true_peak(src)) <= 0.3


def test_silence_spans_match_the_generated_pauses(tmp_path: Path, tools) -> None:
    # pauses of 1.5 s every 4 s: [0, 1.5], [4, 5.5], [8, 9.5]
    src = M.make_audio(
        tmp_path / "p.wav", 10.0, ("-c:a", "pcm_s16le"), level=0.05, noise=0.001, pause_every=4.0, pause=1.5
    )
    a = _analyze(src, tools).audio
    assert a is not None
    assert len(a.silence_spans) == 3, a.silence_spans
    for (start, end), (want_s, want_e) in zip(a.silence_spans, [(0.0, 1.5), (4.0, 5.5), (8.0, 9.5)]):
        assert abs(start - want_s) <= 0.15 and abs(end - want_e) <= 0.15, a.silence_spans
    assert 0.40 <= a.silence_share <= 0.50


@pytest.mark.parametrize(("hz", "channels"), [(50, 1), (60, 1), (50, 2)])
def test_mains_hum_is_found_at_its_frequency(tmp_path: Path, tools, hz: int, channels: int) -> None:
    # speech with pauses of digital silence: the detectors must work there too (denormals, layouts)
    src = M.make_audio(
        tmp_path / f"h{hz}.wav", 4.0, ("-c:a", "pcm_s16le"), level=0.05, hum_hz=hz, hum=0.02, channels=channels
    )
    a = _analyze(src, tools).audio
    assert a is not None and a.hum_hz == hz, a.hum_prominence_db


def test_no_hum_and_no_clipping_on_clean_speech(tmp_path: Path, tools) -> None:
    src = M.make_audio(tmp_path / "c.wav", 4.0, ("-c:a", "pcm_s16le"), level=0.05)
    a = _analyze(src, tools).audio
    assert a is not None
    assert a.hum_hz is None and not a.clipping and a.clipped_samples == 0
    assert a.noise_floor_lufs <= -100  # digital silence in the pauses


def test_clipping_is_detected(tmp_path: Path, tools) -> None:
    src = M.make_audio(tmp_path / "k.wav", 3.0, ("-c:a", "pcm_s16le"), level=0.3, clip_gain=4.0)
    a = _analyze(src, tools).audio
    assert a is not None and a.clipping and a.clipped_samples > 100


def test_noise_floor_follows_the_noise(tmp_path: Path, tools) -> None:
    quiet = M.make_audio(tmp_path / "q.wav", 5.0, ("-c:a", "pcm_s16le"), level=0.05, noise=0.001)
    loud = M.make_audio(tmp_path / "l.wav", 5.0, ("-c:a", "pcm_s16le"), level=0.05, noise=0.02)
    fq = _analyze(quiet, tools).audio.noise_floor_lufs
    fl = _analyze(loud, tools).audio.noise_floor_lufs
    assert fl > fq + 20  # 20x the amplitude is 26 dB


def test_video_statistics_black_and_frozen_stretches(tmp_path: Path, tools) -> None:
    src = tmp_path / "bf.mp4"
    # 1.5 s black, 2 s of moving test picture, 3 s of one still frame
    M.ffmpeg(
        "-filter_complex",
        "color=black:s=160x120:r=25:d=1.5,format=yuv420p[b];testsrc2=s=160x120:r=25:d=2,format=yuv420p[m];"
        "testsrc2=s=160x120:r=25:d=0.04,format=yuv420p,loop=loop=75:size=1,setpts=N/25/TB[f];[b][m][f]concat=n=3:v=1:a=0[v]",
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(src),
    )
    v = _analyze(src, tools).video
    assert v is not None
    assert len(v.black_spans) == 1 and v.black_spans[0][0] == 0.0 and abs(v.black_spans[0][1] - 1.5) <= 0.1
    assert any(abs(a - 3.5) <= 0.3 and b >= 6.3 for a, b in v.frozen_spans), v.frozen_spans
    assert (v.width, v.height, v.fps) == (160, 120, 25.0)


def test_dim_noisy_picture_measures_dim_and_noisy(tmp_path: Path, tools) -> None:
    clean = M.make_video(tmp_path / "c.mp4", 2.0, level=0.05)
    bad = M.make_video(tmp_path / "b.mp4", 2.0, dim=True, noisy=True, level=0.05)
    vc, vb = _analyze(clean, tools).video, _analyze(bad, tools).video
    assert vb.brightness < vc.brightness - 0.1
    assert vb.luma_max < vc.luma_max
    assert vb.noise_sigma > vc.noise_sigma * 1.8
    assert vb.saturation < vc.saturation


def test_a_span_measures_the_colours_as_the_whole_file_does(tmp_path: Path, tools) -> None:
    """An export measures only the span it uses (input -ss/-t). The trim filter ffmpeg then adds
    once let the noise branch's grey format reach every branch: saturation and cast read 0."""
    src = M.make_video(tmp_path / "c.mp4", 4.0, level=0.05)  # testsrc2: saturated colour bars
    whole, part = _analyze(src, tools).video, _analyze(src, tools, span=(1.0, 3.0)).video
    assert whole is not None and part is not None
    assert whole.saturation > 0.1, whole.saturation
    assert abs(part.saturation - whole.saturation) < 0.2 * whole.saturation, (part.saturation, whole.saturation)
    assert abs(part.brightness - whole.brightness) < 0.05, (part.brightness, whole.brightness)


@pytest.mark.parametrize("span", [None, (0.7, 2.6)], ids=["whole", "span"])
def test_the_picture_figures_from_the_pass_equal_a_decode_of_their_own(tmp_path: Path, tools, span) -> None:
    """The frames for the picture figures are one more output of the analysis pass (issue 14): the same
    frames as the separate select decode that measured them before, so the same figures."""
    from mediaenhancer_core.engine.picture import measure_picture

    src = M.make_video(tmp_path / "n.mp4", 3.0, noisy=True, level=0.05)
    info = probe(src, tools)
    v = info.video
    assert v is not None
    alone = measure_picture(
        src, tools, width=v.width or 0, height=v.height or 0, duration=info.duration, span=span, stream=v.index
    )
    passed = analyze(src, info, tools, span=span)
    only = analyze(src, info, tools, audio=False, video=False, picture=True, span=span)
    assert alone is not None and alone.frames == 8 and alone.noise_luma > 5.0, alone
    assert passed.video is not None and passed.video.picture == alone.to_dict()
    assert only.picture == alone and only.video is None and only.audio is None


def test_audio_only_analysis_does_not_touch_the_picture(tmp_path: Path, tools) -> None:
    src = M.make_video(tmp_path / "v.mp4", 2.0, level=0.05)
    result = _analyze(src, tools, video=False)
    assert result.video is None and result.audio is not None


def test_block_maths() -> None:
    # two blocks at -20 and one at -40 LUFS: the -40 block is gated out (relative gate -10 LU)
    assert abs(loudness_from_blocks([-20.0, -20.0, -40.0]) - -20.0) < 1e-6
    assert silence_threshold(-60.0, -20.0) == -52.0
    assert silence_threshold(-120.0, -20.0) == -70.0  # digital silence: a sane absolute floor
    assert silence_threshold(-30.0, -25.0) == -37.0  # noise close to speech: stay under speech
    # momentary values every 100 ms: quiet from the 6th to the 15th report
    series = [-20.0] * 5 + [-80.0] * 10 + [-20.0] * 5
    assert silence_spans(series, -50.0, 2.0) == [(0.2, 1.5)]
