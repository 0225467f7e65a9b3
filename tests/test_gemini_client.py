"""GeminiClient: the real google-genai SDK against the local stand-in, and every failure as our error."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Literal

import pytest
from pydantic import Field

from mediaenhancer_core.ai.gemini import GeminiClient, GeminiConfig, MediaPart
from mediaenhancer_core.ai.schema import Answer
from mediaenhancer_core.errors import (
    AIKeyRejectedError,
    AINotConfiguredError,
    AIQuotaError,
    AIRefusedError,
    AIResponseError,
    AIServiceError,
    AITimeoutError,
)
from tests.gemini_standin import (
    GeminiStandIn,
    error_answer,
    json_answer,
    prompt_blocked,
    safety_block,
    slow,
    text_answer,
)


class Verdict(Answer):
    verdict: Literal["ok", "bad"]
    score: float = Field(None)


SCHEMA = Verdict
SENT = {  # what Gemini is asked for: plain JSON Schema generated from the model
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["ok", "bad"]}, "score": {"type": "number"}},
    "required": ["verdict"],
}


@pytest.fixture(scope="module")
def server() -> Iterator[GeminiStandIn]:
    with GeminiStandIn() as s:
        yield s


@pytest.fixture
def standin(server: GeminiStandIn) -> GeminiStandIn:
    server.reset()
    return server


def client_for(standin: GeminiStandIn, **kw: object) -> GeminiClient:
    options = {"api_key": "test-key", "base_url": standin.base_url, "timeout_seconds": 5.0, "retries": 0, **kw}
    return GeminiClient(GeminiConfig(**options), sleep=lambda s: None)  # type: ignore[arg-type]


def test_structured_answer_round_trip_and_wire_format(standin: GeminiStandIn) -> None:
    standin.answer(json_answer({"verdict": "ok", "score": 0.5}))
    with client_for(standin, model="gemini-test") as client:
        got = client.generate_json(
            prompt="judge this",
            schema=SCHEMA,
            system="be brief",
            media=[MediaPart("image/jpeg", "frame", data=b"\xff\xd8jpeg")],
        )
    assert got == {"verdict": "ok", "score": 0.5}
    call = standin.calls[0]
    assert call.path == "/v1/models/gemini-test:generateContent"
    assert call.headers["x-goog-api-key"] == "test-key"
    assert call.text == "judge this" and call.system_text == "be brief"
    assert call.generation_config["responseMimeType"] == "application/json"
    assert call.generation_config["responseJsonSchema"] == SENT
    assert call.media() == [("image/jpeg", b"\xff\xd8jpeg", "inline")]


def test_large_media_goes_through_the_resumable_files_api_and_is_deleted(standin: GeminiStandIn, tmp_path) -> None:
    standin.reset(processing_polls=1)  # the file is PROCESSING once before it is ACTIVE
    standin.answer(json_answer({"verdict": "ok"}))
    big = tmp_path / "audio.ogg"
    big.write_bytes(b"OggS" + bytes(range(256)) * 200)
    small = MediaPart("image/jpeg", "frame", data=b"\xff\xd8small")
    with client_for(standin, inline_max_bytes=1000) as client:
        client.generate_json(prompt="p", schema=SCHEMA, media=[small, MediaPart("audio/ogg", "excerpt", path=big)])
        assert client.uploaded_bytes == big.stat().st_size and client.inline_bytes == len(small.data or b"")
    uploads = standin.uploads
    start, finish = uploads[0], uploads[-1]
    assert start[1]["x-goog-upload-protocol"] == "resumable" and start[1]["x-goog-upload-command"] == "start"
    assert start[1]["x-goog-upload-header-content-length"] == str(big.stat().st_size)
    assert start[1]["x-goog-upload-header-content-type"] == "audio/ogg"
    assert "finalize" in finish[1]["x-goog-upload-command"] and finish[2] == big.stat().st_size
    kinds = {mime: how for mime, _, how in standin.calls[0].media()}
    assert kinds == {"image/jpeg": "inline", "audio/ogg": "file"}
    assert [data for mime, data, _ in standin.calls[0].media() if mime == "audio/ogg"] == [big.read_bytes()]
    assert any(m == "GET" and "/files/" in p for m, p, _, _ in standin.requests)  # waited for ACTIVE
    assert len(standin.deleted) == 1  # nothing left at Google


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (text_answer("{'verdict': ok"), AIResponseError, "not valid JSON"),
        (json_answer({"score": 3}), AIResponseError, r"\$\.verdict is missing"),
        (json_answer({"verdict": "maybe"}), AIResponseError, "is not one of ok, bad"),
        (json_answer(["ok"]), AIResponseError, "should be object"),
        (text_answer(""), AIResponseError, "empty"),
        (text_answer('{"verdict": "o', finish="MAX_TOKENS"), AIResponseError, "cut off"),
        (safety_block(), AIRefusedError, r"stopped its answer \(SAFETY\)"),
        (prompt_blocked("PROHIBITED_CONTENT"), AIRefusedError, r"blocked the request \(PROHIBITED_CONTENT\)"),
        (error_answer(429, "RESOURCE_EXHAUSTED", "Quota exceeded"), AIQuotaError, "429 RESOURCE_EXHAUSTED"),
        (error_answer(403, "PERMISSION_DENIED", "denied"), AIKeyRejectedError, "GEMINI_API_KEY"),
        (error_answer(404, "NOT_FOUND", "models/x is not found"), AIServiceError, "set gemini_model"),
        (error_answer(400, "INVALID_ARGUMENT", "bad schema"), AIServiceError, "refused the request"),
        (error_answer(500, "INTERNAL", "boom"), AIServiceError, "500 INTERNAL"),
        (error_answer(503, "UNAVAILABLE", "overloaded"), AIServiceError, "503 UNAVAILABLE"),
    ],
    ids=[
        "malformed-json",
        "schema-missing",
        "schema-enum",
        "schema-type",
        "empty",
        "max-tokens",
        "safety",
        "prompt-blocked",
        "429",
        "403",
        "404",
        "400",
        "500",
        "503",
    ],
)
def test_every_failure_is_one_of_our_errors(standin: GeminiStandIn, reply, error, message) -> None:
    standin.answer(reply)
    with client_for(standin) as client, pytest.raises(error, match=message) as caught:
        client.generate_json(prompt="p", schema=SCHEMA)
    assert "\n" not in caught.value.message and "test-key" not in caught.value.message
    assert len(standin.calls) == 1  # retries=0


def test_wrong_key_is_named(standin: GeminiStandIn) -> None:
    with client_for(standin, api_key="wrong") as client, pytest.raises(AIKeyRejectedError, match="GEMINI_API_KEY"):
        client.generate_json(prompt="p", schema=SCHEMA)


def test_no_key_fails_before_any_request(standin: GeminiStandIn) -> None:
    with client_for(standin, api_key=None) as client, pytest.raises(AINotConfiguredError, match="GEMINI_API_KEY"):
        client.generate_json(prompt="p", schema=SCHEMA)
    assert standin.requests == []


def test_5xx_is_retried_then_succeeds(standin: GeminiStandIn) -> None:
    standin.answer(error_answer(503, "UNAVAILABLE", "overloaded"), json_answer({"verdict": "ok"}))
    with client_for(standin, retries=2) as client:
        assert client.generate_json(prompt="p", schema=SCHEMA) == {"verdict": "ok"}
    assert len(standin.calls) == 2


def test_5xx_retries_are_bounded(standin: GeminiStandIn) -> None:
    standin.answer(error_answer(500, "INTERNAL", "boom"))
    with client_for(standin, retries=2) as client, pytest.raises(AIServiceError):
        client.generate_json(prompt="p", schema=SCHEMA)
    assert len(standin.calls) == 3


def test_quota_is_never_retried(standin: GeminiStandIn) -> None:
    standin.answer(error_answer(429, "RESOURCE_EXHAUSTED", "Quota exceeded"))
    with client_for(standin, retries=3) as client, pytest.raises(AIQuotaError):
        client.generate_json(prompt="p", schema=SCHEMA)
    assert len(standin.calls) == 1


def test_a_slow_answer_times_out_quickly_and_is_not_retried(standin: GeminiStandIn) -> None:
    standin.answer(slow(5.0, json_answer({"verdict": "ok"})))
    started = time.monotonic()
    with client_for(standin, retries=3) as client, pytest.raises(AITimeoutError, match="within 1 s"):
        client.generate_json(prompt="p", schema=SCHEMA, timeout=1.0)
    assert time.monotonic() - started < 1.0 + 1.5
    assert len(standin.calls) == 1


def test_unreachable_server_is_a_service_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = GeminiConfig(api_key="k", base_url=f"http://127.0.0.1:{port}", timeout_seconds=2.0, retries=1)
    with (
        GeminiClient(config, sleep=lambda s: None) as client,
        pytest.raises(AIServiceError, match="cannot reach Gemini"),
    ):
        client.generate_json(prompt="p", schema=SCHEMA)


def test_fenced_json_is_accepted(standin: GeminiStandIn) -> None:
    standin.answer(text_answer('```json\n{"verdict": "bad"}\n```'))
    with client_for(standin) as client:
        assert client.generate_json(prompt="p", schema=SCHEMA) == {"verdict": "bad"}


def test_config_comes_from_settings_and_hides_the_key() -> None:
    from mediaenhancer_core.settings import Settings

    s = Settings.load(
        {
            "GEMINI_API_KEY": "sekrit",
            "MEDIAENHANCER_GEMINI_MODEL": "gemini-x",
            "MEDIAENHANCER_GEMINI_BASE_URL": "http://127.0.0.1:9",
            "MEDIAENHANCER_GEMINI_RETRIES": "0",
        }
    )
    config = GeminiConfig.from_settings(s, timeout_seconds=3)
    assert (config.api_key, config.model, config.base_url, config.timeout_seconds, config.retries) == (
        "sekrit",
        "gemini-x",
        "http://127.0.0.1:9",
        3,
        0,
    )
    assert "sekrit" not in repr(config) and "sekrit" not in repr(s) and "sekrit" not in str(s.public_dict())
    assert Settings.load({"MEDIAENHANCER_GEMINI_API_KEY": "a", "GEMINI_API_KEY": "b"}).gemini_api_key.reveal() == "a"


def test_importing_the_core_and_the_cli_does_not_import_the_sdk() -> None:
    code = (
        "import sys, mediaenhancer_core.ai, mediaenhancer_cli.app; "
        "print('google.genai' in sys.modules, 'httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "False"


def test_answers_are_checked_with_their_models_as_before() -> None:
    from mediaenhancer_core.ai.gemini import answers
    from mediaenhancer_core.ai.schema import check

    advice = answers().AdviceAnswer
    ok = {
        "content_type": "speech",
        "problems": [{"kind": "hiss", "severity": 1.7}],
        "rationale": "r" * 500,
        "audio": {"noise_reduction_db": 99, "gain_db": 6},
        "loudness": -3,
    }
    check(ok, advice, what="plan")  # out of range (clamped later), a little long, unknown fields: all accepted
    refused = [
        ({**ok, "rationale": "r" * 2000}, "$.rationale is far too long (2000 characters)"),
        ({**ok, "problems": [{"kind": "hiss", "severity": 0.5}] * 13}, "$.problems has more than 12 items"),
        ({**ok, "problems": [{"kind": "hiss"}]}, "$.problems[0].severity is missing"),
        ({**ok, "problems": [{"kind": "hiss", "severity": float("nan")}]}, "$.problems[0].severity should be number"),
        ({**ok, "audio": None}, "$.audio should be object, got null"),
    ]
    for answer, says in refused:
        with pytest.raises(AIResponseError) as caught:
            check(answer, advice, what="plan")
        assert caught.value.message == f"Gemini's plan does not fit the schema: {says}" or says in caught.value.message
        assert "\n" not in caught.value.message
    chapters = answers().ChaptersAnswer
    with pytest.raises(AIResponseError, match=r"\$\.chapters\[0\]\.start should be number or string, got boolean"):
        check({"summary": "s", "chapters": [{"start": True, "title": "t"}]}, chapters, what="chapters")
