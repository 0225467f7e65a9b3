"""Help as a person reads it, for every command of both command lines (`mediaenhancer` and
`mediaenhancer-server`): one plain style, metavars that say what to type (no `<bool>`, `<list[str]>`
or `{file}` type labels), no shell-completion options on sub-commands, no issue numbers, and
nothing wider than an 80-column terminal."""

from __future__ import annotations

import re

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from mediaenhancer_cli.app import app as cli_app
from mediaenhancer_server.cli import app as server_app

runner = CliRunner()
APPS = {"mediaenhancer": cli_app, "mediaenhancer-server": server_app}


def _paths(app: typer.Typer) -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]

    def walk(group, prefix: list[str]) -> None:
        ctx = typer.Context(group)
        for name in sorted(group.list_commands(ctx)):
            cmd = group.get_command(ctx, name)
            paths.append([*prefix, name])
            if hasattr(cmd, "commands"):
                walk(cmd, [*prefix, name])

    walk(root, [])
    return paths


# typer's type labels: <bool>, <str>, <path>, <list[str]>, <int range>, <a|b|c>, and {file} in the usage line
TYPE_LABEL = re.compile(
    r"<(?:bool|str|int|float|path|file|dir|datetime|uuid|list\[[^\]]*\]|(?:int|float) range"
    r"|[\w.-]+(?:\|[\w.-]+)+)>|\{[a-z_]+\}"
)

CASES = [(prog, path) for prog, app in APPS.items() for path in _paths(app)]


def test_both_command_lines_are_walked() -> None:
    progs = {prog for prog, _ in CASES}
    assert progs == set(APPS)
    assert ["tokens", "revoke"] in [p for prog, p in CASES if prog == "mediaenhancer"]
    assert ["worker"] in [p for prog, p in CASES if prog == "mediaenhancer-server"]


@pytest.mark.parametrize(("prog", "path"), CASES, ids=lambda c: c if isinstance(c, str) else " ".join(c) or "(root)")
def test_help_reads_well_at_80_columns(prog: str, path: list[str], monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm-256color")  # a terminal that could show Rich boxes: help stays plain
    result = runner.invoke(APPS[prog], [*path, "--help"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    where = f"`{prog} {' '.join(path)} --help`"
    assert text.startswith("Usage: "), f"{where} is not plain help:\n{text}"
    assert not re.search(r"[╭│╰─]", text), f"{where} draws boxes:\n{text}"
    labels = TYPE_LABEL.findall(text)
    assert not labels, f"{where} shows type labels {labels}:\n{text}"
    assert "--install-completion" not in text and "--show-completion" not in text, where
    assert not re.search(r"\bissue \d", text, re.IGNORECASE), f"{where} mentions an issue number:\n{text}"
    wide = [line for line in text.splitlines() if len(line) > 80]
    assert not wide, f"{where} has lines over 80 columns: {wide}"


def test_metavars_say_what_to_type(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = runner.invoke(cli_app, ["enhance", "--help"]).stdout
    assert "Usage: mediaenhancer enhance [OPTIONS] FILES..." in text
    assert "-j, --jobs N" in text and "--quality [draft|standard|high|archive]" in text
    assert "-o, --output PATH" in text
    text = runner.invoke(cli_app, ["tokens", "revoke", "--help"]).stdout
    assert "Usage: mediaenhancer tokens revoke [OPTIONS] TOKEN_ID" in text
