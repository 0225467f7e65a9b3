"""The API's response bodies as typed models: declared once, they write the response side of the
OpenAPI document (see ``openapi.py``) and the tests check every answer against them
(``tests/server/conftest.py``), so the document cannot promise a field the API does not send.

A field with a default may be absent from an answer; ``X | None`` may be null. The documents
leave ``additionalProperties`` open (clients should accept fields added later), but the models
refuse unknown fields, so a test fails when the API sends a field no model declares.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mediaenhancer_core.choices import JOB_STATUSES

__all__ = ["Reply", "RESPONSE_MODELS"]


def _open(schema: dict[str, Any]) -> None:
    schema.pop("additionalProperties", None)


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _opt(**constraints: Any) -> Any:
    """A field the answer may leave out."""
    return Field(None, json_schema_extra=_drop_default, **constraints)


_EMAIL: Any = Field(json_schema_extra={"format": "email"})


class Reply(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True, json_schema_extra=_open)


JobState = Literal[JOB_STATUSES]  # type: ignore[valid-type]


# --- errors and the service -------------------------------------------------------------------------


class ErrorDetail(Reply):
    code: str
    message: str
    field: str = _opt()


class Error(Reply):
    error: ErrorDetail


class Health(Reply):
    status: str


class Ready(Reply):
    status: str
    checks: dict[str, str]


class OpenApiDocument(BaseModel):
    """This document (described by the OpenAPI 3.1 specification, not here)."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# --- accounts -------------------------------------------------------------------------------------


class PlanRef(Reply):
    id: str
    name: str


class Profile(Reply):
    id: uuid.UUID
    email: str = _EMAIL
    username: str | None
    avatar_url: str | None
    has_password: bool
    identity_provider: str | None = _opt()
    created_at: datetime
    plan: PlanRef


class Me(Profile):
    auth_method: Literal["token", "jwt"] = _opt()


class TokenVerification(Reply):
    valid: bool
    user_id: str
    email: str
    auth_method: str
    token_id: str | None = _opt()


class LimitUse(Reply):
    used: int
    limit: int | None


class UsagePeriod(Reply):
    start: datetime
    end: datetime


class StorageUse(Reply):
    used_bytes: int
    limit_bytes: int | None


class MediaUse(Reply):
    count: int
    max_duration_seconds: int


class UploadUse(Reply):
    in_progress: int
    reserved_bytes: int


class Usage(Reply):
    plan: PlanRef
    period: UsagePeriod
    storage: StorageUse
    media: MediaUse
    projects: LimitUse
    exports: LimitUse
    uploads: UploadUse = _opt()


class PlanLimits(Reply):
    storage_bytes: int | None
    projects: int | None
    exports_per_month: int | None
    media_duration_seconds: int


class Plan(Reply):
    id: str
    name: str
    price_cents: int
    currency: str
    interval: str
    features: list[str]
    limits: PlanLimits


class PlanList(Reply):
    plans: list[Plan]


class Token(Reply):
    id: str
    name: str
    prefix: str
    source: Literal["api", "device", "admin"]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    expired: bool


class TokenList(Reply):
    tokens: list[Token]


class TokenCreated(Token):
    token: str


class DeviceCode(Reply):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class DeviceToken(Reply):
    access_token: str
    token_type: str


class WebhookResult(Reply):
    status: Literal["processed", "duplicate", "ignored"]


# --- media and projects -------------------------------------------------------------------------------


class Media(Reply):
    id: uuid.UUID
    filename: str
    original_filename: str = _opt()
    file_type: Literal["video", "audio", "image"]
    mime_type: str
    file_size: int
    duration: float | None = _opt()
    width: int | None = _opt()
    height: int | None = _opt()
    video_codec: str | None = _opt()
    audio_codec: str | None = _opt()
    checksum_sha256: str | None = _opt()
    status: Literal["uploading", "processing", "ready", "failed", "deleting"]
    has_thumbnail: bool = _opt()
    source_media_id: str | None = _opt()
    metadata: dict[str, Any] = _opt()
    created_at: datetime
    updated_at: datetime = _opt()
    download_url: str | None = _opt()
    thumbnail_url: str | None = _opt()
    urls_expire_at: str | None = _opt()


class MediaList(Reply):
    media: list[Media]
    total: int
    page: int
    per_page: int


class Upload(Reply):
    id: uuid.UUID
    filename: str
    status: str
    offset: int
    size: int | None
    reserved_bytes: int = _opt()
    part_size: int
    upload_url: str


class UploadProgress(Reply):
    id: uuid.UUID
    offset: int
    size: int | None = _opt()
    complete: bool
    media: Media = _opt()


class Segment(Reply):
    id: uuid.UUID
    media_id: uuid.UUID
    track: str
    position: int
    start: float
    end: float | None
    transformations: dict[str, Any]


class Project(Reply):
    id: uuid.UUID
    name: str
    description: str | None = _opt()
    status: str
    settings: dict[str, Any] = _opt()
    duration: float | None = _opt()
    created_at: datetime
    updated_at: datetime
    segments: list[Segment] = _opt()
    segment_count: int = _opt()


class ProjectList(Reply):
    projects: list[Project]
    total: int
    page: int
    per_page: int


# --- jobs and exports ---------------------------------------------------------------------------------


class Job(Reply):
    id: uuid.UUID
    type: str
    status: JobState
    progress: int
    media_id: uuid.UUID | None = _opt()
    project_id: uuid.UUID | None = _opt()
    result_media_id: uuid.UUID | None = _opt()
    params: dict[str, Any] = _opt()
    result: dict[str, Any] | None = _opt()
    error: str | None = _opt()
    attempts: int = _opt()
    max_attempts: int = _opt()
    cancel_requested: bool = _opt()
    created_at: str = _opt()
    started_at: str | None = _opt()
    finished_at: str | None = _opt()


class JobList(Reply):
    jobs: list[Job]


class Export(Reply):
    id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID | None = _opt()
    status: str
    progress: int
    format: str
    resolution: str | None = _opt()
    fps: float | None = _opt()
    quality: str | None = _opt()
    filename: str | None = _opt()
    file_size: int | None = _opt()
    error: str | None = _opt()
    result_media_id: uuid.UUID | None = _opt()
    download_url: str | None = _opt()
    created_at: str = _opt()
    completed_at: str | None = _opt()
    job: Job = _opt()


class ExportList(Reply):
    exports: list[Export]


class ExportStarted(Reply):
    export_id: str
    job: Job


class CallbackSettings(Reply):
    url: str | None
    signing_secret: str
    signature_header: str = _opt()


# --- billing --------------------------------------------------------------------------------------


class Subscription(Reply):
    plan: PlanRef
    status: str
    current_period_start: datetime | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    grace_until: datetime | None
    managed_by: Literal["stripe", "admin"]


class BillingPeriod(Reply):
    start: datetime | None
    end: datetime | None


class CurrentSubscription(Reply):
    plan: Plan
    status: str
    period: BillingPeriod | None
    limits: PlanLimits
    subscription: Subscription | None
    billing_configured: bool


class Checkout(Reply):
    id: str
    url: str
    plan: PlanRef


class PortalSession(Reply):
    url: str


class StripeWebhookResult(Reply):
    status: Literal["processed", "stale", "duplicate", "ignored"]


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Error,
    Health,
    Ready,
    OpenApiDocument,
    Profile,
    Me,
    TokenVerification,
    Usage,
    PlanList,
    TokenList,
    TokenCreated,
    DeviceCode,
    DeviceToken,
    WebhookResult,
    Media,
    MediaList,
    Upload,
    UploadProgress,
    Project,
    ProjectList,
    Job,
    JobList,
    Export,
    ExportList,
    ExportStarted,
    CallbackSettings,
    CurrentSubscription,
    Checkout,
    PortalSession,
    StripeWebhookResult,
)
