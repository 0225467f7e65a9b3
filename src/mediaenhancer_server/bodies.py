"""The API's request bodies as typed models: declared once, used to validate every request and to
write the request side of the OpenAPI document (see ``openapi.py``).

Validation is strict (no ``"1"`` for 1, no ``true`` for a number, no NaN or Infinity), unknown
fields are refused, and nested lists are checked item by item (``segments[0].end``). The first
problem becomes one :class:`~mediaenhancer_core.errors.ValidationError` naming the field, with
the messages the API has always used (``name: use at most 100 characters``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from mediaenhancer_core.choices import ENHANCE_TYPES, FORMATS, PLANNERS, QUALITIES, RESOLUTIONS
from mediaenhancer_core.errors import ValidationError

__all__ = ["Body", "validate_body", "REQUEST_MODELS"]

if TYPE_CHECKING:  # the choices are the engine's tables, made Literals at run time (pydantic checks them)
    Format = str
    Quality = str
    Resolution = str
    JobType = str
    PlannerName = str
else:
    Format = Literal[FORMATS]
    Quality = Literal[QUALITIES]
    Resolution = Literal[tuple(RESOLUTIONS)]
    JobType = Literal[ENHANCE_TYPES]
    PlannerName = Literal[PLANNERS]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _opt(**constraints: Any) -> Any:
    """An optional field: absent means the server's default (see the handler), so the schema states none."""
    return Field(None, json_schema_extra=_drop_default, **constraints)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, defer_build=True)


# --- accounts -------------------------------------------------------------------------------------


class ProfileUpdate(Body):
    username: str | None = _opt(max_length=100)
    avatar_url: str | None = _opt(max_length=2048)


class TokenCreate(Body):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = _opt(ge=1, le=3650)


class DeviceCodeRequest(Body):
    client_name: str = _opt(max_length=100)


class DeviceTokenRequest(Body):
    device_code: str = Field(max_length=200)


# --- media and projects -----------------------------------------------------------------------------


class UploadCreate(Body):
    filename: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=1)
    content_type: str | None = _opt(max_length=200)
    checksum_sha256: str | None = _opt(min_length=64, max_length=64)


class SegmentNew(Body):
    """A segment given with its project (its position is its place in the list)."""

    media_id: str
    track: str = _opt(max_length=16)
    start: float = _opt()
    end: float | None = _opt()
    transformations: dict[str, Any] | None = _opt()


class SegmentIn(SegmentNew):
    position: int = _opt(ge=0)


class SegmentUpdate(Body):
    start: float = _opt()
    end: float | None = _opt()
    transformations: dict[str, Any] | None = _opt()


class ProjectCreate(Body):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = _opt(max_length=10_000)
    status: str = _opt(max_length=16)
    settings: dict[str, Any] | None = _opt()
    segments: list[SegmentNew] = _opt()


class ProjectUpdate(Body):
    name: str = _opt(min_length=1, max_length=255)
    description: str | None = _opt(max_length=10_000)
    status: str = _opt(max_length=16)
    settings: dict[str, Any] | None = _opt()
    segments: list[SegmentNew] = _opt()


class SegmentOrder(Body):
    segment_ids: list[str]
    track: str = _opt(max_length=16)


# --- jobs and exports ---------------------------------------------------------------------------------


class EnhanceOptions(Body):
    target_lufs: float = _opt(ge=-40, le=-5)
    true_peak: float = _opt(ge=-9, le=0)
    resolution: Resolution = _opt()
    fps: float = _opt(ge=1, le=240)
    format: Format = _opt()
    quality: Quality = _opt()
    trim_silence: bool = _opt()
    denoise: bool = _opt()
    language: str = _opt(max_length=16)
    planner: PlannerName = _opt()


class EnhanceRequest(Body):
    type: JobType
    preset: str = _opt(max_length=64)
    options: EnhanceOptions = _opt()
    plan: dict[str, Any] = _opt()
    callback_url: str | None = _opt(max_length=2000)


class ExportRequest(Body):
    format: Format = _opt()
    resolution: Resolution | None = _opt()
    fps: float | None = _opt(ge=1, le=240)
    quality: Quality = _opt()
    preset: str = _opt(max_length=64)
    enhance: bool = _opt()
    callback_url: str | None = _opt(max_length=2000)


class CallbackIn(Body):
    url: str | None = Field(max_length=2000)


# --- billing ------------------------------------------------------------------------------------------


class CheckoutRequest(Body):
    plan: str = Field(min_length=1, max_length=50)


REQUEST_MODELS: tuple[type[Body], ...] = (
    ProfileUpdate,
    TokenCreate,
    DeviceCodeRequest,
    DeviceTokenRequest,
    UploadCreate,
    SegmentIn,
    SegmentUpdate,
    ProjectCreate,
    ProjectUpdate,
    SegmentOrder,
    EnhanceRequest,
    ExportRequest,
    CallbackIn,
    CheckoutRequest,
)


# --- validation -----------------------------------------------------------------------------------------


def validate_body(model: type[Body], data: Any) -> dict[str, Any]:
    """The body as a dict holding only the fields the client sent (absent: kept; null: cleared),
    or a ValidationError naming the first field that is wrong."""
    try:
        value = model.model_validate(data, strict=True)
    except PydanticError as exc:
        raise _translate(model, exc.errors(include_url=False)[0]) from None
    return value.model_dump(exclude_unset=True)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not isinstance(part, str) or part.endswith("]") or part in ("function-after", "function-before"):
            continue  # pydantic's union/validator branch names
        else:
            out += f".{part}" if out else part
    return out or "body"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose field the error's location ends in (for the list of known fields)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(part, str) and hasattr(current, "model_fields") else None
        if field is None:
            return None
        current = _inner_model(field.annotation)
        if current is None:
            return None
    return current if hasattr(current, "model_fields") else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


_KINDS = {
    "string": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "dict": "object",
    "model": "object",
    "list": "array",
}


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _translate(model: type[BaseModel], err: Any) -> ValidationError:
    loc = tuple(err.get("loc", ()))
    kind, ctx = err["type"], err.get("ctx") or {}
    where = _where(loc)
    name = where.rsplit(".", 1)[-1] if where != "body" else "body"
    if kind == "missing":
        return ValidationError(f"{name}: required", field=where)
    if kind == "extra_forbidden":
        owner = _model_at(model, loc)
        known = ", ".join(owner.model_fields) if owner is not None else ""
        return ValidationError(f"{name}: unknown field; known: {known}", field=where)
    if kind == "literal_error":
        return ValidationError(f"{where}: use one of {ctx.get('expected', '')}".replace("'", ""), field=where)
    if kind == "string_too_short":
        return ValidationError(f"{where}: use at least {ctx.get('min_length')} characters", field=where)
    if kind == "string_too_long":
        return ValidationError(f"{where}: use at most {ctx.get('max_length')} characters", field=where)
    if kind in ("greater_than_equal", "greater_than"):
        return ValidationError(f"{where}: must be {_num(ctx.get('ge', ctx.get('gt')))} or more", field=where)
    if kind in ("less_than_equal", "less_than"):
        return ValidationError(f"{where}: must be {_num(ctx.get('le', ctx.get('lt')))} or less", field=where)
    if kind == "finite_number":
        return ValidationError(f"{where}: must be a finite number", field=where)
    base = kind.removesuffix("_type").removesuffix("_parsing")
    if base in _KINDS:
        return ValidationError(
            f"{where}: must be {_KINDS[base]}" if where != "body" else "body: must be object", field=where
        )
    return ValidationError(f"{where}: {err.get('msg', 'is not valid')}", field=where)
