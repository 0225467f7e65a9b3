"""Where media files live: a small interface and its backends.

    storage = open_storage(settings)       # local folder (default) or S3-compatible bucket

See :mod:`.base` for the interface, :mod:`.keys` for the object keys of the media
library and :mod:`.signing` for the local backend's signed download URLs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mediaenhancer_core.keyfile import secret_key
from mediaenhancer_core.settings import Settings
from mediaenhancer_core.storage.base import ObjectInfo, PartWriter, PendingUpload, Storage
from mediaenhancer_core.storage.local import LocalStorage
from mediaenhancer_core.storage.memory import MemoryStorage
from mediaenhancer_core.storage.signing import STORAGE_ROUTE, UrlSigner

__all__ = [
    "Storage",
    "PartWriter",
    "ObjectInfo",
    "PendingUpload",
    "LocalStorage",
    "MemoryStorage",
    "UrlSigner",
    "STORAGE_ROUTE",
    "open_storage",
    "signing_secret",
]

SIGNING_KEY_FILE = "url-signing.key"


def signing_secret(settings: Settings) -> bytes:
    """The HMAC key of local download URLs: the setting, else a random key kept in data_dir
    (created once, 0600), so every worker process of the server signs alike."""
    return secret_key(
        settings.url_signing_secret, settings.data_dir, SIGNING_KEY_FILE, setting="MEDIAENHANCER_URL_SIGNING_SECRET"
    )


def open_storage(settings: Settings, *, clock: Callable[[], float] = time.time) -> Storage:
    """The backend named by ``storage_backend``. ``clock`` (seconds) dates signed URLs."""
    if settings.storage_backend == "s3":
        from mediaenhancer_core.extras import require_extra  # noqa: PLC0415

        require_extra("s3", 'storage_backend = "s3"')  # at start-up, not at the first upload
        from mediaenhancer_core.storage.s3 import S3Storage  # noqa: PLC0415 - boto3 stays unloaded for the local backend

        assert settings.s3_bucket is not None  # Settings.validate
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key.reveal() if settings.s3_secret_access_key else None,
            prefix=settings.s3_prefix,
            addressing_style=settings.s3_addressing_style,
            checksum=settings.s3_checksum,
            max_attempts=settings.s3_max_attempts,
            timeout=settings.s3_timeout_seconds,
            concurrency=settings.upload_concurrency,
        )
    root = settings.storage_path or (Path(settings.data_dir or ".") / "media")
    return LocalStorage(root, UrlSigner(signing_secret(settings), clock=clock))
