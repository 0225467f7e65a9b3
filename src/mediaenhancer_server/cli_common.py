"""What the admin commands (``cli.py``, ``cli_billing.py``, ``cli_storage.py``) share: errors
as one line and an exit code, settings from the environment, the core with its database ready.
Its own module, so the command modules import it and never each other."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import typer

__all__ = ["handle_errors", "_core", "_err", "_settings"]

F = TypeVar("F", bound=Callable[..., Any])


def _err(message: str) -> None:
    typer.echo(f"mediaenhancer-server: error: {message}", err=True)


def handle_errors(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mediaenhancer_core.errors import MediaEnhancerError  # noqa: PLC0415
        from mediaenhancer_core.exit_codes import exit_code_for  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except MediaEnhancerError as exc:
            _err(exc.message)
            raise typer.Exit(int(exit_code_for(exc))) from None

    return cast(F, wrapper)


def _settings(**overrides: Any) -> Any:
    from mediaenhancer_core.settings import Settings  # noqa: PLC0415

    return Settings.load(os.environ, overrides=overrides)


@contextmanager
def _core(**overrides: Any) -> Iterator[Any]:
    """The core from settings, with the database ready; closed when the command ends."""
    from mediaenhancer_core.services import Core  # noqa: PLC0415

    core = Core.open(_settings(**overrides))
    try:
        core.prepare_database()
        yield core
    finally:
        core.close()
