"""Streaming multipart/form-data: the file field's bytes as they arrive, never buffered whole.

Built on python-multipart's callback parser (already Starlette's form parser, so no new
dependency; it parses at several GB/s). Starlette's own ``request.form()`` would spool the
whole file to a temporary file before the handler sees a byte, which an upload to S3 must
not do.

    form = FormFileParser(boundary, field="file")
    for event in form.feed(chunk):       # ("start", filename, content_type) | ("data", bytes) | ("end",)
        ...
    form.close()                          # ValidationError when the body ended early
"""

from __future__ import annotations

from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from mediaenhancer_core.errors import ValidationError

__all__ = ["FormFileParser", "boundary_of"]

MAX_OTHER_FIELD = 65_536


def boundary_of(content_type: str | None) -> bytes:
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise ValidationError("send multipart/form-data with the file in a field named 'file'", field="file")
    return boundary


class FormFileParser:
    def __init__(self, boundary: bytes, *, field: str = "file") -> None:
        self.field = field
        self.events: list[tuple[Any, ...]] = []
        self.finished = False
        self.files = 0
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._in_file = False
        self._other = 0
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value_cb,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    # --- callbacks -------------------------------------------------------------------------------
    def _part_begin(self) -> None:
        self._headers = {}
        self._in_file = False
        self._other = 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name != self.field:
            return
        self.files += 1
        if self.files > 1:
            raise ValidationError(f"{self.field}: send one file per upload", field=self.field)
        self._in_file = True
        filename = params.get(b"filename", b"").decode("utf-8", "replace") or None
        content_type = self._headers.get(b"content-type", b"").decode("latin-1") or None
        self.events.append(("start", filename, content_type))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.events.append(("data", data[start:end]))
            return
        self._other += end - start
        if self._other > MAX_OTHER_FIELD:
            raise ValidationError(f"form fields other than '{self.field}' are limited to {MAX_OTHER_FIELD} bytes")

    def _part_end(self) -> None:
        if self._in_file:
            self.events.append(("end",))
            self._in_file = False

    def _end(self) -> None:
        self.finished = True

    # --- use ----------------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> list[tuple[Any, ...]]:
        self.events = []
        try:
            self._parser.write(chunk)
        except ValidationError:
            raise
        except Exception as exc:  # noqa: BLE001 - python-multipart's parse errors, as one of ours
            raise ValidationError(f"the multipart body is malformed ({exc.__class__.__name__})", field="file") from None
        return self.events

    def close(self) -> None:
        if not self.finished:
            raise ValidationError("the multipart body ended before its closing boundary", field="file")
        if not self.files:
            raise ValidationError(
                f"{self.field}: no file; send it in a form field named '{self.field}'", field=self.field
            )
