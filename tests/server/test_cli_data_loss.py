"""What a user of the CLI could lose or be misled about, against a live server (issue 12):
`media download` and `enhance --remote` never replace a local file without --force; a second
`enhance --remote` of the same file uses the copy the server has (no second upload, no second
count against the quota); a server without a Gemini key says it is the server's key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_core.exit_codes import ExitCode
from mediaenhancer_core.jobs.system import JobSystem
from tests import media as M

runner = CliRunner()


@pytest.fixture
def storage_kind() -> str:
    return "local"


@pytest.fixture
def core(media_core):
    return media_core


@pytest.fixture
def worker(core):
    jobs = JobSystem.open(core)
    jobs.start_embedded(2)
    yield jobs
    jobs.stop()


@pytest.fixture
def account(make_account):
    return make_account()


@pytest.fixture
def cli(live_server, worker, account, monkeypatch, tmp_path):
    from mediaenhancer_cli.app import app

    monkeypatch.setenv("MEDIAENHANCER_SERVER_URL", live_server.url)
    monkeypatch.setenv("MEDIAENHANCER_TOKEN", account.token)
    monkeypatch.setenv("MEDIAENHANCER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "250")

    def run(*args: object):
        return runner.invoke(app, [str(a) for a in args])

    return run


def _lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_media_download_never_replaces_a_file_without_force(cli, tmp_path, monkeypatch) -> None:
    clip = M.make_audio(tmp_path / "talk.wav", 1.0, ("-c:a", "pcm_s16le"))
    media = _lines(cli("upload", clip, "--json").stdout)[0]["media"]
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    mine = here / "talk.wav"
    mine.write_bytes(b"my own file with the same name")
    r = cli("media", "download", media["id"])  # default name: the media's, here
    assert r.exit_code == ExitCode.USAGE, r.output
    assert "--force" in r.output and "Traceback" not in r.output
    assert mine.read_bytes() == b"my own file with the same name"
    assert sorted(p.name for p in here.iterdir()) == ["talk.wav"]  # no partial file either
    forced = cli("media", "download", media["id"], "--force")
    assert forced.exit_code == 0, forced.output
    assert mine.read_bytes() == clip.read_bytes()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_enhance_remote_reuses_the_stored_file_and_keeps_local_outputs(cli, core, account, tmp_path) -> None:
    talk = M.make_audio(tmp_path / "talk.wav", 3.0, ("-c:a", "pcm_s16le"), level=0.02, noise=0.004)
    first = cli("enhance", "--remote", talk, "--format", "flac", "--json")
    assert first.exit_code == 0, first.output
    row = _lines(first.stdout)[0]
    out = Path(row["output"])
    assert out == tmp_path / "talk.enhanced.flac" and row["uploaded"] is True
    used = cli("usage", "--json")
    storage_before = json.loads(used.stdout)["storage"]["used_bytes"]
    made = out.read_bytes()

    # again: the output exists, so nothing is done (no upload, no job) and the file is kept
    again = cli("enhance", "--remote", talk, "--format", "flac", "--json")
    assert again.exit_code == ExitCode.USAGE, again.output
    assert "--force" in again.output and out.read_bytes() == made
    assert len(_lines(cli("jobs", "list", "--json").stdout)) == 1

    # with --force: the server's copy of talk.wav is used, not a second upload
    forced = cli("enhance", "--remote", talk, "--format", "flac", "--force", "--json")
    assert forced.exit_code == 0, forced.output
    row2 = _lines(forced.stdout)[0]
    assert row2["uploaded"] is False and row2["source_media_id"] == row["source_media_id"]
    media = json.loads(cli("media", "list", "--json").stdout)["media"]
    originals = [m for m in media if m["filename"] == "talk.wav"]
    assert len(originals) == 1, [m["filename"] for m in media]  # one original, two results
    storage_after = json.loads(cli("usage", "--json").stdout)["storage"]["used_bytes"]
    result_size = next(m["file_size"] for m in media if m["id"] == row2["media"]["id"])
    assert storage_after == storage_before + result_size  # only the new result counts, not the source again
    assert abs(M.loudness(out) - -16.0) <= 0.5

    # a -o name of another format than --format: refused before anything is sent
    wrong = cli("enhance", "--remote", talk, "--format", "mp3", "-o", tmp_path / "out.wav")
    assert wrong.exit_code == ExitCode.PLAN_INVALID and "out.mp3" in wrong.output
    assert len(_lines(cli("jobs", "list", "--json").stdout)) == 2


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_content_lookup_sees_only_your_own_files(client, core, make_account, tmp_path) -> None:
    import hashlib

    alice, bob = make_account(), make_account()
    talk = M.make_audio(tmp_path / "talk.wav", 1.0, ("-c:a", "pcm_s16le"))
    with open(talk, "rb") as fh:
        up = client.post("/api/media/upload", headers=alice.headers, files={"file": ("talk.wav", fh, "audio/wav")})
    assert up.status_code == 201
    digest = hashlib.sha256(talk.read_bytes()).hexdigest()
    mine = client.get(f"/api/media/by-checksum/{digest}", headers=alice.headers)
    assert mine.status_code == 200 and mine.json()["id"] == up.json()["id"] and mine.json()["download_url"]
    assert client.get(f"/api/media/by-checksum/{digest.upper()}", headers=alice.headers).json()["id"] == up.json()["id"]
    assert client.get(f"/api/media/by-checksum/{digest}", headers=bob.headers).status_code == 404
    assert client.get(f"/api/media/by-checksum/{digest}").status_code == 401
    assert client.get("/api/media/by-checksum/1234", headers=alice.headers).status_code == 422
    assert client.get(f"/api/media/by-checksum/{'0' * 64}", headers=alice.headers).status_code == 404


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_server_without_a_gemini_key_is_reported_as_the_servers(cli, core, account, tmp_path, monkeypatch) -> None:
    core.accounts.set_plan(account.email, "creator")  # a plan with AI: the server would transcribe
    monkeypatch.setenv("GEMINI_API_KEY", "the-users-own-key")  # the user has one: it is not the problem
    talk = M.make_audio(tmp_path / "talk.wav", 2.0, ("-c:a", "pcm_s16le"))
    r = cli("enhance", "--remote", talk, "--type", "transcribe")
    assert r.exit_code == ExitCode.AI_NOT_CONFIGURED, r.output
    assert "server" in r.output and "MEDIAENHANCER_GEMINI_API_KEY" in r.output
    assert "set GEMINI_API_KEY" not in r.output
    assert not (tmp_path / "talk.srt").exists()
