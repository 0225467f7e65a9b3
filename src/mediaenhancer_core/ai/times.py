"""Reading the times a model writes: seconds as numbers, or ``[HH:]MM:SS[.mmm]`` strings."""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["parse_time"]

_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)\s*$")
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s?\s*$")


def parse_time(value: Any) -> float | None:
    """Seconds, or None when ``value`` is not a time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) and value >= 0 else None
    if not isinstance(value, str):
        return None
    m = _CLOCK.match(value)
    if m:
        h, mnt, sec = m.groups()
        return int(h or 0) * 3600 + int(mnt) * 60 + float(sec.replace(",", "."))
    m = _SECONDS.match(value)
    return float(m.group(1)) if m else None
