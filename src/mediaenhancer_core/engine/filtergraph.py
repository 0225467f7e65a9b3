"""Writing ffmpeg filter descriptions safely.

Option values are escaped at both levels ffmpeg parses (the filter's option list,
then the filtergraph), so paths and text with ``:``, ``'``, ``,`` or brackets
cannot break out of their option.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["escape_value", "filter_str", "chain"]


def _level1(text: str) -> str:
    # inside a filter's argument list: \ ' : are special
    return text.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\:")


def _level2(text: str) -> str:
    # inside a filtergraph description: \ ' [ ] , ; are special
    out = []
    for ch in text:
        if ch in "\\'[],;":
            out.append("\\")
        out.append(ch)
    return "".join(out)


def escape_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    return _level2(_level1(str(value)))


def filter_str(name: str, params: Mapping[str, Any] | None = None, *, instance: str | None = None) -> str:
    """``name@instance=k=v:k=v`` with every value escaped."""
    head = f"{name}@{instance}" if instance else name
    if not params:
        return head
    args = ":".join(f"{k}={escape_value(v)}" for k, v in params.items() if v is not None)
    return f"{head}={args}" if args else head


def chain(*filters: str) -> str:
    return ",".join(f for f in filters if f)
