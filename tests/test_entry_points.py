"""Entry points (issue 15): `python -m` for both packages, the version from the installed metadata,
and `mediaenhancer completion bash|zsh|fish`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import _LazyGroup, app

BIN = Path(sys.executable).parent


def _py(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=120
    )


# --------------------------------------------------------------------------- python -m, version


def test_python_m_cli_prints_the_installed_version() -> None:
    result = _py("-m", "mediaenhancer_cli", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mediaenhancer {version('mediaenhancer')}"


def test_python_m_cli_runs_commands_under_its_own_name() -> None:
    result = _py("-m", "mediaenhancer_cli", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: mediaenhancer [OPTIONS] COMMAND" in result.stdout
    assert "__main__" not in result.stdout


def test_python_m_server_shows_its_help() -> None:
    result = _py("-m", "mediaenhancer_server", "--help")
    assert result.returncode == 0, result.stderr
    assert "mediaenhancer-server [OPTIONS] COMMAND" in result.stdout
    assert "__main__" not in result.stdout


def test_the_version_is_read_lazily_and_from_the_metadata() -> None:
    code = (
        "import mediaenhancer_cli.app, mediaenhancer_core as c; before = '__version__' in vars(c); "
        "print(before, c.__version__)"
    )
    result = _py("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", version("mediaenhancer")]


def test_the_openapi_document_announces_the_installed_version() -> None:
    from mediaenhancer_server.openapi import openapi_document

    assert openapi_document([])["info"]["version"] == version("mediaenhancer")


# --------------------------------------------------------------------------- completion


@pytest.mark.parametrize(
    ("shell", "needles"),
    [
        (
            "bash",
            [
                "_mediaenhancer_completion()",
                "complete -o default -F _mediaenhancer_completion mediaenhancer",
                "_MEDIAENHANCER_COMPLETE=complete_bash",
            ],
        ),
        (
            "zsh",
            [
                "#compdef mediaenhancer",
                "_mediaenhancer_completion()",
                "compdef _mediaenhancer_completion mediaenhancer",
                "_MEDIAENHANCER_COMPLETE=complete_zsh",
            ],
        ),
        ("fish", ["complete --command mediaenhancer", "_MEDIAENHANCER_COMPLETE=complete_fish"]),
    ],
)
def test_completion_prints_the_script_for_each_shell(shell: str, needles: list[str]) -> None:
    result = CliRunner().invoke(app, ["completion", shell])
    assert result.exit_code == 0, result.output
    for needle in needles:
        assert needle in result.stdout, (shell, needle)


def test_completion_refuses_an_unknown_shell() -> None:
    result = CliRunner().invoke(app, ["completion", "tcsh"])
    assert result.exit_code == 2
    assert "tcsh" in result.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_the_bash_script_completes_commands_and_options_in_a_real_bash(tmp_path: Path) -> None:
    script = tmp_path / "mediaenhancer.bash"
    script.write_text(CliRunner().invoke(app, ["completion", "bash"]).stdout)
    probe = (
        f"source {script}; "
        "COMP_WORDS=(mediaenhancer enh); COMP_CWORD=1; _mediaenhancer_completion mediaenhancer; "
        'echo "1:${COMPREPLY[*]}"; '
        "COMP_WORDS=(mediaenhancer enhance --pres); COMP_CWORD=2; _mediaenhancer_completion mediaenhancer; "
        'echo "2:${COMPREPLY[*]}"; '
        "COMP_WORDS=(mediaenhancer completion ''); COMP_CWORD=2; _mediaenhancer_completion mediaenhancer; "
        'echo "3:${COMPREPLY[*]}"'
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if line[:2] in ("1:", "2:", "3:"))
    assert lines["1"].split() == ["enhance"]
    assert lines["2"].split() == ["--preset"]
    assert lines["3"].split() == ["bash", "zsh", "fish"]


@pytest.mark.parametrize("command", sorted(_LazyGroup.LAZY))
def test_no_command_offers_its_own_install_completion(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--install-completion" not in result.stdout
    assert "--show-completion" not in result.stdout
