"""`mediaenhancer upload`, `media ...` and `projects ...` against a live server on loopback,
on the local backend and on S3: exit codes, JSON output, atomic downloads, and an interrupted
upload that the same command resumes."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_core.exit_codes import ExitCode

runner = CliRunner()


@pytest.fixture
def core(media_core):
    return media_core


@pytest.fixture
def account(make_account):
    return make_account()


@pytest.fixture
def cli(live_server, account, monkeypatch, tmp_path):
    from mediaenhancer_cli.app import app

    monkeypatch.setenv("MEDIAENHANCER_SERVER_URL", live_server.url)
    monkeypatch.setenv("MEDIAENHANCER_TOKEN", account.token)
    monkeypatch.setenv("MEDIAENHANCER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "250")  # tables wide enough to hold ids and names

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return run


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_upload_list_info_download_rm(cli, media_files, tmp_path) -> None:
    clip, tone = media_files["clip"], media_files["tone"]
    up = cli("upload", clip, tone, "--json")
    assert up.exit_code == 0, up.output
    rows = {Path(r["file"]).name: r for r in _json_lines(up.stdout)}
    assert {r["status"] for r in rows.values()} == {"uploaded"}
    video = rows[clip.name]["media"]
    assert video["file_type"] == "video" and video["checksum_sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()

    listed = cli("media", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)["total"] == 2
    table = cli("media", "list", "--type", "video")
    assert table.exit_code == 0 and clip.name in table.stdout and tone.name not in table.stdout
    info = cli("media", "info", video["id"])
    assert info.exit_code == 0 and "video/mp4" in info.stdout and "h264" in info.stdout

    out = tmp_path / "down" / "copy.mp4"
    down = cli("media", "download", video["id"], "-o", out)
    assert down.exit_code == 0, down.output
    assert out.read_bytes() == clip.read_bytes()
    assert [p.name for p in out.parent.iterdir()] == ["copy.mp4"]  # no partial file left beside it

    assert cli("media", "rm", video["id"]).exit_code == 0
    gone = cli("media", "info", video["id"])
    assert gone.exit_code == ExitCode.NOT_FOUND
    assert cli("media", "info", "not-an-id").exit_code == ExitCode.NOT_FOUND


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_refusals_have_their_exit_codes(cli, account, media_files, tiny_plan) -> None:
    fake = cli("upload", media_files["fake"])
    assert fake.exit_code == ExitCode.INPUT_NOT_MEDIA and "not audio, video or an image" in fake.output
    tiny_plan(account.email, storage=1000)
    full = cli("upload", media_files["tone"])
    assert full.exit_code == ExitCode.QUOTA_EXCEEDED == 63
    assert "upgrade" in full.output and "Traceback" not in full.output


def test_an_interrupted_upload_resumes_with_the_same_command(
    cli, core, live_server, account, long_wav, storage_kind, tmp_path
) -> None:
    from mediaenhancer_core.client.api import ApiClient
    from mediaenhancer_core.client.transfer import ResumeState, upload_file
    from mediaenhancer_core.errors import ServerUnreachableError

    state = ResumeState(tmp_path / "cache")
    part = core.settings.upload_part_bytes
    sent = 0

    def cut_off(n: int) -> None:
        """After 8 MiB, wait until the server has stored a whole part, then drop the connection."""
        nonlocal sent
        sent += n
        if sent < 8 * 1024 * 1024:
            return
        (upload_id,) = json.loads(state.path.read_text()).values()
        deadline = time.monotonic() + 20
        while core.library.uploads.status(account.id, uuid.UUID(upload_id)).offset < part:
            assert time.monotonic() < deadline, "the server stored nothing"
            time.sleep(0.05)
        raise ConnectionAbortedError("cut off by the test")

    with ApiClient(live_server.url, account.token) as client, pytest.raises(ServerUnreachableError, match="resume"):
        upload_file(client, long_wav, state=state, on_progress=cut_off)
    (upload_id,) = json.loads(state.path.read_text()).values()
    stored_before = core.library.uploads.status(account.id, uuid.UUID(upload_id)).offset
    assert part <= stored_before < long_wav.stat().st_size  # the server kept what arrived (S3: whole parts)

    again = cli("upload", long_wav, "--json")
    assert again.exit_code == 0, again.output
    media = _json_lines(again.stdout)[0]["media"]
    assert media["id"] == upload_id  # the same upload, continued
    assert media["checksum_sha256"] == hashlib.sha256(long_wav.read_bytes()).hexdigest()
    assert json.loads(state.path.read_text()) == {}
    assert core.library.media.list(account.id).total == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_projects_commands(cli, media_files) -> None:
    up = cli("upload", media_files["clip"], media_files["tone"], "--json")
    ids = {Path(r["file"]).suffix: r["media"]["id"] for r in _json_lines(up.stdout)}
    made = cli("projects", "create", "Promo", "--description", "first cut", "--json")
    assert made.exit_code == 0, made.output
    pid = json.loads(made.stdout)["id"]
    assert cli("projects", "add", pid, ids[".mp4"], "--start", "0", "--end", "1", "--json").exit_code == 0
    added = cli("projects", "add", pid, ids[".wav"], "--end", "0.5", "--transform", '{"volume": 0.5}', "--json")
    segments = json.loads(added.stdout)["segments"]
    assert [s["media_id"] for s in segments] == [ids[".mp4"], ids[".wav"]]
    assert segments[1]["transformations"] == {"volume": 0.5}
    bad = cli("projects", "add", pid, ids[".wav"], "--transform", "{nope")
    assert bad.exit_code == ExitCode.INVALID_REQUEST
    flipped = cli("projects", "reorder", pid, segments[1]["id"], segments[0]["id"], "--json")
    assert [s["id"] for s in json.loads(flipped.stdout)["segments"]] == [segments[1]["id"], segments[0]["id"]]
    shown = cli("projects", "show", pid)
    assert shown.exit_code == 0 and "Promo" in shown.stdout and segments[0]["id"] in shown.stdout
    assert cli("projects", "update", pid, "--status", "archived", "--json").exit_code == 0
    listed = cli("projects", "list", "--json")
    assert json.loads(listed.stdout)["projects"][0]["status"] == "archived"
    removed = cli("projects", "remove-segment", pid, segments[0]["id"], "--json")
    assert len(json.loads(removed.stdout)["segments"]) == 1
    in_use = cli("media", "rm", ids[".wav"])
    assert in_use.exit_code == ExitCode.CONFLICT
    assert cli("projects", "rm", pid).exit_code == 0
    assert cli("projects", "show", pid).exit_code == ExitCode.NOT_FOUND


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_refused_fields_are_named_as_the_options_typed(cli, media_files) -> None:
    # the server answers `body.end: must be after start`; the user typed --end, not a JSON body
    up = cli("upload", media_files["tone"], "--json")
    media_id = _json_lines(up.stdout)[0]["media"]["id"]
    pid = json.loads(cli("projects", "create", "Cut", "--json").stdout)["id"]
    bad = cli("projects", "add", pid, media_id, "--start", "0.4", "--end", "0.2")
    assert bad.exit_code == ExitCode.INVALID_REQUEST
    line = bad.output.strip()
    assert line == "mediaenhancer: error: --end: must be after start (0.4 s)", line
    too_long = cli("projects", "add", pid, media_id, "--start", "0", "--end", "999")
    assert too_long.exit_code == ExitCode.INVALID_REQUEST
    assert "body" not in too_long.output and "media is" in too_long.output, too_long.output


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_tables_keep_ids_and_names_whole_at_80_columns_and_in_a_pipe(cli, media_files, monkeypatch, tmp_path) -> None:
    from tests.cli_tables import PIPE_80, TERMINAL_80, assert_plain, assert_terminal

    named = tmp_path / "speech_noisy_interview_take_03.wav"
    named.write_bytes(media_files["tone"].read_bytes())
    up = cli("upload", media_files["clip"], named, "--json")
    media = {Path(r["file"]).name: r["media"]["id"] for r in _json_lines(up.stdout)}
    pid = json.loads(cli("projects", "create", "Interview with a rather long project name", "--json").stdout)["id"]
    added = json.loads(cli("projects", "add", pid, media[named.name], "--end", "0.5", "--json").stdout)
    segment = added["segments"][0]["id"]
    tokens = [t["id"] for t in json.loads(cli("tokens", "list", "--json").stdout)]
    views = {
        ("media", "list"): ((*media.values(),), (named.name, media_files["clip"].name)),
        ("projects", "list"): ((pid,), ()),
        ("projects", "show", pid): ((segment, media[named.name]), ()),
        ("tokens", "list"): ((*tokens,), ()),
    }
    for args, (ids, names) in views.items():
        for key, value in TERMINAL_80.items():
            monkeypatch.setenv(key, value)
        term = cli(*args)
        assert term.exit_code == 0, term.output
        assert_terminal(term.stdout.split("\n", 1)[1] if args[1] == "show" else term.stdout, ids=ids, names=names)
        for key, value in PIPE_80.items():
            monkeypatch.setenv(key, value)
        piped = cli(*args)
        assert piped.exit_code == 0, piped.output
        assert_plain(piped.stdout, *ids, *names)


# --- id prefixes, as git takes them -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_commands_take_a_unique_id_prefix(cli, media_files) -> None:
    up = cli("upload", media_files["clip"], media_files["tone"], "--json")
    ids = {Path(r["file"]).suffix: r["media"]["id"] for r in _json_lines(up.stdout)}
    video, tone = ids[".mp4"], ids[".wav"]
    info = cli("media", "info", video[:8], "--json")  # the 8 characters the tables show
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["id"] == video
    assert json.loads(cli("media", "info", video[:4].upper(), "--json").stdout)["id"] == video  # case ignored
    pid = json.loads(cli("projects", "create", "Prefixes", "--json").stdout)["id"]
    added = cli("projects", "add", pid[:6], tone[:6], "--end", "0.5", "--json")
    assert added.exit_code == 0, added.output
    segment = json.loads(added.stdout)["segments"][0]["id"]
    removed = cli("projects", "remove-segment", pid[:8], segment[:8], "--json")
    assert removed.exit_code == 0, removed.output and json.loads(removed.stdout)["segments"] == []
    assert cli("projects", "rm", pid[:8]).exit_code == 0
    assert cli("projects", "show", pid).exit_code == ExitCode.NOT_FOUND
    # not found: one line that says how to list them; too short: refused before any lookup
    other = next(c for c in "0123456789abcdef" if not video.startswith(c) and not tone.startswith(c))
    missing = cli("media", "info", other * 6)
    assert missing.exit_code == ExitCode.NOT_FOUND
    assert (
        missing.output.strip()
        == f"mediaenhancer: error: no media {other * 6}; list yours with `mediaenhancer media list`"
    )
    short = cli("media", "rm", video[:3])
    assert short.exit_code == ExitCode.NOT_FOUND and "at least 4" in short.output
    assert cli("media", "info", video, "--json").exit_code == 0  # nothing was deleted


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("storage_kind", ["local"], indirect=True)
def test_an_ambiguous_prefix_is_refused_with_its_own_exit_code(cli, core, account) -> None:
    from sqlalchemy import update

    from mediaenhancer_core.db.models import ApiToken

    made = [cli("tokens", "create", name).exit_code for name in ("one", "two")]
    assert made == [0, 0]
    listed = json.loads(cli("tokens", "list", "--json").stdout)
    mine = {t["name"]: t["id"] for t in listed}
    # give the two new tokens ids that share their first 6 characters
    twins = {
        "one": uuid.UUID("abcdef01-0000-4000-8000-000000000001"),
        "two": uuid.UUID("abcdef02-0000-4000-8000-000000000002"),
    }
    with core.db.session() as session:
        for name, new_id in twins.items():
            session.execute(update(ApiToken).where(ApiToken.id == uuid.UUID(mine[name])).values(id=new_id))
    both = cli("tokens", "revoke", "abcdef")
    assert both.exit_code == ExitCode.AMBIGUOUS_ID == 47
    assert both.output.strip() == (
        "mediaenhancer: error: abcdef is ambiguous: 2 token ids start with it "
        "(abcdef01-0, abcdef02-0); give more characters"
    )
    names = {t["name"] for t in json.loads(cli("tokens", "list", "--json").stdout)}
    assert {"one", "two"} <= names  # nothing revoked
    one = cli("tokens", "revoke", "abcdef01")
    assert one.exit_code == 0 and str(twins["one"]) in one.output
    names = {t["name"] for t in json.loads(cli("tokens", "list", "--json").stdout)}
    assert "one" not in names and "two" in names
