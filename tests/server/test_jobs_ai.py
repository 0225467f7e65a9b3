"""Server-side AI (issue 7 through issue 6's jobs): a `transcribe` job on a plan with AI features,
against the Gemini stand-in; Starter users are refused; the `auto` job asks Gemini for its plan."""

from __future__ import annotations

import time

import pytest

from tests import media as M
from tests.gemini_standin import GeminiStandIn, json_answer
from tests.test_transcribe import FakeRecogniser, make_speech


@pytest.fixture
def storage_kind() -> str:
    return "local"


@pytest.fixture(scope="module")
def gemini():
    with GeminiStandIn() as s:
        yield s


@pytest.fixture
def settings_env(settings_env: dict[str, str], gemini: GeminiStandIn) -> dict[str, str]:
    gemini.reset()
    settings_env.update(
        {
            "MEDIAENHANCER_GEMINI_API_KEY": "test-key",
            "MEDIAENHANCER_GEMINI_BASE_URL": gemini.base_url,
            "MEDIAENHANCER_GEMINI_RETRIES": "0",
            "MEDIAENHANCER_JOB_HEARTBEAT_SECONDS": "0.3",
            "MEDIAENHANCER_PLANNER": "gemini",
        }
    )
    return settings_env


@pytest.fixture
def core(media_core):
    return media_core


def _upload(client, account, path):
    with open(path, "rb") as fh:
        r = client.post("/api/media/upload", headers=account.headers, files={"file": (path.name, fh)})
    assert r.status_code == 201, r.text
    return r.json()


def _wait(client, account, job_id, timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}", headers=account.headers).json()
        if job["status"] in ("succeeded", "failed", "canceled") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_transcribe_job_on_a_plan_with_ai(client, core, make_account, gemini, tmp_path) -> None:
    account = make_account()
    core.accounts.set_plan(account.email, "creator")
    gemini.handler = FakeRecogniser()
    media = _upload(client, account, make_speech(tmp_path / "talk.m4a"))
    r = client.post(
        f"/api/media/{media['id']}/enhance",
        headers=account.headers,
        json={"type": "transcribe", "options": {"language": "en"}},
    )
    assert r.status_code == 202, r.text
    job = _wait(client, account, r.json()["id"])
    assert job["status"] == "succeeded", job
    transcript = job["result"]["transcript"]
    assert transcript["srt"].startswith("1\n00:00:00,") and "WEBVTT" in transcript["vtt"]
    assert len(transcript["segments"]) == 5  # the five phrases of the generated recording
    assert abs(transcript["segments"][1]["start"] - 4.2) <= 0.1
    assert gemini.calls, "Gemini was asked"


def test_starter_has_no_ai_and_auto_falls_back_without_it(client, core, make_account, gemini, tmp_path) -> None:
    account = make_account()  # Starter
    talk = M.make_audio(tmp_path / "talk.wav", 4.0, ("-c:a", "pcm_s16le"), level=0.03, noise=0.004)
    media = _upload(client, account, talk)
    refused = client.post(f"/api/media/{media['id']}/enhance", headers=account.headers, json={"type": "transcribe"})
    assert refused.status_code == 403 and "plan" in refused.json()["error"]["message"]
    job = _wait(
        client,
        account,
        client.post(f"/api/media/{media['id']}/enhance", headers=account.headers, json={"type": "auto"}).json()["id"],
    )
    assert job["status"] == "succeeded"
    assert job["result"]["plan"]["planner"] == "local" and not gemini.calls  # no AI on Starter, even when configured


def test_auto_job_on_a_paid_plan_asks_gemini_for_the_plan(client, core, make_account, gemini, tmp_path) -> None:
    account = make_account()
    core.accounts.set_plan(account.email, "professional")
    gemini.answer(
        json_answer(
            {
                "content_type": "speech",
                "problems": [{"kind": "hiss", "severity": 0.7}],
                "audio": {"noise_reduction_db": 18, "highpass_hz": 90},
                "rationale": "hiss under a voice",
            }
        )
    )
    talk = M.make_audio(tmp_path / "talk.wav", 4.0, ("-c:a", "pcm_s16le"), level=0.03, noise=0.004)
    media = _upload(client, account, talk)
    job = _wait(
        client,
        account,
        client.post(f"/api/media/{media['id']}/enhance", headers=account.headers, json={"type": "auto"}).json()["id"],
    )
    assert job["status"] == "succeeded", job
    assert gemini.calls, "the Gemini planner was not asked"
    plan = job["result"]["plan"]
    assert plan["planner"] == "gemini", plan["notes"]
    assert any(step["source"] == "gemini" for step in plan["audio_steps"])
    out = client.get(f"/api/media/{job['result_media_id']}", headers=account.headers).json()
    assert out["status"] == "ready"
