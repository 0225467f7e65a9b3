"""Object keys of the media library: generated from ids, never from a file name.

media/<user id>/<media id>/original
media/<user id>/<media id>/thumbnail.jpg
"""

from __future__ import annotations

import uuid

__all__ = ["MEDIA_PREFIX", "original_key", "thumbnail_key", "media_id_of"]

MEDIA_PREFIX = "media/"


def original_key(user_id: uuid.UUID, media_id: uuid.UUID) -> str:
    return f"{MEDIA_PREFIX}{user_id}/{media_id}/original"


def thumbnail_key(user_id: uuid.UUID, media_id: uuid.UUID) -> str:
    return f"{MEDIA_PREFIX}{user_id}/{media_id}/thumbnail.jpg"


def media_id_of(key: str) -> uuid.UUID | None:
    """The media id a key belongs to, or None for a key that is not the library's."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] + "/" != MEDIA_PREFIX:
        return None
    try:
        return uuid.UUID(parts[2])
    except ValueError:
        return None
