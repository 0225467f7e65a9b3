"""Each job type does what docs/jobs.md says and nothing else (issue 12): measured on the streams
of the result, against those of the source, by meters of the tests' own (numpy on frames and
samples decoded by ffmpeg, pyloudnorm, packet MD5s).

The source is real: speech (speech-male-en-1) under real rain (pauses about 20 dB below the speech), quiet
(about -30 LUFS), on real indoor footage made dim, flat and grainy - so that every part of the
full plan has something to do (loudness +14 LU, noise, levels and colour, grain).

- ``colorgrade``, ``upscale``, ``stabilize``: the sound is the source's, packet for packet.
- ``denoise``: the rain goes down in the pauses, the loudness stays where it was (no -16 LUFS),
  the picture keeps its levels and colour (no brightening), and its grain goes down.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import media as M
from tests.server.test_jobs_api import _download, _upload, _wait

DATA = Path(__file__).resolve().parents[1] / "data" / "media"
SECONDS = 6.0


@pytest.fixture
def storage_kind() -> str:
    return "local"


@pytest.fixture
def core(media_core):
    return media_core


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    settings_env.update({"MEDIAENHANCER_JOB_HEARTBEAT_SECONDS": "0.3", "MEDIAENHANCER_EMBEDDED_WORKERS": "2"})
    return settings_env


def _source(dest: Path) -> Path:
    """Dim, flat, grainy indoor footage; quiet speech under rain."""
    M.ffmpeg(
        "-i",
        str(DATA / "video-indoor-steady.mp4"),
        "-i",
        str(DATA / "speech-male-en-1.flac"),
        "-i",
        str(DATA / "noise-rain-1.flac"),
        "-filter_complex",
        f"[0:v]trim=0:{SECONDS},setpts=PTS-STARTPTS,scale=384:216,eq=contrast=0.55:brightness=-0.12:saturation=0.6,"
        "noise=alls=22:allf=t,format=yuv420p[v];"
        f"[1:a]aresample=48000,atrim=0:{SECONDS},volume=-16dB[s];[2:a]aresample=48000,atrim=0:{SECONDS},volume=-21dB[n];"
        "[s][n]amix=inputs=2:normalize=0:duration=first,aformat=channel_layouts=mono[a]",
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "16",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-t",
        str(SECONDS),
        str(dest),
    )
    return dest


def _frames(path: Path) -> np.ndarray:
    """Luma and chroma planes of every frame, 8-bit, at the source's size (for comparisons)."""
    out = subprocess.run(
        [M.FFMPEG, "-v", "error", "-i", str(path), "-vf", "scale=384:216,format=yuv444p", "-f", "rawvideo", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.uint8).reshape(-1, 3, 216, 384).astype(np.float64)


def _grain(frames: np.ndarray) -> float:
    """Frame-to-frame luma change: temporal noise on a steady shot."""
    return float(np.mean(np.abs(np.diff(frames[:, 0], axis=0))))


def _pause_noise_db(path: Path, clean: np.ndarray, rate: int) -> float:
    """Level (dBFS RMS) of the recording where the clean speech is silent (with 60 ms of margin:
    a denoiser may delay the sound a little)."""
    data, r = M.decode_audio(path)
    assert r == rate
    x = data.mean(axis=1)[: len(clean)]
    hop = rate // 100
    n = min(len(x), len(clean)) // hop
    speech = np.array([np.sqrt(np.mean(clean[i * hop : (i + 1) * hop] ** 2)) for i in range(n)])
    quiet = speech < 10 ** (-55 / 20)
    quiet = np.array([quiet[max(0, i - 6) : i + 7].all() for i in range(n)])
    assert quiet.sum() > 50, "the speech has pauses to measure in"
    level = np.concatenate([x[i * hop : (i + 1) * hop] for i in range(n) if quiet[i]])
    return float(20 * np.log10(np.sqrt(np.mean(level**2)) + 1e-12))


def _clean_speech(tmp_path: Path) -> tuple[np.ndarray, int]:
    ref = tmp_path / "clean.wav"
    M.ffmpeg(
        "-i",
        str(DATA / "speech-male-en-1.flac"),
        "-af",
        f"aresample=48000,atrim=0:{SECONDS},volume=-16dB",
        "-ac",
        "1",
        "-c:a",
        "pcm_f32le",
        str(ref),
    )
    data, rate = M.decode_audio(ref)
    return data[:, 0], rate


def _result(client: Any, account: Any, job: dict[str, Any], dest: Path) -> Path:
    assert job["status"] == "succeeded", job
    out = client.get(f"/api/media/{job['result_media_id']}", headers=account.headers).json()
    return _download(client, out["download_url"], dest)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_each_job_type_changes_only_what_it_says(client, core, make_account, tmp_path) -> None:
    account = make_account()
    src = _source(tmp_path / "source.mp4")
    media = _upload(client, account, src)
    bodies = {
        "colorgrade": {},
        "upscale": {"options": {"resolution": "720p"}},
        "stabilize": {},
        "denoise": {},
        "auto": {},
    }
    jobs = {
        t: client.post(f"/api/media/{media['id']}/enhance", headers=account.headers, json={"type": t, **body}).json()
        for t, body in bodies.items()
    }
    done = {t: _wait(client, account, j["id"], timeout=400) for t, j in jobs.items()}
    out = {t: _result(client, account, job, tmp_path / f"{t}.mp4") for t, job in done.items()}

    src_audio = M.stream_md5(src, "a:0")
    src_frames = _frames(src)
    src_loud = M.loudness(src)
    assert -33 < src_loud < -27

    # the sound of the picture-only types is the source's, packet for packet
    for t in ("colorgrade", "upscale", "stabilize"):
        assert M.stream_md5(out[t], "a:0") == src_audio, f"{t} changed the sound"
        assert done[t]["result"]["after"]["audio"] is None  # nothing measured: nothing done to it
    # ... and each did its own part
    graded = _frames(out["colorgrade"])
    assert graded[:, 0].mean() > src_frames[:, 0].mean() + 8  # brighter: the levels were corrected
    assert (M.probe(out["upscale"])["streams"][0]["height"]) == 720
    assert M.stream_md5(out["stabilize"], "v:0") != M.stream_md5(src, "v:0")

    # the full plan, for contrast: loud and bright
    assert abs(M.loudness(out["auto"]) - -16.0) <= 0.5
    assert _frames(out["auto"])[:, 0].mean() > src_frames[:, 0].mean() + 8

    # denoise: less rain in the pauses, the same loudness, the same levels and colour, less grain
    clean, rate = _clean_speech(tmp_path)
    before, after = _pause_noise_db(src, clean, rate), _pause_noise_db(out["denoise"], clean, rate)
    # measured: 37 dB less (-49.8 -> -87.1 dBFS) with the neural denoiser (issue 13); 2.5 dB with afftdn before it
    assert after <= before - 25.0, (before, after)
    assert abs(M.loudness(out["denoise"]) - src_loud) <= 2.0  # not normalised to -16 LUFS
    den = _frames(out["denoise"])
    for plane in range(3):
        assert abs(den[:, plane].mean() - src_frames[:, plane].mean()) <= 2.0, plane  # levels and colour kept
    assert _grain(den) < _grain(src_frames) * 0.8
    audio_steps = {s["filter"] for s in done["denoise"]["result"]["plan"]["audio_steps"]}
    assert "deepfilternet" in audio_steps and not audio_steps & {"leveler", "compressor"}, (
        audio_steps
    )  # noise, not levels
    steps = {s["filter"] for s in done["denoise"]["result"]["plan"]["video_steps"]}
    assert steps and steps <= {"hqdn3d", "fftdnoiz", "nlmeans", "atadenoise"}, steps
