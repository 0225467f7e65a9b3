"""Media in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO), through boto3.

boto3 is imported when the first request is made, not when this module loads. The
client signs with SigV4 (also its presigned GET URLs), retries in botocore's standard
mode up to ``s3_max_attempts`` times, and never lets botocore add its default checksum
trailers (several S3-compatible services reject aws-chunked bodies); upload parts carry
a CRC32 header of our own instead (below).

Uploads are S3 multipart uploads: parts of ``part_size`` bytes are sent as they fill,
``concurrency`` at a time from a thread pool, so one upload holds at most
``(concurrency + 1) * part_size`` bytes of memory, in buffers reused from part to part.
The resumable offset is the sum of the contiguous parts S3 lists; a request cut off
mid-part drops that part's bytes and the client sends them again.

With ``checksum="crc32"`` (the default) the multipart upload is created with
ChecksumAlgorithm CRC32 and each part goes out with its CRC32 in the
``x-amz-checksum-crc32`` header, computed here with zlib: S3 refuses a part that was
damaged on the way, and the object gets a composite CRC32. A resumed upload keeps the
algorithm it was created with (ListParts says which), whatever the setting is now. With the
checksum in the header the payload is not also SHA-256 signed (``UNSIGNED-PAYLOAD``, as
botocore does over https for bodies it checksummed itself); a part of an upload created
without checksums then carries its Content-MD5 instead. With ``checksum="off"`` botocore
signs each body's SHA-256, as it does by default.

Every botocore error becomes a StorageError: unreachable endpoints, timeouts, 5xx and
throttling answers are :class:`StorageUnavailableError` (the API answers 503).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from mediaenhancer_core.errors import StorageError, StorageUnavailableError
from mediaenhancer_core.storage.base import READ_CHUNK, ObjectInfo, PartWriter, PendingUpload, Storage, check_key

__all__ = ["S3Storage"]

T = TypeVar("T")
_MISSING = {"NoSuchKey", "404", "NotFound"}
_GONE_UPLOAD = {"NoSuchUpload"}


class _S3PartWriter(PartWriter):
    """Fills part-sized buffers and sends each one as it fills. The buffers are allocated once
    (at most ``concurrency + 1`` of them) and reused as their parts settle, so a long upload
    neither grows buffers byte by byte nor churns the allocator with a fresh 8 MiB per part."""

    def __init__(
        self, storage: S3Storage, key: str, upload_id: str, offset: int, part_size: int, total_size: int | None
    ) -> None:
        if offset % part_size and offset != total_size:
            raise StorageError(f"upload of {key}: offset {offset} is not on a part boundary ({part_size} bytes)")
        self._s3, self._key, self._upload_id = storage, key, upload_id
        self._part_size = part_size
        self.offset = offset
        self._next_part = offset // part_size + 1
        self._buf: bytearray | None = None  # the part being filled (taken from _spare on first write)
        self._fill = 0
        self._spare: list[bytearray] = []  # buffers whose parts have settled
        self._inflight: deque[tuple[Future[None], int, bytearray | None]] = deque()
        self._error: StorageError | None = None
        self._uploaded_any = offset > 0
        self._crc32 = storage.upload_checksum(upload_id) == "CRC32"

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _settle_oldest(self) -> None:
        future, size, buffer = self._inflight.popleft()
        try:
            future.result()
        except StorageError as exc:
            self._error = self._error or exc
        except Exception as exc:  # noqa: BLE001 - a thread's failure, wrapped for the caller
            self._error = self._error or StorageUnavailableError(f"uploading to S3 failed ({exc.__class__.__name__})")
        if buffer is not None:
            self._spare.append(buffer)  # its request is over: the buffer can take the next part
        if self._error is None:
            self.offset += size  # parts settle in order, so the offset only counts contiguous parts

    def _submit(self, data: bytes | bytearray, reusable: bytearray | None) -> None:
        while len(self._inflight) >= self._s3.concurrency:
            self._settle_oldest()
        self._raise_if_failed()
        number = self._next_part
        self._next_part += 1
        self._uploaded_any = True
        future = self._s3.pool.submit(self._s3.upload_part, self._key, self._upload_id, number, data, crc32=self._crc32)
        self._inflight.append((future, len(data), reusable))

    def write(self, data: bytes) -> None:
        self._raise_if_failed()
        view = memoryview(data)
        while view:
            if self._buf is None:
                self._buf = self._spare.pop() if self._spare else bytearray(self._part_size)
            n = min(self._part_size - self._fill, len(view))
            self._buf[self._fill : self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == self._part_size:
                part, self._buf, self._fill = self._buf, None, 0  # handed over whole, not copied
                self._submit(part, part)

    def _drop_partial(self) -> None:
        if self._buf is not None:
            self._spare.append(self._buf)
        self._buf, self._fill = None, 0

    def commit(self, *, final: bool) -> int:
        if final and (self._fill or not self._uploaded_any):
            last = self._buf if self._buf is not None else bytearray()
            del last[self._fill :]  # shrunk in place, not copied: the short last part
            self._buf, self._fill = None, 0
            self._submit(last, None)
        self._drop_partial()
        while self._inflight:
            self._settle_oldest()
        self._spare.clear()
        self._raise_if_failed()
        return self.offset

    def discard(self) -> int:
        self._drop_partial()
        while self._inflight:
            self._settle_oldest()
        self._spare.clear()
        return self.offset


class S3Storage(Storage):
    backend = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "",
        addressing_style: str = "auto",
        max_attempts: int = 3,
        timeout: float = 60.0,
        concurrency: int = 4,
        checksum: str = "crc32",
    ) -> None:
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.prefix = prefix
        self.concurrency = concurrency
        self.checksum = checksum
        self._algorithms: dict[str, str | None] = {}  # upload id -> ChecksumAlgorithm it was created with
        self._algorithms_lock = threading.Lock()
        self._client_args = {
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
            "addressing_style": addressing_style,
            "max_attempts": max_attempts,
            "timeout": timeout,
        }
        self._client: Any = None
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=max(8, concurrency * 4), thread_name_prefix="mediaenhancer-s3")

    def describe(self) -> str:
        return f"S3 bucket {self.bucket} at {self.endpoint_url or 'AWS ' + self.region}"

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        from mediaenhancer_core.extras import import_extra  # noqa: PLC0415

        boto3 = import_extra("boto3", "s3", "S3 storage")  # heavy SDK, loaded on first use
        from botocore.config import Config  # noqa: PLC0415

        a = self._client_args
        config = Config(
            signature_version="s3v4",
            region_name=self.region,
            retries={"max_attempts": a["max_attempts"], "mode": "standard"},
            connect_timeout=a["timeout"],
            read_timeout=a["timeout"],
            max_pool_connections=max(16, self.concurrency * 4),
            # Parts carry their own checksum (below), so the body is not hashed again for the
            # signature: botocore's default SHA-256 of every part over http, or over https when the
            # checksum is not one botocore computed, costs a second pass over each byte.
            s3={
                "addressing_style": a["addressing_style"],
                **({"payload_signing_enabled": False} if self.checksum == "crc32" else {}),
            },
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=a["access_key_id"],
            aws_secret_access_key=a["secret_access_key"],
            config=config,
        )

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()

    def _k(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _call(self, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            raise self._client_error(exc, what) from None
        except BotoCoreError as exc:
            raise StorageUnavailableError(
                f"S3 storage at {self.endpoint_url or 'AWS'} is unreachable or failed while {what} "
                f"({exc.__class__.__name__}); retry later"
            ) from None

    def _client_error(self, exc: Any, what: str) -> StorageError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code == "NoSuchBucket":
            return StorageError(f"S3 bucket {self.bucket} does not exist; create it or fix MEDIAENHANCER_S3_BUCKET")
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StorageError(
                f"S3 refused the credentials while {what} ({code}); check MEDIAENHANCER_S3_ACCESS_KEY_ID "
                "and MEDIAENHANCER_S3_SECRET_ACCESS_KEY"
            )
        if status >= 500 or status in (0, 429) or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable"):
            return StorageUnavailableError(f"S3 storage failed while {what} ({code or status}); retry later")
        err = StorageError(f"S3 refused the request while {what} ({code or status})")
        err.s3_code = code  # type: ignore[attr-defined]
        return err

    # --- health ---------------------------------------------------------------------------
    def check(self) -> None:
        self._call("checking the bucket", self.client.head_bucket)

    # --- whole objects ----------------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        self._call("storing a file", self.client.put_object, Key=self._k(key), Body=data, ContentType=content_type)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        kwargs: dict[str, Any] = {"Key": self._k(key)}
        if start or length is not None:
            if length == 0:
                return iter(())
            kwargs["Range"] = f"bytes={start}-" + ("" if length is None else str(start + length - 1))
        answer = self._call("reading a file", self.client.get_object, **kwargs)
        body = answer["Body"]

        def chunks() -> Iterator[bytes]:
            from botocore.exceptions import BotoCoreError  # noqa: PLC0415

            try:
                yield from body.iter_chunks(READ_CHUNK)
            except BotoCoreError as exc:
                raise StorageUnavailableError(f"reading from S3 broke off ({exc.__class__.__name__})") from None
            finally:
                body.close()

        return chunks()

    def size(self, key: str) -> int | None:
        try:
            answer = self._call("checking a file", self.client.head_object, Key=self._k(key))
        except StorageError as exc:
            if getattr(exc, "s3_code", None) in _MISSING:
                return None
            raise
        return int(answer["ContentLength"])

    def delete(self, key: str) -> None:
        self._call("deleting a file", self.client.delete_object, Key=self._k(key))

    def list_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call("listing files", paginator.paginate, Prefix=self.prefix + prefix)
        for page in self._guard(pages, "listing files"):
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"][len(self.prefix) :], int(item["Size"]), item["LastModified"])

    def _guard(self, iterable: Any, what: str) -> Iterator[Any]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            yield from iterable
        except ClientError as exc:
            raise self._client_error(exc, what) from None
        except BotoCoreError as exc:
            raise StorageUnavailableError(f"S3 storage failed while {what} ({exc.__class__.__name__})") from None

    # --- multipart uploads -------------------------------------------------------------------
    def start_upload(self, key: str, *, content_type: str) -> str:
        extra = {"ChecksumAlgorithm": "CRC32"} if self.checksum == "crc32" else {}
        answer = self._call(
            "starting an upload",
            self.client.create_multipart_upload,
            Key=self._k(key),
            ContentType=content_type,
            **extra,
        )
        upload_id = str(answer["UploadId"])
        self._remember_algorithm(upload_id, extra.get("ChecksumAlgorithm"))
        return upload_id

    def _remember_algorithm(self, upload_id: str, algorithm: str | None) -> None:
        with self._algorithms_lock:
            self._algorithms[upload_id] = algorithm
            while len(self._algorithms) > 1000:
                self._algorithms.pop(next(iter(self._algorithms)))

    def upload_checksum(self, upload_id: str) -> str | None:
        """The checksum algorithm of an upload: as created here, else as ListParts reports it."""
        if upload_id not in self._algorithms:
            return "CRC32" if self.checksum == "crc32" else None  # only reached for uploads never listed
        return self._algorithms[upload_id]

    def upload_part(
        self, key: str, upload_id: str, number: int, data: bytes | bytearray, *, crc32: bool = False
    ) -> None:
        if crc32:
            extra = {"ChecksumCRC32": base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()}
        elif self.checksum == "crc32":  # an upload created without checksums, resumed: the payload is unsigned here
            extra = {"ContentMD5": base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()}
        else:
            extra = {}  # botocore signs the payload's SHA-256
        self._call(
            "uploading a part",
            self.client.upload_part,
            Key=self._k(key),
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            **extra,
        )

    def _parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_parts")
        pages = self._call("listing upload parts", paginator.paginate, Key=self._k(key), UploadId=upload_id)
        parts: list[dict[str, Any]] = []
        try:
            for page in self._guard(pages, "listing upload parts"):
                listed = page.get("Parts", [])
                parts.extend(listed)
                # Some services (moto among them) leave ChecksumAlgorithm out; the parts' own
                # checksums still say it, and an answer without either never overrides what
                # this process created the upload with.
                reported = page.get("ChecksumAlgorithm") or (
                    "CRC32" if any(p.get("ChecksumCRC32") for p in listed) else None
                )
                if reported is not None or upload_id not in self._algorithms:
                    self._remember_algorithm(upload_id, reported)
        except StorageError as exc:
            if getattr(exc, "s3_code", None) in _GONE_UPLOAD:
                raise StorageError(f"upload {upload_id} of {key} is gone (completed, aborted or reaped)") from None
            raise
        return sorted(parts, key=lambda p: int(p["PartNumber"]))

    @staticmethod
    def _contiguous(parts: list[dict[str, Any]], part_size: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for expected, part in enumerate(parts, 1):
            if int(part["PartNumber"]) != expected:
                break
            out.append(part)
            if int(part["Size"]) != part_size:
                break  # a short part is the last one
        return out

    def upload_offset(self, key: str, upload_id: str, *, part_size: int) -> int:
        return sum(int(p["Size"]) for p in self._contiguous(self._parts(key, upload_id), part_size))

    def part_writer(
        self, key: str, upload_id: str, *, offset: int, part_size: int, total_size: int | None
    ) -> PartWriter:
        return _S3PartWriter(self, key, upload_id, offset, part_size, total_size)

    def complete_upload(self, key: str, upload_id: str, *, part_size: int) -> int:
        parts = self._contiguous(self._parts(key, upload_id), part_size)
        if not parts:
            self.upload_part(key, upload_id, 1, b"", crc32=self.upload_checksum(upload_id) == "CRC32")
            parts = self._parts(key, upload_id)[:1]
        listed = [
            {
                "PartNumber": int(p["PartNumber"]),
                "ETag": p["ETag"],
                **({"ChecksumCRC32": p["ChecksumCRC32"]} if p.get("ChecksumCRC32") else {}),
            }
            for p in parts
        ]
        self._call(
            "completing an upload",
            self.client.complete_multipart_upload,
            Key=self._k(key),
            UploadId=upload_id,
            MultipartUpload={"Parts": listed},
        )
        with self._algorithms_lock:
            self._algorithms.pop(upload_id, None)
        return sum(int(p["Size"]) for p in parts)

    def abort_upload(self, key: str, upload_id: str) -> None:
        with self._algorithms_lock:
            self._algorithms.pop(upload_id, None)
        try:
            self._call("aborting an upload", self.client.abort_multipart_upload, Key=self._k(key), UploadId=upload_id)
        except StorageError as exc:
            if getattr(exc, "s3_code", None) not in _GONE_UPLOAD:
                raise

    def list_uploads(self, prefix: str = "") -> Iterator[PendingUpload]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        pages = self._call("listing uploads", paginator.paginate, Prefix=self.prefix + prefix)
        for page in self._guard(pages, "listing uploads"):
            for item in page.get("Uploads", []):
                yield PendingUpload(item["Key"][len(self.prefix) :], item["UploadId"], item["Initiated"])

    # --- access -------------------------------------------------------------------------------
    def download_url(self, key: str, *, ttl: int, filename: str, content_type: str, base_url: str) -> str:
        from urllib.parse import quote  # noqa: PLC0415

        params = {
            "Bucket": self.bucket,
            "Key": self._k(key),
            "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "ResponseContentType": content_type,
        }
        try:
            return str(self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl))
        except Exception as exc:  # noqa: BLE001 - botocore signing errors, wrapped
            raise StorageError(f"cannot sign a download URL ({exc.__class__.__name__})") from None

    @contextlib.contextmanager
    def readable(self, key: str) -> Iterator[str]:
        yield self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._k(key)}, ExpiresIn=3600
        )
