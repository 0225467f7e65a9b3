"""Planner rules and output decisions: pure functions, no ffmpeg."""

from __future__ import annotations

import dataclasses

import pytest

from mediaenhancer_core.engine.analysis import Analysis, AudioMeasurements, VideoMeasurements
from mediaenhancer_core.engine.filtergraph import escape_value, filter_str
from mediaenhancer_core.engine.formats import output_spec
from mediaenhancer_core.engine.plan import Plan
from mediaenhancer_core.engine.planner import EnhanceOptions, MeasurementPlanner, plan_trim
from mediaenhancer_core.engine.presets import BUILTIN_PRESETS
from mediaenhancer_core.engine.probe import MediaInfo, StreamInfo
from mediaenhancer_core.errors import PlanError


def audio(**kw) -> AudioMeasurements:
    base = dict(
        integrated_lufs=-30.0,
        loudness_range_lu=5.0,
        true_peak_dbtp=-20.0,
        sample_peak_dbfs=-20.5,
        rms_dbfs=-32.0,
        noise_floor_lufs=-110.0,
        dc_offset=0.0,
        clipped_samples=0,
        clipping=False,
        silence_threshold_db=-70.0,
        silence_spans=[],
        silence_share=0.0,
        hum_hz=None,
        hum_prominence_db={"50": 0.0, "60": 0.0},
        rumble_db=-40.0,
        decoded_seconds=20.0,
    )
    base.update(kw)
    return AudioMeasurements(**base)


def video(**kw) -> VideoMeasurements:
    base = dict(
        width=1280,
        height=720,
        fps=30.0,
        full_range=False,
        bit_depth=8,
        luma_low=0.2,
        luma_high=0.8,
        luma_min=0.07,
        luma_max=0.9,
        brightness=0.48,
        contrast=0.6,
        saturation=0.3,
        cast_u=0.0,
        cast_v=0.0,
        noise_sigma=3.0,
        black_spans=[],
        frozen_spans=[],
        sampled_frames=40,
    )
    base.update(kw)
    return VideoMeasurements(**base)


def info(
    path: str = "in.mp4", *, with_video: bool = True, acodec: str = "aac", vcodec: str = "h264", rate: int = 48000
) -> MediaInfo:
    streams = []
    if with_video:
        streams.append(
            StreamInfo(index=0, kind="video", codec=vcodec, width=1280, height=720, fps=30.0, pix_fmt="yuv420p")
        )
    streams.append(
        StreamInfo(index=len(streams), kind="audio", codec=acodec, sample_rate=rate, channels=2, sample_fmt="fltp")
    )
    return MediaInfo(path=path, format_name="mov,mp4", duration=20.0, size=1000, streams=streams)


def make_plan(
    a: AudioMeasurements | None = None, v: VideoMeasurements | None = None, path: str = "in.mp4", **opts
) -> Plan:
    preset = BUILTIN_PRESETS[opts.pop("preset", "podcast")]
    analysis = Analysis(info=info(path, with_video=v is not None), audio=a, video=v)
    return MeasurementPlanner().plan(analysis, EnhanceOptions(preset=preset, **opts))


def names(steps) -> list[str]:
    return [s.filter for s in steps]


def test_clean_recording_gets_nothing_but_gain_and_a_copied_picture() -> None:
    plan = make_plan(audio(), video())
    assert plan.audio_steps == [] and plan.video_steps == []
    assert plan.output.video == "copy"
    assert plan.loudness.mode == "linear" and plan.loudness.estimated_gain_db == 14.0


def speech(**kw) -> AudioMeasurements:
    """Measurements of a noisy speech recording: speech in 80% of it, noise in the pauses 12 dB under it."""
    base = dict(
        content="speech",
        speech_seconds=16.0,
        speech_share=0.8,
        speech_spans=[(0.5, 8.0), (9.5, 17.0)],
        speech_lufs=-30.0,
        pause_floor_lufs=-42.0,
        speech_to_noise_db=12.0,
        speech_spread_lu=3.0,
        noise_floor_lufs=-42.0,
    )
    base.update(kw)
    return audio(**base)


def test_noise_hum_rumble_and_clipping_each_get_their_filter_with_reasons() -> None:
    harmonics = [(k, 60.0 * k, 20.0 - k) for k in (1, 2, 3, 4, 5, 6, 7, 8)]
    plan = make_plan(
        speech(
            hum_hz=60,
            hum_prominence_db={"50": 1.0, "60": 20.0},
            hum_harmonics=harmonics,
            rumble_db=-10.0,
            clipping=True,
            clipped_samples=500,
            sample_peak_dbfs=-10.5,
        ),
        None,
        path="in.wav",
    )
    assert names(plan.audio_steps) == [
        "adeclip",
        "highpass",
        *["bandreject"] * 8,
        "deepfilternet",
        "leveler",
        "compressor",
    ]
    assert [s.params["f"] for s in plan.audio_steps if s.filter == "bandreject"] == [60.0 * k for k in range(1, 9)]
    nr = plan.audio_steps[10]
    assert nr.measured["noise_lufs"] == -42.0 and nr.measured["speech_to_noise_db"] == 12.0
    assert all(s.reason and s.measured for s in plan.audio_steps)
    # no reason promises an outcome: what is done is measured on the output
    assert not any("reduce noise by" in s.reason for s in plan.audio_steps)


def test_noise_reduction_follows_the_content_and_the_level() -> None:
    def steps(**kw):
        opts = {k: kw.pop(k) for k in ("denoise", "preset") if k in kw}
        return make_plan(speech(**kw), None, path="a.wav", **opts)

    normal = steps().audio_steps[0]
    assert normal.filter == "deepfilternet" and normal.params["level"] == "normal"
    # normal: noise may go to about 60 dB under the speech; noisier input, a wider cap
    noisy = steps(speech_to_noise_db=3.0).audio_steps[0]
    assert noisy.params["atten_lim_db"] > normal.params["atten_lim_db"] >= 24
    assert steps(denoise="light").audio_steps[0].params["atten_lim_db"] == 12
    assert steps(denoise="strong").audio_steps[0].params["atten_lim_db"] == 100
    off = steps(denoise="off")
    assert "deepfilternet" not in names(off.audio_steps)
    assert "deepfilternet" not in names(steps(denoise=False).audio_steps)
    assert names(steps(preset="music").audio_steps) == []  # music: no denoise, no leveler, no compression
    clean = steps(speech_to_noise_db=52.0, pause_floor_lufs=-82.0)
    assert "deepfilternet" not in names(clean.audio_steps) and any("already clean" in n for n in clean.notes)
    for content in ("music", "ambience"):
        p = steps(content=content, speech_seconds=0.0, speech_share=0.0)
        assert p.audio_steps == [] and any("no speech" in n for n in p.notes)
    mixed = steps(content="speech+music").audio_steps[0]  # keep the music bed: light only
    assert mixed.params["level"] == "light"
    with pytest.raises(PlanError, match="--denoise"):
        steps(denoise="max")


def test_presets_decide_how_much_levelling_and_compression() -> None:
    podcast = {s.filter: s for s in make_plan(speech(), None, path="a.wav").audio_steps}
    broadcast = {s.filter: s for s in make_plan(speech(), None, path="a.wav", preset="broadcast").audio_steps}
    assert podcast["leveler"].params["strength"] == 1.0 > broadcast["leveler"].params["strength"] > 0
    assert podcast["compressor"].params["ratio"] > broadcast["compressor"].params["ratio"]
    # broadcast's -23 LUFS leaves more room under the ceiling: its compressor starts higher
    assert broadcast["compressor"].params["threshold_dbfs"] > podcast["compressor"].params["threshold_dbfs"]


def test_declipping_is_not_planned_for_a_full_scale_test_tone() -> None:
    # every sample "at the extremes": a square wave or a 45-degree sine, not a clipped recording
    plan = make_plan(audio(clipping=True, clipped_samples=20 * 48000, decoded_seconds=20.0), None, path="a.wav")
    assert "adeclip" not in names(plan.audio_steps) and any("not de-clipped" in n for n in plan.notes)


def test_peaks_over_the_ceiling_plan_a_limiter_and_say_why() -> None:
    plan = make_plan(audio(integrated_lufs=-40.0, true_peak_dbtp=-3.0), None, path="a.wav")  # +24 dB gain
    assert plan.loudness.mode == "linear+limiter"
    assert "21.0 dBTP" in plan.loudness.reason and "limiter" in plan.loudness.reason


def test_heavy_grain_denoiser_follows_the_ffmpeg_that_renders() -> None:
    """σ 20 grain at 720p: fftdnoiz over neighbouring frames where the ffmpeg runs it fast; elsewhere nlmeans,
    with a reason that says what a newer ffmpeg would do and how to point at one."""
    pic = {
        "noise_luma": 20.0,
        "noise_chroma": 20.0,
        "noise_scale_ratio": 1.0,
        "black_point": 16.0,
        "white_point": 235.0,
        "mean_luma": 120.0,
        "neutral_u": 0.0,
        "neutral_v": 0.0,
        "neutral_fraction": 0.3,
        "frames": 8,
    }
    v = video(noise_sigma=20.0, picture=pic)
    fast = make_plan(audio(), v, fast_fftdnoiz=True)
    assert names(fast.video_steps)[0] == "fftdnoiz", names(fast.video_steps)
    slow = make_plan(audio(), v)
    nl = next(s for s in slow.video_steps if s.filter == "nlmeans")
    assert "fftdnoiz" not in names(slow.video_steps) and "MEDIAENHANCER_FFMPEG" in nl.reason, nl.reason
    light = make_plan(audio(), video(noise_sigma=6.0, picture={**pic, "noise_luma": 6.0, "noise_chroma": 6.0}))
    assert all("MEDIAENHANCER_FFMPEG" not in s.reason for s in light.video_steps)  # nlmeans is the right tool there


def test_presets_and_overrides_set_the_target() -> None:
    assert make_plan(audio(), None, path="a.wav", preset="broadcast").loudness.target_lufs == -23.0
    p = make_plan(audio(), None, path="a.wav", target_lufs=-18.0, true_peak=-2.0)
    assert (p.loudness.target_lufs, p.loudness.true_peak_dbtp) == (-18.0, -2.0)


def test_video_rules() -> None:
    dim = make_plan(
        audio(), video(luma_min=0.25, luma_max=0.6, brightness=0.3, luma_low=0.3, luma_high=0.55, contrast=0.25)
    )
    eq = next(s for s in dim.video_steps if s.filter == "eq")
    assert eq.params["contrast"] > 1.0 and eq.params["gamma"] >= 1.0
    noisy = make_plan(audio(), video(noise_sigma=12.0))
    assert names(noisy.video_steps) in (["hqdn3d"], ["nlmeans", "unsharp"]) and noisy.output.video == "encode"
    cast = make_plan(audio(), video(cast_u=0.1))
    assert names(cast.video_steps) == ["lutyuv"]
    flat = make_plan(audio(), video(contrast=0.01, luma_low=0.1, luma_high=0.11, brightness=0.1))
    assert flat.video_steps == []  # a black or flat picture is left alone
    up = make_plan(audio(), video(), resolution="1080p", fps=24.0)
    assert names(up.video_steps) == ["scale", "fps", "unsharp"]
    assert make_plan(audio(), video(noise_sigma=12.0), audio_only=True).video_steps == []


def test_trim_cuts_only_pauses_between_speech_keeps_pads_and_snaps_to_frames() -> None:
    a = speech(speech_spans=[(2.0, 5.0), (8.0, 10.0), (10.6, 18.0)])
    analysis = Analysis(info=info(), audio=a, video=video(fps=25.0))
    trim = plan_trim(analysis, EnhanceOptions(preset=BUILTIN_PRESETS["podcast"], trim_silence=True))
    assert trim is not None
    assert trim.keep == [(1.72, 5.28), (7.72, 18.28)]  # 0.6 s pause kept; 0.25 s (and up to a frame) next to speech
    for s, e in trim.keep:
        assert abs(s * 25 - round(s * 25)) < 1e-6 and abs(e * 25 - round(e * 25)) < 1e-6
    for start, end in a.speech_spans:  # never inside speech, nor its pads
        assert any(s <= start - 0.25 and end + 0.25 <= e for s, e in trim.keep)
    assert abs(trim.removed_seconds - (20.0 - (5.28 - 1.72) - (18.28 - 7.72))) < 1e-6


def test_trim_keeps_a_clip_whole_without_speech_or_when_it_would_take_more_than_half() -> None:
    for a in (audio(content="ambience", noise_floor_lufs=-60.0), audio(content="silence", integrated_lufs=-80.0)):
        notes: list[str] = []
        assert (
            plan_trim(
                Analysis(info=info(), audio=a, video=video()), EnhanceOptions(preset=BUILTIN_PRESETS["podcast"]), notes
            )
            is None
        )
        assert notes and "kept whole" in notes[0]
    notes = []
    short = speech(speech_spans=[(9.0, 11.0)])
    assert (
        plan_trim(
            Analysis(info=info(), audio=short, video=video()), EnhanceOptions(preset=BUILTIN_PRESETS["podcast"]), notes
        )
        is None
    )
    assert "more than half" in notes[0]


def test_output_rules() -> None:
    # no PCM in MP4, no 192 kHz, Opus at 48 kHz, WebM gets VP9
    pcm = output_spec(
        info("x.mov", acodec="pcm_s24le", rate=192000),
        fmt="mp4",
        quality="standard",
        change_video=False,
        audio_only=False,
    )
    assert pcm.audio_codec == "aac" and pcm.sample_rate == 48000 and pcm.video == "copy"
    webm = output_spec(info(), fmt="webm", quality="draft", change_video=False, audio_only=False)
    assert (webm.video, webm.video_codec, webm.audio_codec, webm.sample_rate) == (
        "encode",
        "libvpx-vp9",
        "libopus",
        48000,
    )
    mp3 = output_spec(info(), fmt="mp3", quality="high", change_video=True, audio_only=False)
    assert mp3.video == "none" and mp3.audio_codec == "libmp3lame"
    with pytest.raises(PlanError, match="--audio-only"):
        output_spec(info(vcodec="h264"), fmt="webm", quality="standard", change_video=False, audio_only=True)
    assert (
        output_spec(
            info("a.flac", with_video=False, acodec="flac"),
            fmt=None,
            quality="standard",
            change_video=False,
            audio_only=False,
        ).format
        == "flac"
    )
    crf = {
        q: output_spec(info(), fmt=None, quality=q, change_video=True, audio_only=False).video_args
        for q in ("draft", "archive")
    }
    assert int(crf["draft"][crf["draft"].index("-crf") + 1]) > int(crf["archive"][crf["archive"].index("-crf") + 1])


def test_plan_round_trips_through_json() -> None:
    plan = make_plan(
        speech(hum_hz=50, hum_prominence_db={"50": 20.0, "60": 0.0}, hum_harmonics=[(1, 50.0, 20.0), (2, 100.1, 9.0)]),
        video(noise_sigma=12.0),
    )
    assert {"deepfilternet", "leveler", "compressor", "bandreject"} <= set(names(plan.audio_steps))
    again = Plan.from_dict(__import__("json").loads(plan.to_json()))
    assert again.to_dict() == plan.to_dict()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["audio_steps"].append({"filter": "amovie", "params": {"filename": "/etc/passwd"}}),
        lambda d: d["audio_steps"].append({"filter": "afftdn", "params": {"nr": "12;movie=x"}}),
        lambda d: d["audio_steps"].append({"filter": "afftdn", "params": {"bogus": 1}}),
        lambda d: d["video_steps"].append({"filter": "afftdn", "params": {}}),
        lambda d: d["audio_steps"].append({"filter": "deepfilternet", "params": {"atten_lim_db": 1000}}),
        lambda d: d["audio_steps"].append({"filter": "deepfilternet", "params": {"atten_lim_db": "1e9"}}),
        lambda d: d["audio_steps"].append({"filter": "deepfilternet", "params": {"level": "extreme"}}),
        lambda d: d["audio_steps"].append({"filter": "leveler", "params": {"strength": 5}}),
        lambda d: d["audio_steps"].append({"filter": "compressor", "params": {"ratio": 0}}),
        lambda d: d["video_steps"].append({"filter": "leveler", "params": {}}),
        lambda d: d.update(version=99),
        lambda d: d["output"].update(video_args=["-i", "/etc/passwd"]),
        lambda d: d["loudness"].update(target_lufs=3.0),
        lambda d: d.update(trim={"keep": [[5, 2]]}),
    ],
)
def test_plan_validation_refuses_what_could_escape_or_break(mutate) -> None:
    data = make_plan(audio(), video()).to_dict()
    mutate(data)
    with pytest.raises(PlanError):
        Plan.from_dict(data)


def test_filter_values_cannot_break_out_of_their_option() -> None:
    assert escape_value("a:b,c[d];e'f\\g") == "a\\\\:b\\,c\\[d\\]\\;e\\\\\\'f\\\\\\\\g"
    assert filter_str("vidstabtransform", {"input": "/tmp/a:b/m.trf"}) == "vidstabtransform=input=/tmp/a\\\\:b/m.trf"
    assert escape_value(0.1 + 0.2) == "0.3"


def test_options_are_frozen() -> None:
    opts = EnhanceOptions(preset=BUILTIN_PRESETS["podcast"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.trim_silence = True  # type: ignore[misc]
