"""The one reader of JSON that comes from outside (API bodies, signed webhooks), and the one
check of the text in it.

    data = parse_json(body)                   # ValidationError (422) on anything we will not store

Python's ``json`` turns a body nested a few thousand levels deep into ``RecursionError``, and
happily decodes ``"\\ud800"`` (a lone UTF-16 surrogate, which no database or encoder accepts)
and ``"\\u0000"`` (NUL, which PostgreSQL text columns refuse). Each of those used to surface
as a 500 somewhere further in. Here every one is a ValidationError naming the field:

- nesting deeper than :data:`MAX_DEPTH` (objects and arrays; ``RecursionError`` included);
- a string (value or key) holding a lone surrogate or a control character NUL;
- NaN and Infinity, which are not JSON numbers;
- numbers whose magnitude no column holds (over :data:`MAX_NUMBER`).

The walk is iterative, so a deep document cannot exhaust the stack here either.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mediaenhancer_core.errors import ValidationError

__all__ = ["parse_json", "check_text", "check_tree", "MAX_DEPTH", "MAX_NUMBER", "bad_text_reason"]

MAX_DEPTH = 64
MAX_NUMBER = 2**63 - 1  # the largest BIGINT; larger numbers mean nothing to this API
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def bad_text_reason(value: str) -> str | None:
    """Why a string cannot be stored as text, or None when it can."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain the NUL character"
    return "is not valid Unicode text (a lone surrogate)"


def check_text(value: str, field: str) -> str:
    """The one text-field check: ``value`` back, or ValidationError naming ``field``."""
    reason = bad_text_reason(value)
    if reason is not None:
        raise ValidationError(f"{field}: {reason}", field=field)
    return value


def check_tree(data: Any, where: str = "body", *, max_depth: int = MAX_DEPTH) -> Any:
    """Check a decoded JSON value (depth, text, numbers) without recursion; returns it."""
    stack: list[tuple[Any, str, int]] = [(data, where, 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            check_text(value, path)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, (int, float)):
            if value != value or value in (float("inf"), float("-inf")):
                raise ValidationError(f"{path}: must be a finite number", field=path)
            if abs(value) > MAX_NUMBER:
                raise ValidationError(f"{path}: number out of range", field=path)
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                raise ValidationError(f"{where}: nested deeper than {max_depth} levels", field=where)
            if isinstance(value, dict):
                for key, item in value.items():
                    sub = key if path == "body" else f"{path}.{key}"
                    check_text(key, path if bad_text_reason(key) is None else f"{path} (a key)")
                    stack.append((item, sub, depth + 1))
            else:
                for i, item in enumerate(value):
                    stack.append((item, f"{path}[{i}]", depth + 1))
    return data


def parse_json(body: bytes | str, where: str = "body", *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode and check a JSON document from outside; ValidationError (422) when it is not one we accept."""
    try:
        data = json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise ValidationError(f"{where}: nested deeper than {max_depth} levels", field=where) from None
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(f"{where}: not valid JSON (NaN and Infinity are not numbers)", field=where) from None
    return check_tree(data, where, max_depth=max_depth)
