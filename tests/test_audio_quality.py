"""What a listener notices, measured on real speech and noise (tests/data/media) mixed at known levels.

Every figure comes from tests/audio_meters.py or pyloudnorm, never from the engine's own meters:
SI-SDR against the clean recording, the noise left in the pauses of the clean recording,
cross-correlation against the input for delay, spectral lines for hum, BS.1770 loudness per
speaker turn. "At unity gain" means the loudness target is the input's own loudness, so
that only the cleanup acts.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from mediaenhancer_core.engine.enhance import EnhanceJob, enhance_file
from mediaenhancer_core.engine.planner import EnhanceOptions
from mediaenhancer_core.engine.presets import BUILTIN_PRESETS, Preset
from tests import audio_meters as A
from tests import media as M

pytestmark = pytest.mark.slow


def loudness(x: np.ndarray) -> float:
    import pyloudnorm

    return float(pyloudnorm.Meter(A.RATE).integrated_loudness(x))


def enhance(
    tmp: Path,
    x: np.ndarray,
    name: str,
    tools,
    *,
    preset: str | Preset = "podcast",
    unity: bool = False,
    fmt: str = "wav",
    **opts,
):
    """Write ``x`` (48 kHz), enhance it, return (decoded output, result)."""
    src = A.write(tmp / f"{name}.{fmt}", x, codec="pcm_s24le" if fmt == "wav" else "flac")
    if unity:
        opts["target_lufs"] = round(loudness(x), 2)
    p = BUILTIN_PRESETS[preset] if isinstance(preset, str) else preset
    res = enhance_file(src, EnhanceJob(options=EnhanceOptions(preset=p, **opts), force=True), tools)
    assert res.status == "enhanced", res.error
    channels = 1 if x.ndim == 1 else x.shape[1]
    return A.decode(Path(res.output), channels=channels), res


def steps(res) -> list[str]:
    return [s["filter"] for s in res.plan["audio_steps"]]


# --------------------------------------------------------------------------- noise


@pytest.mark.parametrize(
    ("speech", "noise", "snr"),
    [
        ("speech-female-en-2.flac", "noise-rain-1.flac", 5),
        ("speech-male-en-2.flac", "noise-kitchen-dishes-1.flac", 10),
        ("speech-female-eu-1.flac", "noise-keyboard-1.flac", 5),
        ("speech-male-en-3.flac", "noise-exercise-bike-1.flac", 10),
    ],
)
def test_noisy_speech_comes_out_cleaner_closer_to_the_clean_recording_and_not_late(
    tmp_path: Path, tools, speech, noise, snr
) -> None:
    clean = A.load(speech)
    noisy = A.mix(clean, A.load(noise), snr)
    out, res = enhance(tmp_path, noisy, "noisy", tools, unity=True)
    assert "deepfilternet" in steps(res)
    # closer to the clean recording (the benchmark checks the median gain over many mixtures)
    gain = A.si_sdr(out, clean) - A.si_sdr(noisy, clean)
    assert gain >= 4.0, f"SI-SDR gain {gain:.1f} dB"
    # the noise in the pauses, against the speech, went down by a lot
    before = A.pause_level(noisy, clean) - A.speech_level(noisy, clean)
    after = A.pause_level(out, clean) - A.speech_level(out, clean)
    assert after <= before - 25.0, (before, after)
    # not a sample late, not a sample longer
    assert abs(A.lag(out, clean)) <= 1
    assert len(out) == len(noisy)


def test_clean_speech_is_not_damaged(tmp_path: Path, tools) -> None:
    for name in ("speech-female-eu-1.flac", "speech-female-en-2.flac"):
        clean = A.load(name)
        out, res = enhance(tmp_path, clean, "clean", tools, unity=True)
        assert A.si_sdr(out, clean) >= 20.0, (name, A.si_sdr(out, clean), steps(res))
        assert abs(A.lag(out, clean)) <= 1
    # studio-quiet speech is already clean: the denoiser does not run at all
    assert "deepfilternet" not in steps(res) or name != "speech-female-eu-1.flac"
    out, res = enhance(tmp_path, A.load("speech-female-eu-1.flac"), "eu", tools, unity=True)
    assert "deepfilternet" not in steps(res) and any("already clean" in n for n in res.plan["notes"])


def test_clean_fluent_speech_with_short_pauses_is_left_alone(tmp_path: Path, tools) -> None:
    # read speech whose pauses between phrases are 0.2-0.5 s: every 400 ms loudness block still holds a word's
    # tail, and its quietest tenth sits only 11 dB under the speech, which once planned the denoiser (and the
    # leveler rode its one phrase group); its gaps between words are 45 dB under the speech
    clean = A.load("speech-female-en-2.flac")
    out, res = enhance(tmp_path, clean, "fluent", tools, unity=True)
    # at unity gain the output is the input: nothing removed from the gaps, no gain riding
    assert A.si_sdr(out, clean) >= 35.0, (A.si_sdr(out, clean), steps(res))
    assert abs(A.lag(out, clean)) <= 1
    gaps = A.pause_level(out, clean) - A.pause_level(clean, clean)
    assert abs(gaps) <= 1.0, gaps
    assert not {"deepfilternet", "afftdn", "leveler"} & set(steps(res))
    # the same voice in rain at 10 dB SNR still gets the denoiser, and comes out closer to the clean recording
    noisy = A.mix(clean, A.load("noise-rain-1.flac"), 10)
    out, res = enhance(tmp_path, noisy, "fluent-rain", tools, unity=True)
    assert A.si_sdr(out, clean) - A.si_sdr(noisy, clean) >= 4.0, (A.si_sdr(out, clean), steps(res))


def test_the_denoiser_forced_on_clean_speech_leaves_it_intact(tmp_path: Path, tools) -> None:
    clean = A.load("speech-male-en-2.flac")
    quiet = dataclasses.replace(BUILTIN_PRESETS["podcast"], leveler=0.0, compression=0.0)
    out, res = enhance(tmp_path, clean, "forced", tools, preset=quiet, unity=True, denoise="strong")
    assert steps(res) == ["deepfilternet"]
    assert A.si_sdr(out, clean) >= 25.0


def synthetic_music(seconds: float = 12.0) -> np.ndarray:
    """Plucked notes with harmonics over a held chord: tonal, with dynamics (no speech in it)."""
    t = np.arange(int(seconds * A.RATE)) / A.RATE
    notes = [220.0, 277.2, 329.6, 440.0, 329.6, 277.2]
    x = np.zeros_like(t)
    for i, f in enumerate(notes * int(seconds)):
        start = i * 0.5
        if start >= seconds:
            break
        env = np.where(t >= start, np.exp(-(t - start) * 4.0), 0.0) * (0.25 if i % 3 == 0 else 0.1)
        x += env * (np.sin(2 * np.pi * f * t) + 0.4 * np.sin(4 * np.pi * f * t) + 0.2 * np.sin(6 * np.pi * f * t))
    x += 0.03 * (np.sin(2 * np.pi * 110 * t) + np.sin(2 * np.pi * 164.8 * t))
    return x


def test_music_and_ambience_are_left_as_they_are(tmp_path: Path, tools) -> None:
    for name, x in (("music", synthetic_music()), ("rain", A.load("noise-rain-1.flac") * 0.5)):
        out, res = enhance(tmp_path, x, name, tools, unity=True)
        assert res.before["audio"]["content"] in ("music", "ambience"), res.before["audio"]["content"]
        assert not {"deepfilternet", "leveler", "compressor"} & set(steps(res)), steps(res)
        assert any("no speech" in n for n in res.plan["notes"])
        assert A.si_sdr(out, x) >= 40.0, name  # the same waveform: gain only
        # dynamics kept: the loudness range of the output is the input's
        lra_in = res.before["audio"]["loudness_range_lu"]
        assert abs(res.after["audio"]["measured"]["loudness_range_lu"] - lra_in) <= 0.5


# --------------------------------------------------------------------------- levels


def two_speakers(apart_db: float = 10.0, pause: float = 1.5, bed_db: float | None = -45.0):
    """Alternating turns of two real speakers, the second ``apart_db`` quieter; optional noise bed."""
    a = A.load("speech-female-en-1.flac")  # 16.7 s
    b = A.load("speech-male-en-3.flac") * 10 ** (-apart_db / 20) * (A.rms(a) / A.rms(A.load("speech-male-en-3.flac")))
    gap = np.zeros(int(pause * A.RATE))
    parts, turns, t = [], [], 0.0
    for who, seg in (("A", a[: 8 * A.RATE]), ("B", b[: 8 * A.RATE]), ("A", a[8 * A.RATE :]), ("B", b[: 9 * A.RATE])):
        parts += [seg, gap]
        turns.append((who, t, t + len(seg) / A.RATE))
        t += (len(seg) + len(gap)) / A.RATE
    x = np.concatenate(parts)
    if bed_db is not None:
        bed = np.resize(A.load("noise-exercise-bike-1.flac"), x.shape)
        x = x + bed * (A.rms(a) / A.rms(bed)) * 10 ** (bed_db / 20)
    return x, turns


def turn_levels(x: np.ndarray, turns) -> dict[str, float]:
    levels: dict[str, list[float]] = {}
    for who, s, e in turns:
        levels.setdefault(who, []).append(10 ** (A.short_term_loudness(x, s + 0.3, e - 0.3) / 10))
    return {who: 10 * np.log10(np.mean(v)) for who, v in levels.items()}


def test_two_speakers_10_db_apart_end_within_2_lu_and_pauses_are_not_raised(tmp_path: Path, tools) -> None:
    x, turns = two_speakers()
    before = turn_levels(x, turns)
    assert 9.0 <= before["A"] - before["B"] <= 11.0
    # the leveler alone: no denoiser to take the noise bed away, no compressor or limiter to change the
    # crest factor (the target is the input's loudness)
    leveler_only = dataclasses.replace(BUILTIN_PRESETS["podcast"], compression=0.0)
    out, res = enhance(tmp_path, x, "two", tools, preset=leveler_only, denoise="off", unity=True)
    assert not res.after["audio"]["limiter"]
    assert steps(res) == ["leveler"]
    after = turn_levels(out, turns)
    assert abs(after["A"] - after["B"]) <= 2.0, (before, after, res.after["audio"]["stage"])
    # the quiet speaker went up a lot; the pauses between the turns (the noise bed alone) did not: at the
    # same overall loudness, each stays within 1 dB of where it was
    assert after["B"] - before["B"] >= 6.0
    pauses = [(e1 + 0.4, s2 - 0.4) for (_, _, e1), (_, s2, _) in zip(turns, turns[1:])]  # the pause proper
    for s, e in pauses:
        seg = slice(int(s * A.RATE), int(e * A.RATE))
        assert A.db(A.rms(out[seg])) <= A.db(A.rms(x[seg])) + 1.0, (s, e)
    # the summary's spread between speech segments went down (engine figure, checked against ours above)
    assert res.after["audio"]["measured"]["speech_spread_lu"] < res.before["audio"]["speech_spread_lu"]
    # and by default (denoiser, leveler and compressor) the speakers end within 2 LU too
    out, res = enhance(tmp_path, x, "two-default", tools)
    after = turn_levels(out, turns)
    assert abs(after["A"] - after["B"]) <= 2.0, after


def test_dynamic_speech_is_compressed_gently_so_the_limiter_takes_little(tmp_path: Path, tools) -> None:
    # a real voice with a peak-to-loudness ratio above 20 dB, at -23 LUFS, taken to -16 LUFS / -1.5 dBTP
    x = A.load("speech-male-en-2.flac")
    x = x * 10 ** ((-23.0 - loudness(x)) / 20)
    plr = A.db(np.max(np.abs(x))) - loudness(x)
    assert plr >= 20.0
    out, res = enhance(tmp_path, x, "dynamic", tools)
    a = res.after["audio"]
    # how far the compressed programme's true peaks, after the gain, stood over the limiter's ceiling (the
    # limiter's work; 7.8 dB before the compressor existed)
    assert a["limiter_db"] <= 2.5, a
    assert a["stage"]["compressor_max_reduction_db"] < -1.0
    assert abs(loudness(out) - (-16.0)) <= 0.5 and M.true_peak(Path(res.output)) <= -1.45


# --------------------------------------------------------------------------- hum, clipping, test tones


def test_hum_harmonics_1_to_8_are_gone(tmp_path: Path, tools) -> None:
    speech = A.load("speech-female-eu-1.flac") * 0.3
    t = np.arange(len(speech)) / A.RATE
    hum = sum(0.01 * np.sin(2 * np.pi * 50 * k * t + k) for k in range(1, 9))  # a buzz: strong harmonics
    x = speech + hum
    for k in range(1, 9):
        assert A.line_prominence(x, 50 * k) >= 10.0, k
    out, res = enhance(tmp_path, x, "hum", tools, unity=True)
    assert res.before["audio"]["hum_hz"] == 50
    left = {k: round(A.line_prominence(out, 50 * k), 1) for k in range(1, 9)}
    assert all(v <= 3.0 for v in left.values()), left


def test_clipping_at_a_third_of_full_scale_is_found_and_repaired(tmp_path: Path, tools) -> None:
    clean = A.load("speech-male-en-2.flac")
    clean = clean / np.max(np.abs(clean)) * 0.9
    clipped = np.clip(clean, -0.3, 0.3)
    _, res = enhance(tmp_path, clipped, "clip", tools, fmt="flac", unity=True, denoise="off")
    assert res.before["audio"]["clipping"] is True
    assert "adeclip" in steps(res)


def test_a_true_peak_test_tone_is_not_declipped_and_renders(tmp_path: Path, tools) -> None:
    # EBU Tech 3341 case 19: a 12 kHz sine sampled at 45 degrees, samples at 0 dBFS, true peak +3 dBTP
    t = np.arange(int(3.2 * A.RATE)) / A.RATE
    x = np.sqrt(2) * np.sin(2 * np.pi * 12000 * t + np.pi / 4)
    x = np.clip(x, -1.0, 1.0)
    out, res = enhance(tmp_path, x, "ebu19", tools, fmt="flac")
    assert res.before["audio"]["clipping"] is False and "adeclip" not in steps(res)
    assert M.true_peak(Path(res.output)) <= -1.45


def test_loudness_target_holds_with_everything_on(tmp_path: Path, tools) -> None:
    # two turns 6 dB apart with a pause between them, so that there is something to level
    speech = np.concatenate(
        [A.load("speech-female-en-2.flac"), np.zeros(int(1.5 * A.RATE)), 0.5 * A.load("speech-male-en-3.flac")]
    )
    t = np.arange(len(speech)) / A.RATE
    x = (
        A.mix(speech, A.load("noise-rain-1.flac"), 8)
        + 0.01 * np.sin(2 * np.pi * 60 * t)
        + 0.004 * np.sin(2 * np.pi * 180 * t)
    )
    for preset, target, ceiling in (("podcast", -16.0, -1.5), ("broadcast", -23.0, -1.0)):
        out, res = enhance(tmp_path, x * 0.3, preset, tools, preset=preset, trim_silence=True)
        assert {"deepfilternet", "leveler", "compressor", "bandreject", "highpass"} <= set(steps(res))
        assert abs(loudness(out) - target) <= 0.3, (preset, loudness(out))
        assert M.true_peak(Path(res.output)) <= ceiling + 0.05


# --------------------------------------------------------------------------- timing


def test_sound_stays_on_the_picture(tmp_path: Path, tools) -> None:
    """A video with noisy speech: after denoising, the sound lines up with the input's to the sample, and the
    streams start together as they did."""
    speech = A.mix(A.load("speech-female-en-2.flac"), A.load("noise-kitchen-dishes-1.flac"), 5)
    wav = A.write(tmp_path / "track.wav", speech)
    src = tmp_path / "clip.mkv"
    M.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=s=160x120:r=25:d={len(speech) / A.RATE:.3f}",
        "-i",
        str(wav),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "flac",
        "-shortest",
        str(src),
    )
    res = enhance_file(
        src, EnhanceJob(options=EnhanceOptions(preset=BUILTIN_PRESETS["podcast"], format="mkv"), force=True), tools
    )
    assert res.status == "enhanced", res.error
    assert "deepfilternet" in steps(res)
    out = A.decode(Path(res.output))
    assert abs(A.lag(out, speech)) <= 1
    starts = {s["codec_type"]: float(s.get("start_time", 0)) for s in M.probe(Path(res.output))["streams"]}
    assert abs(starts["audio"] - starts["video"]) <= 0.001


def test_an_old_plan_with_noise_tracking_renders_without_delay_and_reduces_noise(tmp_path: Path, tools) -> None:
    clean = A.load("speech-female-en-2.flac")
    noisy = A.mix(clean, np.random.default_rng(1).normal(size=len(clean)), 12)
    src = A.write(tmp_path / "old.wav", noisy)
    dry = enhance_file(src, EnhanceJob(options=EnhanceOptions(preset=BUILTIN_PRESETS["podcast"]), dry_run=True), tools)
    plan = dry.plan
    floor = round(max(-80.0, min(-20.0, dry.before["audio"]["noise_floor_lufs"])), 1)
    plan["audio_steps"] = [{"filter": "afftdn", "params": {"nr": 20, "nf": floor, "tn": 1}, "reason": "an old plan"}]
    plan_file = tmp_path / "old-plan.json"
    plan_file.write_text(json.dumps(plan))
    res = enhance_file(
        src,
        EnhanceJob(options=EnhanceOptions(preset=BUILTIN_PRESETS["podcast"]), plan_file=plan_file, force=True),
        tools,
    )
    assert res.status == "enhanced", res.error
    out = A.decode(Path(res.output))
    assert abs(A.lag(out, clean)) <= 1 and len(out) == len(noisy)
    before = A.pause_level(noisy, clean) - A.speech_level(noisy, clean)
    after = A.pause_level(out, clean) - A.speech_level(out, clean)
    assert after <= before - 6.0, (before, after)


# --------------------------------------------------------------------------- stereo


def test_stereo_identical_channels_stay_identical_and_different_ones_are_both_cleaned(tmp_path: Path, tools) -> None:
    clean = A.load("speech-male-en-2.flac")
    noisy = A.mix(clean, A.load("noise-rain-1.flac"), 5)
    out, res = enhance(tmp_path, np.stack([noisy, noisy], axis=1), "dual", tools, unity=True)
    assert np.array_equal(out[:, 0], out[:, 1])
    # a different noise on each side, the voice a little to the left
    right = A.mix(clean * 0.7, A.load("noise-keyboard-1.flac"), 5)
    out, res = enhance(tmp_path, np.stack([noisy, right], axis=1), "wide", tools, unity=True)
    for ch, x in ((0, noisy), (1, right)):
        assert A.si_sdr(out[:, ch], clean) >= A.si_sdr(x, clean) + 4.0, ch
        assert abs(A.lag(out[:, ch], clean)) <= 1
    assert A.rms(out[:, 0]) > A.rms(out[:, 1])  # the image stays: left louder
