"""Tables at 80 columns and in a pipe: `enhance`'s summary, `analyze`, and the table helper the
account commands use (media, projects, tokens, jobs). Ids, names and paths are never broken across
lines; piped output is plain tab-separated rows with whole ids and paths."""

from __future__ import annotations

import io
import uuid

import pytest
from rich.console import Console
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_cli.tables import Col, print_table
from tests import media as M
from tests.cli_tables import PIPE_80, TERMINAL_80, assert_plain, assert_terminal

runner = CliRunner()
NAME = "speech_noisy_interview_take_03.wav"


@pytest.fixture
def talk(tmp_path):
    folder = tmp_path / "a folder with a long name for the recordings of this season"
    folder.mkdir()
    return M.make_audio(folder / NAME, 3.0, ("-c:a", "pcm_s16le"), level=0.02, noise=0.01)


def _run(env: dict[str, str], *args: object):
    return runner.invoke(app, [str(a) for a in args], env=env)


def test_enhance_summary_keeps_names_and_paths_whole(talk) -> None:
    out = talk.with_name("speech_noisy_interview_take_03.enhanced.wav")
    common = ("enhance", talk, "--audio-only", "--denoise", "off", "-o", out)
    term = _run(TERMINAL_80, *common)
    assert term.exit_code == 0, term.output
    assert "Summary" in term.stdout and "│" in term.stdout  # a Rich table on a terminal
    assert_terminal(term.stdout.split("Summary", 1)[1].split(f"{NAME} → ")[0], names=(NAME,))
    # where the output went: one line of its own, the path whole (a terminal may fold it; we never do)
    assert f"{NAME} → {out}\n" in term.stdout
    piped = _run(PIPE_80, *common, "--force")
    assert piped.exit_code == 0, piped.output
    assert_plain(piped.stdout, NAME, f"{NAME} → {out}")
    first = next(line for line in piped.stdout.splitlines() if line.startswith(NAME + "\t"))
    assert first.split("\t")[:3] == [NAME, "enhanced", "loudness"]


def test_analyze_keeps_the_name_whole(talk) -> None:
    term = _run(TERMINAL_80, "analyze", talk)
    assert term.exit_code == 0, term.output
    assert_terminal(term.stdout, names=(NAME,))
    piped = _run(PIPE_80, "analyze", talk)
    assert piped.exit_code == 0, piped.output
    assert_plain(piped.stdout, NAME)
    assert any(line.startswith("loudness\t") and "LUFS" in line for line in piped.stdout.splitlines())


def _render(terminal: bool, columns, rows, title=None) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=terminal, no_color=True)
    print_table(console, columns, rows, title=title)
    return buf.getvalue()


def test_the_table_helper_with_many_ids_in_a_row() -> None:
    # the widest rows the CLI draws: a job with its media and result ids, and an error
    jobs = [
        (
            str(uuid.uuid4()),
            "denoise",
            "failed",
            "100%",
            str(uuid.uuid4()),
            str(uuid.uuid4()),
            "ffmpeg stopped: the input ends before its header says (truncated upload?)",
        )
        for _ in range(3)
    ]
    cols = (
        Col("id", "id"),
        Col("type"),
        Col("status"),
        Col("done", "num"),
        Col("target", "id"),
        Col("result", "id"),
        Col("error"),
    )
    term = _render(True, cols, jobs)
    assert_terminal(term, ids=tuple(x for j in jobs for x in (j[0], j[4], j[5])))
    plain = _render(False, cols, jobs)
    assert_plain(plain, *(x for j in jobs for x in j))
    assert plain.splitlines() == ["\t".join(j) for j in jobs]


def test_a_long_name_is_cut_once_not_wrapped() -> None:
    name = "a_very_long_recording_name_from_the_field_recorder_2026-12-05_take_17_final.wav"
    rows = [(str(uuid.uuid4()), name, "audio", "3.1 MB", "12.0 s", "–", "ready", "2026-12-05T13:40")]
    cols = (
        Col("id", "id"),
        Col("name", "name"),
        Col("type"),
        Col("size", "num"),
        Col("duration", "num"),
        Col("resolution", "num"),
        Col("status"),
        Col("added", "num"),
    )
    term = _render(True, cols, rows, title="1 media file(s), page 1")
    assert "…" in term
    assert_terminal(term, ids=(rows[0][0],), names=(name,))
    assert_plain(_render(False, cols, rows), name, rows[0][0])


def test_a_tab_or_newline_in_a_cell_keeps_one_row_per_line() -> None:
    rows = [(str(uuid.uuid4()), "take\t1\nfinal.wav", "ready")]
    plain = _render(False, (Col("id", "id"), Col("name", "name"), Col("status")), rows)
    assert plain.splitlines() == [f"{rows[0][0]}\ttake 1 final.wav\tready"]


def test_presets_piped_are_plain_rows() -> None:
    out = runner.invoke(app, ["presets"]).output
    assert not any(ch in out for ch in "│┃━─┏┗"), out
    assert any(line.startswith("podcast (default)\t") for line in out.splitlines()), out
