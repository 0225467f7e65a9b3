"""The one place that talks to Gemini (google-genai), and the error translation.

:class:`GeminiClient` sends a prompt plus media parts and asks for JSON that fits a
response schema (``response_json_schema``). Small media goes inline; media over
``inline_max_bytes`` goes through the Files API (a resumable upload), and uploaded
files are deleted once the answer is in. Every failure becomes one of our
:class:`~mediaenhancer_core.errors.AIError` classes: no key, rejected key, quota (429),
timeout, a blocked request or answer, an answer that is not JSON or breaks the schema,
a 5xx or a network error. 5xx answers and network errors are retried
``retries`` times with a short backoff; quota, refusals and timeouts never are, so the
planner can fall back quickly.

``google.genai`` costs about 0.8 s to import: it is imported on the first request, never
at module level. Nothing here reads the environment; :meth:`GeminiConfig.from_settings`
takes the values from :class:`~mediaenhancer_core.settings.Settings`.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

from mediaenhancer_core.errors import (
    AIError,
    AIKeyRejectedError,
    AINotConfiguredError,
    AIQuotaError,
    AIRefusedError,
    AIResponseError,
    AIServiceError,
    AITimeoutError,
)

if TYPE_CHECKING:
    from types import ModuleType

    from mediaenhancer_core.ai.schema import Answer
    from mediaenhancer_core.settings import Settings

__all__ = ["GeminiConfig", "MediaPart", "JsonModel", "GeminiClient", "DEFAULT_MODEL", "KEY_HINT", "answers"]

log = logging.getLogger("mediaenhancer.ai")

DEFAULT_MODEL = "gemini-2.5-flash"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_HINT = "set GEMINI_API_KEY (or gemini_api_key in config.toml); get a key at https://aistudio.google.com/apikey"
_REFUSALS = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "LANGUAGE",
}
_FINISHED = {None, "STOP", "FINISH_REASON_UNSPECIFIED"}
_FEATURES = "Gemini (transcription, subtitles, the AI planner)"


def answers() -> ModuleType:
    """The answer models (``answers.py``), imported on first use: pydantic comes with the [ai] extra."""
    from mediaenhancer_core.extras import import_extra  # noqa: PLC0415

    return import_extra("mediaenhancer_core.ai.answers", "ai", _FEATURES)


@dataclass(frozen=True)
class GeminiConfig:
    api_key: str | None
    model: str = DEFAULT_MODEL
    base_url: str | None = DEFAULT_BASE_URL
    api_version: str | None = None
    timeout_seconds: float = 120.0
    retries: int = 1
    inline_max_bytes: int = 8_000_000

    def __repr__(self) -> str:  # never show the key
        return (
            f"GeminiConfig(model={self.model!r}, base_url={self.base_url!r}, key={'set' if self.api_key else 'unset'})"
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, timeout_seconds: float | None = None) -> GeminiConfig:
        key = settings.gemini_api_key
        return cls(
            api_key=key.reveal() if key else None,
            model=settings.gemini_model,
            base_url=settings.gemini_base_url,
            api_version=settings.gemini_api_version,
            timeout_seconds=timeout_seconds or settings.gemini_timeout_seconds,
            retries=settings.gemini_retries,
            inline_max_bytes=settings.gemini_inline_max_bytes,
        )

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    def require_key(self) -> str:
        if not self.api_key:
            raise AINotConfiguredError(f"no Gemini API key: {KEY_HINT}")
        return self.api_key


@dataclass(frozen=True)
class MediaPart:
    """Bytes (or a file) to show the model, with its MIME type and a label for logs and notes."""

    mime_type: str
    label: str
    data: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


class JsonModel(Protocol):
    """What the planner and the transcriber need from a model (GeminiClient, or a test double)."""

    model: str

    def generate_json(
        self,
        *,
        prompt: str,
        schema: type[Answer],
        media: Sequence[MediaPart] = (),
        system: str | None = None,
        timeout: float | None = None,
        what: str = "answer",
    ) -> Any: ...


class GeminiClient:
    """A google-genai client for JSON answers. Thread-safe; close it (or use ``with``)."""

    def __init__(self, config: GeminiConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.model = config.model
        self.uploaded_bytes = 0  # media sent through the Files API (for tests and reports)
        self.inline_bytes = 0
        self._sleep = sleep
        self._lock = threading.Lock()
        self._client: Any = None
        self._http: Any = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._http is not None:
                self._http.close()
                self._http = None

    # ------------------------------------------------------------------ public

    def generate_json(
        self,
        *,
        prompt: str,
        schema: type[Answer],
        media: Sequence[MediaPart] = (),
        system: str | None = None,
        timeout: float | None = None,
        what: str = "answer",
    ) -> Any:
        """Ask for JSON fitting the model ``schema`` (one of ``answers.py``); return it parsed and checked
        against the model (a plain dict; unknown fields kept, never used). Raises an :class:`AIError`."""
        from mediaenhancer_core.ai.schema import check, gemini_schema  # noqa: PLC0415 - pydantic, with the [ai] extra

        self.config.require_key()
        timeout = timeout or self.config.timeout_seconds
        attempt = 0
        while True:
            try:
                text = self._generate_once(prompt, gemini_schema(schema), media, system, timeout)
                break
            except _Retryable as exc:
                if attempt >= self.config.retries:
                    raise exc.error from None
                delay = 0.5 * 2**attempt
                log.info("Gemini: %s; retrying in %.1f s", exc.error.message, delay)
                self._sleep(delay)
                attempt += 1
        value = _parse_json(text, what)
        check(value, schema, what=what)
        return value

    # ------------------------------------------------------------------ internals

    def _sdk(self) -> tuple[Any, Any]:
        key = self.config.require_key()
        with self._lock:
            if self._client is None:
                import httpx  # noqa: PLC0415

                from mediaenhancer_core.extras import import_extra  # noqa: PLC0415

                # ~0.8 s: only when Gemini is used; a base install says to add the [ai] extra
                genai = import_extra("google.genai", "ai", _FEATURES)
                types = import_extra("google.genai.types", "ai", _FEATURES)
                self._http = httpx.Client(timeout=self.config.timeout_seconds)
                options = types.HttpOptions(
                    base_url=self.config.base_url,
                    api_version=self.config.api_version,
                    timeout=int(self.config.timeout_seconds * 1000),
                    httpx_client=self._http,
                )
                self._client = genai.Client(api_key=key, vertexai=False, http_options=options)
            from google.genai import types  # noqa: PLC0415 - already imported above

            return self._client, types

    def _generate_once(
        self, prompt: str, schema: dict[str, Any], media: Sequence[MediaPart], system: str | None, timeout: float
    ) -> str:
        client, types = self._sdk()
        uploaded: list[Any] = []
        try:
            with _translated(self.config, timeout):
                parts = [types.Part.from_text(text=prompt)]
                budget = self.config.inline_max_bytes
                for m in media:
                    size = m.size
                    if size <= budget:
                        parts.append(types.Part.from_bytes(data=m.read(), mime_type=m.mime_type))
                        budget -= size
                        self.inline_bytes += size
                    else:
                        f = self._upload(client, types, m, timeout)
                        uploaded.append(f)
                        parts.append(types.Part.from_uri(file_uri=f.uri, mime_type=f.mime_type or m.mime_type))
                config = types.GenerateContentConfig(
                    system_instruction=system,
                    temperature=0.2,
                    response_mime_type="application/json",
                    response_json_schema=schema,
                    http_options=types.HttpOptions(timeout=int(timeout * 1000)),
                )
                response = client.models.generate_content(
                    model=self.config.model, contents=[types.Content(role="user", parts=parts)], config=config
                )
            return _answer_text(response)
        finally:
            for f in uploaded:
                try:
                    with _translated(self.config, timeout):
                        client.files.delete(name=f.name)
                except (AIError, _Retryable) as exc:  # best effort: Gemini deletes files after 48 h anyway
                    log.info("Gemini: could not delete uploaded %s: %s", f.name, exc)

    def _upload(self, client: Any, types: Any, part: MediaPart, timeout: float) -> Any:
        source: Any = part.path if part.path is not None else io.BytesIO(part.read())
        f = client.files.upload(
            file=source, config=types.UploadFileConfig(mime_type=part.mime_type, display_name=part.label[:120])
        )
        self.uploaded_bytes += part.size
        deadline = time.monotonic() + timeout
        wait = 0.2
        while _name(f.state) == "PROCESSING":
            if time.monotonic() > deadline:
                raise AITimeoutError(f"Gemini did not finish processing the uploaded {part.label} within {timeout:g} s")
            self._sleep(wait)
            wait = min(2.0, wait * 1.5)
            f = client.files.get(name=f.name)
        if _name(f.state) == "FAILED":
            raise AIServiceError(f"Gemini could not process the uploaded {part.label}")
        return f


class _Retryable(Exception):
    """Carries an AIError worth retrying (5xx, network)."""

    def __init__(self, error: AIError) -> None:
        super().__init__(error.message)
        self.error = error


class _translated:
    """Context manager: google-genai and httpx errors in, our AIError classes out."""

    def __init__(self, config: GeminiConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> Literal[False]:
        if exc is None or isinstance(exc, (AIError, _Retryable)) or not isinstance(exc, Exception):
            return False
        import httpx  # noqa: PLC0415
        from google.genai import errors as genai_errors  # noqa: PLC0415

        if isinstance(exc, genai_errors.APIError):
            raise _from_api_error(exc, self.config) from None
        if isinstance(exc, httpx.TimeoutException):
            raise AITimeoutError(
                f"Gemini did not answer within {self.timeout:g} s; try again later or raise the timeout setting"
            ) from None
        if isinstance(exc, httpx.HTTPError):
            raise _Retryable(
                AIServiceError(
                    f"cannot reach Gemini at {self.config.base_url} ({type(exc).__name__}: {_one_line(str(exc))}); "
                    "check your connection or gemini_base_url"
                )
            ) from None
        if isinstance(exc, (ValueError, KeyError)):  # the SDK's checks of odd replies (pydantic's included)
            raise _Retryable(AIServiceError(f"Gemini's reply could not be read ({_one_line(str(exc))})")) from None
        return False


def _from_api_error(exc: Any, config: GeminiConfig) -> Exception:
    code = int(getattr(exc, "code", 0) or 0)
    status = getattr(exc, "status", None) or ""
    message = _one_line(getattr(exc, "message", None) or str(exc))
    detail = f"{code} {status}: {message}".strip()
    if code == 429:
        return AIQuotaError(f"Gemini quota or rate limit reached ({detail}); wait and retry, or check the key's quota")
    if code in (401, 403) or (code == 400 and ("api key" in message.lower() or "API_KEY" in str(exc))):
        return AIKeyRejectedError(f"Gemini rejected the API key ({detail}); {KEY_HINT}")
    if code == 404:
        return AIServiceError(
            f"Gemini does not know model {config.model!r} ({detail}); set gemini_model to an available model"
        )
    if code >= 500:
        return _Retryable(AIServiceError(f"Gemini failed ({detail}); try again later"))
    return AIServiceError(f"Gemini refused the request ({detail})")


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def _answer_text(response: Any) -> str:
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        raise AIRefusedError(f"Gemini blocked the request ({_name(feedback.block_reason)})")
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        raise AIResponseError("Gemini sent no answer")
    candidate = candidates[0]
    finish = _name(candidate.finish_reason)
    if finish in _REFUSALS:
        raise AIRefusedError(f"Gemini stopped its answer ({finish})")
    if finish == "MAX_TOKENS":
        raise AIResponseError("Gemini's answer was cut off (MAX_TOKENS)")
    if finish not in _FINISHED:
        raise AIResponseError(f"Gemini stopped its answer early ({finish})")
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    if not text.strip():
        raise AIResponseError("Gemini's answer is empty")
    return text


def _parse_json(text: str, what: str) -> Any:
    body = text.strip()
    if body.startswith("```"):  # a fenced block despite the JSON MIME type
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise AIResponseError(f"Gemini's {what} is not valid JSON ({exc.msg} at character {exc.pos})") from None


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
