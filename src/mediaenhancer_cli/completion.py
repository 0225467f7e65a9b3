"""`mediaenhancer completion bash|zsh|fish`: print the shell completion script.

The script calls `mediaenhancer` back with `_MEDIAENHANCER_COMPLETE` set; Typer answers with the
commands, options and choices that fit what is typed so far.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

PROG = "mediaenhancer"
COMPLETE_VAR = "_MEDIAENHANCER_COMPLETE"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion(shell: Annotated[Shell, typer.Argument(help="The shell: bash, zsh or fish.")]) -> None:
    """Print the shell completion script for bash, zsh or fish.

    \b
    bash:
      d=~/.local/share/bash-completion/completions; mkdir -p $d
      mediaenhancer completion bash > $d/mediaenhancer
    zsh:
      mediaenhancer completion zsh > "${fpath[1]}/_mediaenhancer"
    fish:
      d=~/.config/fish/completions; mkdir -p $d
      mediaenhancer completion fish > $d/mediaenhancer.fish
    """
    from typer._completion_shared import get_completion_script  # noqa: PLC0415 - the script --show-completion prints

    typer.echo(get_completion_script(prog_name=PROG, complete_var=COMPLETE_VAR, shell=shell.value))


def register(app: typer.Typer) -> None:
    app.command("completion")(completion)
