"""S3 upload parts: their CRC32 (setting s3_checksum) and reused part buffers, against a real S3 API
server on loopback."""

from __future__ import annotations

import base64
import uuid
import zlib
from typing import Any

import pytest

from mediaenhancer_core.storage.s3 import S3Storage

from .media_support import S3_KEYS, s3_client

PART = 5 * 1024 * 1024


def _storage(url: str, checksum: str) -> tuple[S3Storage, list[dict[str, str]]]:
    bucket = f"test-{uuid.uuid4().hex[:20]}"
    s3_client(url).create_bucket(Bucket=bucket)
    storage = S3Storage(
        bucket=bucket,
        endpoint_url=url,
        access_key_id=S3_KEYS["MEDIAENHANCER_S3_ACCESS_KEY_ID"],
        secret_access_key=S3_KEYS["MEDIAENHANCER_S3_SECRET_ACCESS_KEY"],
        addressing_style="path",
        checksum=checksum,
    )
    sent: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        if "partNumber=" in request.url:
            headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
            sent.append(headers | {"_body_crc": _crc(request.body)})

    storage.client.meta.events.register("before-send.s3.UploadPart", record)
    return storage, sent


def _crc(body: Any) -> str:
    data = body if isinstance(body, (bytes, bytearray)) else body.read()
    if hasattr(body, "seek"):
        body.seek(0)
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _upload(storage: S3Storage, key: str, data: bytes) -> int:
    upload_id = storage.start_upload(key, content_type="audio/wav")
    writer = storage.part_writer(key, upload_id, offset=0, part_size=PART, total_size=len(data))
    writer.write(data)
    writer.commit(final=True)
    return storage.complete_upload(key, upload_id, part_size=PART)


@pytest.fixture
def data() -> bytes:
    return bytes(range(256)) * (PART // 256) + b"tail of the file" * 1000  # two parts, the second short


def test_every_part_goes_out_with_its_crc32_in_a_header(s3_url: str, data: bytes) -> None:
    storage, sent = _storage(s3_url, "crc32")
    try:
        assert _upload(storage, "media/a", data) == len(data)
        assert len(sent) == 2
        for headers in sent:
            assert headers.get("x-amz-checksum-crc32") == headers["_body_crc"]  # the value of the bytes sent
            assert "aws-chunked" not in headers.get("content-encoding", "")  # a header, never a trailer
            assert not headers.get("x-amz-content-sha256", "").startswith("STREAMING")
        head = storage.client.head_object(Bucket=storage.bucket, Key="media/a", ChecksumMode="ENABLED")
        assert head.get("ChecksumCRC32")  # the object was created with ChecksumAlgorithm CRC32
        assert b"".join(storage.read("media/a")) == data
    finally:
        storage.close()


def test_checksums_can_be_switched_off_for_services_that_refuse_them(s3_url: str, data: bytes) -> None:
    storage, sent = _storage(s3_url, "off")
    try:
        assert _upload(storage, "media/b", data) == len(data)
        assert len(sent) == 2 and not any("x-amz-checksum-crc32" in h for h in sent)
        head = storage.client.head_object(Bucket=storage.bucket, Key="media/b", ChecksumMode="ENABLED")
        assert "ChecksumCRC32" not in head
        assert b"".join(storage.read("media/b")) == data
    finally:
        storage.close()


def test_a_resumed_upload_keeps_the_algorithm_listparts_reports(s3_url: str) -> None:
    """A process that did not start the upload asks ListParts how it was created (real S3 says; the
    loopback server does not, so its answer is stubbed here) instead of trusting its own setting."""
    from botocore.stub import Stubber

    storage = S3Storage(
        bucket="any",
        endpoint_url=s3_url,
        access_key_id="k",
        secret_access_key="s",
        addressing_style="path",
        checksum="off",
    )
    try:
        with Stubber(storage.client) as stub:
            stub.add_response(
                "list_parts",
                {
                    "Parts": [{"PartNumber": 1, "Size": PART, "ETag": '"e"', "ChecksumCRC32": "AAAAAA=="}],
                    "ChecksumAlgorithm": "CRC32",
                    "IsTruncated": False,
                },
            )
            assert storage.upload_offset("media/c", "u-1", part_size=PART) == PART
        assert storage.upload_checksum("u-1") == "CRC32"
        assert storage.upload_checksum("never-seen") is None  # unknown: the setting decides ("off")
    finally:
        storage.close()


def test_reused_part_buffers_never_mix_parts(s3_url: str) -> None:
    """Seven parts of different bytes, written in uneven pieces while two parts are in flight:
    each buffer is refilled only after its part was sent, so the object is the input, byte for byte."""
    import os

    storage, sent = _storage(s3_url, "crc32")
    storage.concurrency = 2
    data = b"".join(bytes([n]) * PART for n in range(7)) + os.urandom(12345)
    try:
        upload_id = storage.start_upload("media/d", content_type="audio/wav")
        writer = storage.part_writer("media/d", upload_id, offset=0, part_size=PART, total_size=len(data))
        view, step = memoryview(data), 0
        while view:
            step = step % 3 + 1
            n = min(len(view), step * 1_000_003)
            writer.write(bytes(view[:n]))
            view = view[n:]
        assert writer.commit(final=True) == len(data)
        assert storage.complete_upload("media/d", upload_id, part_size=PART) == len(data)
        assert len(sent) == 8
        assert b"".join(storage.read("media/d")) == data
    finally:
        storage.close()


def test_parts_with_a_checksum_are_not_hashed_again_for_the_signature(s3_url: str, data: bytes) -> None:
    """A CRC32 header guards each part, so the signature covers UNSIGNED-PAYLOAD rather than a second
    SHA-256 pass over the body; with checksums off botocore signs the body's SHA-256."""
    import hashlib

    for checksum in ("crc32", "off"):
        storage, sent = _storage(s3_url, checksum)
        try:
            assert _upload(storage, f"media/sig-{checksum}", data) == len(data)
            signed = [h["x-amz-content-sha256"] for h in sent]
            if checksum == "crc32":
                assert signed == ["UNSIGNED-PAYLOAD"] * 2
            else:
                assert sorted(signed) == sorted(
                    [hashlib.sha256(data[:PART]).hexdigest(), hashlib.sha256(data[PART:]).hexdigest()]
                )
        finally:
            storage.close()


def test_a_part_without_a_checksum_algorithm_carries_its_md5_when_the_payload_is_unsigned(s3_url: str) -> None:
    """An upload created while checksums were off, continued with them on: its parts cannot carry a CRC32,
    and the payload is not signed, so each goes with its Content-MD5 for S3 to check."""
    import hashlib

    storage, sent = _storage(s3_url, "crc32")
    body = b"x" * PART
    try:
        upload_id = storage.client.create_multipart_upload(Bucket=storage.bucket, Key="media/e")["UploadId"]
        storage.upload_part("media/e", upload_id, 1, body, crc32=False)
        assert sent[0]["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
        assert sent[0]["content-md5"] == base64.b64encode(hashlib.md5(body).digest()).decode()
        assert "x-amz-checksum-crc32" not in sent[0]
    finally:
        storage.close()


def test_an_upload_listed_before_its_parts_are_written_still_sends_crc32(s3_url: str, data: bytes) -> None:
    """The server asks ListParts where an upload stands before every request's bytes. The loopback
    server's answer names no ChecksumAlgorithm; that must not make this process forget the CRC32
    it created the upload with (it did: parts went out with no checksum at all)."""
    storage, sent = _storage(s3_url, "crc32")
    try:
        upload_id = storage.start_upload("media/f", content_type="audio/wav")
        assert storage.upload_offset("media/f", upload_id, part_size=PART) == 0
        writer = storage.part_writer("media/f", upload_id, offset=0, part_size=PART, total_size=len(data))
        writer.write(data[:PART])
        assert writer.commit(final=False) == PART
        assert storage.upload_offset("media/f", upload_id, part_size=PART) == PART  # listed again, one part in
        writer = storage.part_writer("media/f", upload_id, offset=PART, part_size=PART, total_size=len(data))
        writer.write(data[PART:])
        assert writer.commit(final=True) == len(data)
        assert storage.complete_upload("media/f", upload_id, part_size=PART) == len(data)
        assert [h.get("x-amz-checksum-crc32") for h in sent] == [h["_body_crc"] for h in sent]
        assert all("content-md5" not in h for h in sent) and len(sent) == 2
    finally:
        storage.close()
