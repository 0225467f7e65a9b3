"""The enhance and export options' choices are written once (mediaenhancer_core/choices.py): the
CLI's options, the API's body models, the job handlers and the engine all take them from there."""

from __future__ import annotations

import re

import pytest

from mediaenhancer_core import choices as C


def _cli_choices(command: str) -> dict[str, list[str]]:
    """Each option's choices as `mediaenhancer COMMAND --help` shows them ([a|b|c])."""
    from typer.testing import CliRunner

    from mediaenhancer_cli.app import app

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return {m[1]: m[2].split("|") for m in re.finditer(r"(--[\w-]+) \[([\w|]+)\]", result.output)}


def _enum(model: type, field: str) -> list[str]:
    schema = model.model_json_schema()
    prop = schema["properties"][field]
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
    options = prop.get("anyOf", [prop])
    return next(o["enum"] for o in options if "enum" in o)


def test_the_cli_offers_cores_choices() -> None:
    enhance = _cli_choices("enhance")
    assert enhance["--quality"] == list(C.QUALITIES)
    assert enhance["--resolution"] == list(C.RESOLUTIONS)
    assert enhance["--format"] == list(C.FORMATS)
    assert enhance["--denoise"] == list(C.DENOISE_LEVELS)
    assert enhance["--planner"] == list(C.PLANNERS)
    assert sorted(enhance["--type"]) == sorted(C.ENHANCE_TYPES)
    export = _cli_choices("export")
    assert (export["--quality"], export["--resolution"], export["--format"]) == (
        list(C.QUALITIES),
        list(C.RESOLUTIONS),
        list(C.FORMATS),
    )


def test_the_api_bodies_allow_cores_choices() -> None:
    pytest.importorskip("starlette")
    from mediaenhancer_server import bodies as B

    assert _enum(B.EnhanceRequest, "type") == list(C.ENHANCE_TYPES)
    for model in (B.EnhanceOptions, B.ExportRequest):
        assert _enum(model, "format") == list(C.FORMATS)
        assert _enum(model, "quality") == list(C.QUALITIES)
        assert _enum(model, "resolution") == list(C.RESOLUTIONS)
    assert _enum(B.EnhanceOptions, "planner") == list(C.PLANNERS)


def test_the_job_handlers_take_what_the_api_sends() -> None:
    pytest.importorskip("starlette")
    from mediaenhancer_core.jobs.handlers import ENHANCE_PARAMS
    from mediaenhancer_server import bodies as B

    assert ENHANCE_PARAMS == {*B.EnhanceOptions.model_fields, "preset"}  # the options a job's params may hold


def test_the_engine_uses_the_same_lists() -> None:
    from mediaenhancer_core.engine import formats, plan, planner
    from mediaenhancer_core.errors import ConfigError
    from mediaenhancer_core.settings import Settings

    assert tuple(formats.FORMATS) == C.FORMATS  # each format's container details, one per choice
    assert plan.FORMATS is C.FORMATS and formats.QUALITIES is C.QUALITIES
    assert planner.RESOLUTIONS is C.RESOLUTIONS and planner.DENOISE_LEVELS is C.DENOISE_LEVELS
    assert set(formats._X26X_PRESET) == set(C.QUALITIES)
    for quality in C.QUALITIES:
        assert Settings.load({"MEDIAENHANCER_QUALITY": quality}).quality == quality
    with pytest.raises(ConfigError, match="quality"):
        Settings.load({"MEDIAENHANCER_QUALITY": "best"})
    for name in C.PLANNERS:
        assert Settings.load({"MEDIAENHANCER_PLANNER": name}).planner == name


def test_every_job_type_has_a_handler(tmp_path) -> None:
    pytest.importorskip("sqlalchemy")
    from mediaenhancer_core.db.models import JOB_TYPES
    from mediaenhancer_core.jobs.handlers import build_handlers
    from mediaenhancer_core.settings import Settings

    assert JOB_TYPES == C.JOB_TYPES
    handlers = build_handlers(Settings.load({}), None, None, lambda: None)  # type: ignore[arg-type]
    assert set(handlers) == set(C.JOB_TYPES)
