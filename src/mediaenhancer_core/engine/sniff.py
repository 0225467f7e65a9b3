"""Identify a media container by its first bytes, not by its name.

Used to tell "this is not media at all" (a text file renamed to .mp4) from "this is
media, but damaged" (an MP4 cut short), and by the server to check uploads.

An ID3v2 tag says nothing about what follows it: ffmpeg's probe skips the tag and looks at
the bytes behind it, where an HLS playlist or anything else may sit. So a file that starts
with ID3 counts as audio only when the bytes after the tag (and any further tags, and the
zero padding some taggers leave) are an MPEG audio frame, an ADTS (AAC) frame or a FLAC
stream. The tag may be large (cover art), so those bytes can lie far beyond the first ones:
:func:`sniff_reader` reads them where they are, and :class:`Sniffer` picks them out of a
stream as it passes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["sniff_bytes", "sniff_file", "sniff_reader", "Sniffer", "HEAD_SIZE", "SNIFF_HEAD", "AFTER_TAG"]

HEAD_SIZE = 64
SNIFF_HEAD = 512  # bytes looked at first (an MPEG-TS needs two sync bytes 188 apart)
AFTER_TAG = 4096  # bytes looked at behind an ID3 tag (zero padding, then the first frame)
_MAX_TAGS = 4  # ID3 tags one after the other (some taggers write a second one)

# (family, None): decided; (None, offset): the bytes from ``offset`` are needed; (None, None): not media
_Look = tuple[str | None, int | None]


def _id3_end(head: bytes, at: int) -> int | None:
    """Where the ID3v2 tag starting at ``at`` ends (header, body and footer), or None when the
    header is not a valid ID3v2 header."""
    h = head[at : at + 10]
    if len(h) < 10 or h[:3] != b"ID3" or h[3] not in (2, 3, 4) or h[4] == 0xFF or any(b & 0x80 for b in h[6:10]):
        return None
    size = (h[6] << 21) | (h[7] << 14) | (h[8] << 7) | h[9]
    return at + 10 + size + (10 if h[3] == 4 and h[5] & 0x10 else 0)


def _audio_frame(data: bytes) -> str | None:
    """The family of the audio frame ``data`` starts with (after an ID3 tag), or None."""
    if len(data) >= 4 and data[:4] == b"fLaC":
        return "flac"
    if len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0:
        if (data[1] & 0xF6) == 0xF0:
            return "aac"  # ADTS: sync 0xFFF, layer 00
        if (data[1] & 0x18) != 0x08 and (data[1] & 0x06) != 0:  # an MPEG version and a layer that exist
            return "mp3"
    return None


def _after_tags(buf: bytes, base: int, at: int, depth: int, complete: bool) -> _Look:
    """What follows the tag ending at ``at`` (``buf`` holds the file's bytes from ``base``)."""
    i = at - base
    if i < 0:
        return None, at
    window = buf[i : i + AFTER_TAG]
    j = 0
    while j < len(window) and window[j] == 0:  # padding the tag's size did not count
        j += 1
    rest = window[j:]
    if len(rest) < 10 and not complete:
        if j >= AFTER_TAG:
            return None, None  # 4 KiB of zeros is no audio
        return None, at  # need the bytes behind the tag
    if rest[:3] == b"ID3" and depth < _MAX_TAGS:
        end = _id3_end(rest, 0)
        if end is None:
            return None, None
        return _after_tags(buf, base, at + j + end, depth + 1, complete)
    return _audio_frame(rest), None


def _look(buf: bytes, base: int = 0, *, complete: bool) -> _Look:
    """``buf`` holds the file's bytes from offset ``base`` (the first :data:`SNIFF_HEAD` when
    ``base`` is 0); ``complete``: the file ends where ``buf`` does."""
    if base == 0 and buf[:3] == b"ID3":
        end = _id3_end(buf, 0)
        if end is None:
            return None, None
        return _after_tags(buf, 0, end, 1, complete)
    return _container(buf), None


def _container(head: bytes) -> str | None:
    if len(head) < 4:
        return None
    if head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"mdat", b"free", b"wide", b"skip"):
        brand = head[8:12]
        if brand in (b"qt  ",):
            return "mov"
        if brand in (b"M4A ", b"M4B "):
            return "m4a"
        if brand in (b"avif", b"heic", b"heix", b"mif1"):
            return "image"
        return "mp4"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head[:4] == b"RF64":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # also webm
    if head[:3] == b"ID3":
        return None  # only after the tag is known (see _look)
    if head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        # MPEG audio frame sync, or ADTS AAC (0xFFF1 / 0xFFF9)
        return "aac" if (head[1] & 0xF6) == 0xF0 else "mp3"
    if head[0] == 0x47 and len(head) > 188 and head[188] == 0x47:
        return "mpegts"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpegps"
    if head[:3] == b"FLV":
        return "flv"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "asf"
    if head[:4] == b"#!AM":
        return "amr"
    if head[:4] == b"caff":
        return "caf"
    if (
        head[:8] == b"\x89PNG\r\n\x1a\n"
        or head[:3] == b"\xff\xd8\xff"
        or head[:4] in (b"GIF8",)
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    ):
        return "image"
    return None


def sniff_bytes(data: bytes) -> str | None:
    """The container family of a file whose first bytes (or all of it) are ``data``, or None when
    unrecognised. An ID3 tag that runs past ``data`` cannot be judged from it: None (use
    :func:`sniff_reader` or :class:`Sniffer` for files that may carry large tags)."""
    family, _ = _look(data, complete=True)
    return family


def sniff_reader(read: Callable[[int, int], bytes]) -> str | None:
    """The family of a file read with ``read(offset, length)`` (short reads at its end)."""
    head = read(0, SNIFF_HEAD)
    family, need = _look(head, complete=len(head) < SNIFF_HEAD)
    if need is None:
        return family
    buf = read(need, AFTER_TAG)
    return _after_tags(buf, need, need, 1, True)[0] if buf else None


def sniff_file(path: Path) -> str | None:
    with open(path, "rb") as fh:

        def read(offset: int, length: int) -> bytes:
            fh.seek(offset)
            return fh.read(length)

        return sniff_reader(read)


class Sniffer:
    """Sniffs a file fed in order from its first byte, holding at most :data:`SNIFF_HEAD` plus
    :data:`AFTER_TAG` bytes: the first ones, then (behind an ID3 tag) those after the tag.

    :meth:`feed` returns True once the family is known (``family``; None: not media);
    :meth:`finish` decides at the end of the file with what arrived."""

    def __init__(self) -> None:
        self._buf = b""  # the known bytes from offset _base on (kept between feeds)
        self._base = 0
        self._need: int | None = None  # behind a tag: the offset the next look starts at
        self._tags = 0
        self._pos = 0  # bytes fed so far
        self.decided = False
        self.family: str | None = None

    def feed(self, data: bytes) -> bool:
        if self.decided or not data:
            return self.decided
        start, self._pos = self._pos, self._pos + len(data)
        if self._need is not None and start < self._need:  # still inside the tag
            known, base = bytes(data[self._need - start : self._need - start + AFTER_TAG]), self._need
        else:  # contiguous: _buf ends where data starts
            known, base = self._buf + bytes(data), self._base
        while True:
            if self._need is None:
                if len(known) < SNIFF_HEAD:
                    self._buf = known
                    return False
                look = _look(known, complete=False)
            else:
                if base + len(known) < self._need + AFTER_TAG:
                    self._buf, self._base = known, base
                    return False
                look = _after_tags(known, base, self._need, 1, False)
            family, need = look
            if need is None:
                return self._done(family)
            self._tags += 1
            if self._tags > _MAX_TAGS:
                return self._done(None)
            self._need = need
            known, base = (known[need - base :], need) if need < base + len(known) else (b"", need)
            known = known[:AFTER_TAG]

    def _done(self, family: str | None) -> bool:
        self.decided, self.family, self._buf = True, family, b""
        return True

    def finish(self) -> str | None:
        """The family, deciding with the bytes that arrived when the file ended early."""
        if not self.decided:
            if self._need is None:
                family, need = _look(self._buf, complete=True)
            else:
                family, need = _after_tags(self._buf, self._base, self._need, 1, True)
            self._done(family if need is None else None)
        return self.family
