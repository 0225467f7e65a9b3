"""HMAC-signed, expiring download URLs for the backends the server serves itself.

    /storage/<key>?expires=<unix seconds>&filename=<name>&type=<mime>&signature=<hex>

The signature is HMAC-SHA256 over the key, the expiry, the file name and the type, so
none of them can be changed; a link past its expiry is refused. Verification compares
in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlencode

from mediaenhancer_core.errors import DownloadLinkError

__all__ = ["UrlSigner", "STORAGE_ROUTE"]

STORAGE_ROUTE = "/storage/"


class UrlSigner:
    def __init__(self, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the URL signing secret must be at least 16 bytes")
        self._secret = secret
        self._clock = clock

    def _mac(self, key: str, expires: int, filename: str, content_type: str) -> str:
        message = "\n".join((key, str(expires), filename, content_type)).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def url(self, key: str, *, ttl: int, filename: str, content_type: str, base_url: str) -> str:
        expires = int(self._clock()) + ttl
        query = urlencode(
            {
                "expires": expires,
                "filename": filename,
                "type": content_type,
                "signature": self._mac(key, expires, filename, content_type),
            }
        )
        return f"{base_url.rstrip('/')}{STORAGE_ROUTE}{quote(key)}?{query}"

    def verify(self, key: str, query: Mapping[str, str]) -> tuple[str, str]:
        """Check a request's query; returns (filename, content type) or raises DownloadLinkError."""
        try:
            expires = int(query["expires"])
            filename, content_type, signature = query["filename"], query["type"], query["signature"]
        except (KeyError, ValueError):
            raise DownloadLinkError("this download link is incomplete; ask the API for a new one") from None
        expected = self._mac(key, expires, filename, content_type)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise DownloadLinkError("this download link is not valid (it was changed); ask the API for a new one")
        if self._clock() > expires:
            raise DownloadLinkError("this download link expired; get a new one from GET /api/media/{id}")
        return filename, content_type
