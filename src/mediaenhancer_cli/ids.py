"""Unique id prefixes, as git takes them: `mediaenhancer media info 3f2a` for the media whose id starts so.

A full id is used as typed (no extra request). A prefix of at least :data:`MIN_PREFIX` hex characters is
resolved against the ids the API lists for this user: one match is used; none is "no media 3f2a"
(NotFoundError, exit 42); several is "3f2a is ambiguous: …" (AmbiguousIdError, its own exit code). The
tables show ids as their first 8 characters, which is what people copy back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediaenhancer_core.client.api import ApiClient

__all__ = ["MIN_PREFIX", "match_prefix", "resolve_id"]

MIN_PREFIX = 4
_HEX = re.compile(r"^[0-9a-fA-F-]+$")

# what -> (the command that lists them, a function that lists every id of this user)
_LISTS: dict[str, tuple[str, Callable[[ApiClient], Iterable[str]]]] = {}


def _pages(client: ApiClient, path: str, key: str) -> Iterable[str]:
    page = 1
    while True:
        data = client.get(f"{path}?page={page}&per_page=200")
        yield from (item["id"] for item in data[key])
        if page * 200 >= data.get("total", 0) or not data[key]:
            return
        page += 1


def _jobs(client: ApiClient) -> Iterable[str]:
    offset = 0
    while True:
        jobs = client.get(f"/api/jobs?limit=200&offset={offset}")["jobs"]
        yield from (job["id"] for job in jobs)
        if len(jobs) < 200:
            return
        offset += 200


_LISTS.update(
    {
        "media": ("mediaenhancer media list", lambda c: _pages(c, "/api/media", "media")),
        "project": ("mediaenhancer projects list", lambda c: _pages(c, "/api/projects", "projects")),
        "job": ("mediaenhancer jobs list", _jobs),
        "token": ("mediaenhancer tokens list", lambda c: (t["id"] for t in c.get("/api/tokens")["tokens"])),
    }
)


def _full(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def match_prefix(value: str, candidates: Iterable[str], what: str, listed_by: str) -> str:
    """The one candidate id that starts with ``value`` (dashes and case ignored)."""
    from mediaenhancer_core.errors import AmbiguousIdError, NotFoundError  # noqa: PLC0415

    full = _full(value)
    if full is not None:
        return full
    wanted = value.replace("-", "").lower()
    if len(wanted) < MIN_PREFIX or not _HEX.match(value):
        raise NotFoundError(
            f"no {what} {value}: give its id, or at least {MIN_PREFIX} of its first characters "
            f"(list them with `{listed_by}`)"
        )
    found = sorted({c for c in candidates if c.replace("-", "").lower().startswith(wanted)})
    if not found:
        raise NotFoundError(f"no {what} {value}; list yours with `{listed_by}`")
    if len(found) > 1:
        shown = ", ".join(c[: len(value) + 4] for c in found[:5]) + (", …" if len(found) > 5 else "")
        raise AmbiguousIdError(
            f"{value} is ambiguous: {len(found)} {what} ids start with it ({shown}); give more characters"
        )
    return found[0]


def resolve_id(client: ApiClient, what: str, value: str) -> str:
    """A full id for ``value`` (a full id, or a unique prefix of one of this user's ``what`` ids)."""
    full = _full(value)
    if full is not None:
        return full
    listed_by, lister = _LISTS[what]
    if len(value.replace("-", "")) < MIN_PREFIX or not _HEX.match(value):
        return match_prefix(value, (), what, listed_by)  # refused before asking the server
    return match_prefix(value, lister(client), what, listed_by)


def resolve_segment(project: dict[str, Any], value: str) -> str:
    """A segment id of ``project`` (as the API returns it) from a full id or a unique prefix."""
    return match_prefix(
        value,
        (s["id"] for s in project.get("segments", [])),
        "segment",
        f"mediaenhancer projects show {project['id'][:8]}",
    )
