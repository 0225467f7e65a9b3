"""Checking a model's JSON answer against the JSON Schema we asked for.

Gemini is given a response schema, but a model (or a proxy, or an older model) can still
answer something else, so every answer is checked here before it is used. Only the
subset of JSON Schema that Gemini's ``responseJsonSchema`` accepts and our schemas use
is supported: ``type`` (one name or a list), ``properties``, ``required``, ``items``,
``enum``, ``minimum``/``maximum``, ``minItems``/``maxItems`` and ``maxLength``.
Numbers outside ``minimum``/``maximum`` are *not* errors here: callers clamp them to
safe ranges and say so. Unknown properties are ignored (and never used).
"""

from __future__ import annotations

import math
from typing import Any

from mediaenhancer_core.errors import AIResponseError

__all__ = ["check"]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, type_name: str) -> bool:
    if type_name in ("number", "integer") and isinstance(value, bool):
        return False
    if type_name == "number" and isinstance(value, float) and not math.isfinite(value):
        return False
    if type_name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[type_name])


def check(value: Any, schema: dict[str, Any], *, what: str = "answer", path: str = "$") -> None:
    """Raise :class:`AIResponseError` naming the first place where ``value`` breaks ``schema``."""
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, t) for t in names):
            raise AIResponseError(f"Gemini's {what} does not fit the schema: {path} should be {' or '.join(names)}, got {_kind(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise AIResponseError(f"Gemini's {what} does not fit the schema: {path} = {str(value)[:40]!r} is not one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                raise AIResponseError(f"Gemini's {what} does not fit the schema: {path}.{key} is missing")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check(value[key], sub, what=what, path=f"{path}.{key}")
    elif isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise AIResponseError(f"Gemini's {what} does not fit the schema: {path} needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise AIResponseError(f"Gemini's {what} does not fit the schema: {path} has more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                check(item, schema["items"], what=what, path=f"{path}[{i}]")
    elif isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"] * 4:
        # a little over is tolerated (models count differently); far over is a broken answer
        raise AIResponseError(f"Gemini's {what} does not fit the schema: {path} is far too long ({len(value)} characters)")


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
