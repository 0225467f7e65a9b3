"""Gemini's answers as typed models: the schema sent to Gemini is generated from the model, and
every answer is checked with the same model before it is used.

Gemini is given a response schema, but a model (or a proxy, or an older model) can still
answer something else. An answer model derives from :class:`Answer` and declares its fields
with :func:`number` (a range Gemini is told, which callers clamp to and note, so a number
outside it is *not* an error) and :func:`text` (a length Gemini is told; a little over is
tolerated, since models count differently, far over is a broken answer). Unknown fields are
ignored (and never used). :func:`gemini_schema` writes the plain JSON Schema Gemini's
``responseJsonSchema`` accepts: ``type`` (one name or a list), ``properties``, ``required``,
``items``, ``enum``, ``minimum``/``maximum``, ``minItems``/``maxItems``, ``maxLength`` and
``description``; no references. :func:`check` refuses an answer with one
:class:`AIResponseError` naming the first place that is wrong.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from mediaenhancer_core.errors import AIResponseError

__all__ = ["Answer", "check", "gemini_schema", "number", "text"]

TOO_LONG = 4  # an answer's string may be this many times the maxLength Gemini was told


class Answer(BaseModel):
    """A JSON answer we ask Gemini for. Strict: "1" is no number, true no number, NaN refused."""

    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False, defer_build=True)


def number(lo: float, hi: float, description: str | None = None, **kw: Any) -> Any:
    """A number Gemini is told to keep in [lo, hi]; the answer is not refused outside it (callers clamp)."""
    return Field(description=description, json_schema_extra={"minimum": lo, "maximum": hi}, **kw)


def text(max_length: int, description: str | None = None, **kw: Any) -> Any:
    """A string Gemini is told to keep to ``max_length``; refused only when far longer."""
    return Field(
        description=description, max_length=max_length * TOO_LONG, json_schema_extra={"maxLength": max_length}, **kw
    )


# --- the schema sent to Gemini ----------------------------------------------------------------------

_DROP = ("title", "default", "additionalProperties")


@functools.cache
def gemini_schema(model: type[Answer]) -> dict[str, Any]:
    """The model as the plain JSON Schema sent to Gemini (references inlined, nullable as a type list)."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})
    raw.pop("description", None)  # the class's docstring is for us, not for the model
    return _plain(raw, defs)


def _plain(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        target = dict(defs[schema["$ref"].rsplit("/", 1)[-1]])
        target.pop("description", None)
        return _plain({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP:
            continue
        if key == "anyOf":
            options = [_plain(v, defs) for v in value]
            types: list[str] = []
            for option in options:
                kind = option.pop("type")
                types += kind if isinstance(kind, list) else [kind]
                for k, v in option.items():  # constraints of the one non-null branch
                    out.setdefault(k, v)
            out["type"] = types[0] if len(types) == 1 else types
        elif key == "properties":
            out[key] = {name: _plain(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _plain(value, defs)
        else:
            out[key] = value
    return out


# --- checking an answer -----------------------------------------------------------------------------


def check(value: Any, model: type[Answer], *, what: str = "answer") -> None:
    """Raise :class:`AIResponseError` naming the first place where ``value`` breaks ``model``."""
    try:
        model.model_validate(value, strict=True)
    except PydanticError as exc:
        raise AIResponseError(
            f"Gemini's {what} does not fit the schema: "
            + _problem(value, gemini_schema(model), exc.errors(include_url=False)[0])
        ) from None


def _problem(value: Any, schema: dict[str, Any], err: Any) -> str:
    path, here, sub = "$", value, schema
    loc = list(err.get("loc", ()))
    if err["type"] == "missing":
        loc, missing = loc[:-1], loc[-1]
    for part in loc:
        if isinstance(part, int) and isinstance(here, list) and "items" in sub:
            path, here, sub = f"{path}[{part}]", here[part], sub["items"]
        elif isinstance(part, str) and isinstance(here, dict) and part in sub.get("properties", {}):
            path, here, sub = f"{path}.{part}", here.get(part), sub["properties"][part]
        # else: pydantic's name of a union branch (float, str): not a place in the answer
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return f"{path}.{missing} is missing"
    if kind == "literal_error":
        return f"{path} = {str(here)[:40]!r} is not one of {', '.join(map(str, sub.get('enum', [])))}"
    if kind == "too_short":
        return f"{path} needs at least {ctx.get('min_length')} items"
    if kind == "too_long":
        return f"{path} has more than {ctx.get('max_length')} items"
    if kind == "string_too_long":
        return f"{path} is far too long ({len(here)} characters)"
    types = sub.get("type", "value")
    names = [types] if isinstance(types, str) else list(types)
    return f"{path} should be {' or '.join(names)}, got {_kind(here)}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__
