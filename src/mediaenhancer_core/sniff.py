"""Identify a media container by its first bytes, not by its name.

Used to tell "this is not media at all" (a text file renamed to .mp4) from "this is
media, but damaged" (an MP4 cut short), and by the server to check uploads.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["sniff_bytes", "sniff_file", "HEAD_SIZE"]

HEAD_SIZE = 64


def sniff_bytes(head: bytes) -> str | None:
    """The container family of these leading bytes, or None when unrecognised."""
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
        return "mp3"
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
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff" or head[:4] in (b"GIF8",) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    ):
        return "image"
    return None


def sniff_file(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(512)
    # MPEG-TS needs two sync bytes 188 apart
    return sniff_bytes(head)
