"""What each server job type may change: the parts of the engine's plan it keeps.

A job type (docs/jobs.md) is the full plan cut down to its scope, not a second planner:
:class:`ScopedPlanner` wraps any planner, and :func:`restrict` keeps the audio steps, the
loudness normalisation and the picture steps the type's :class:`Scope` names, and drops the
rest. A stream that nothing changes any more is **copied** bit for bit (the picture, as
before, and now the sound too), so ``colorgrade``, ``upscale`` and ``stabilize`` leave the
audio exactly as it was, and ``denoise`` leaves loudness, levels and colour alone.

The filter sets are allow-lists: a filter added to the planners later is left out of a scoped
type until it is named here (a type then does less, never more than its docs say).

    auto        everything (no scope)
    denoise     noise only: hiss, hum and rumble in the sound; grain in the picture. No loudness
                normalisation, no levels, colour, scaling or sharpening. Untouched streams copied.
    colorgrade  levels and colour of the picture only; the sound is copied
    upscale     scaling (and --fps, and the sharpening that restores upscaled detail); sound copied
    stabilize   vid.stab (and the sharpening after it); sound copied
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mediaenhancer_core.engine.analysis import Analysis
from mediaenhancer_core.engine.formats import output_spec
from mediaenhancer_core.engine.plan import Plan
from mediaenhancer_core.engine.planner import EnhanceOptions, Planner
from mediaenhancer_core.engine.probe import MediaInfo

__all__ = ["Scope", "SCOPES", "ScopedPlanner", "restrict", "scope_for", "can_copy_audio"]

# deepfilternet: the neural speech denoiser (issue 13), run by the Python audio stage in the render pass; the
# stage's leveler and compressor change levels, not noise, so a denoise job leaves them out
NOISE_AUDIO = frozenset({"deepfilternet", "afftdn", "anlmdn", "arnndn", "highpass", "bandreject"})
NOISE_VIDEO = frozenset(
    {"hqdn3d", "nlmeans", "atadenoise", "vaguedenoiser", "bm3d", "fftdnoiz", "owdenoise", "dctdnoiz"}
)
COLOUR_VIDEO = frozenset(
    {
        "eq",
        "lutyuv",
        "colorlevels",
        "colorbalance",
        "colortemperature",
        "curves",
        "colorcorrect",
        "colorchannelmixer",
        "selectivecolor",
    }
)


@dataclass(frozen=True)
class Scope:
    name: str
    audio: frozenset[str] = frozenset()  # audio filters kept
    loudness: bool = False  # keep the loudness normalisation
    video: frozenset[str] = frozenset()  # picture filters kept
    stabilize: bool = False
    trim: bool = False


SCOPES: dict[str, Scope] = {
    "denoise": Scope("denoise", audio=NOISE_AUDIO, video=NOISE_VIDEO),
    "colorgrade": Scope("colorgrade", video=COLOUR_VIDEO),
    "upscale": Scope("upscale", video=frozenset({"scale", "fps", "unsharp"})),
    "stabilize": Scope("stabilize", video=frozenset({"vidstabtransform", "unsharp"}), stabilize=True),
}


def scope_for(job_type: str) -> Scope | None:
    """The scope of a job type; None: the full plan (``auto``)."""
    return SCOPES.get(job_type)


# audio codecs each output container takes as they are (others are re-encoded, unchanged in level)
_PCM = frozenset({"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_f32le", "pcm_u8"})
_COPY_AUDIO: dict[str, frozenset[str]] = {
    "mp4": frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus"}),
    "m4a": frozenset({"aac", "alac", "mp3"}),
    "mov": frozenset({"aac", "mp3", "alac", "ac3", "eac3"}) | _PCM,
    "mkv": frozenset({"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "alac", "dts", "truehd", "mp2"}) | _PCM,
    "webm": frozenset({"opus", "vorbis"}),
    "mp3": frozenset({"mp3"}),
    "wav": frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8"}),
    "flac": frozenset({"flac"}),
    "ogg": frozenset({"vorbis", "opus", "flac"}),
    "opus": frozenset({"opus"}),
}


def can_copy_audio(codec: str | None, fmt: str) -> bool:
    return codec is not None and codec in _COPY_AUDIO.get(fmt, frozenset())


def restrict(plan: Plan, scope: Scope, info: MediaInfo) -> Plan:
    """``plan`` cut down to ``scope``; streams it no longer changes are copied."""
    audio = [s for s in plan.audio_steps if s.filter in scope.audio]
    video = [s for s in plan.video_steps if s.filter in scope.video]
    dropped = sorted({s.filter for s in plan.audio_steps + plan.video_steps} - {s.filter for s in audio + video})
    stabilize = plan.stabilize and scope.stabilize
    trim = plan.trim if scope.trim else None
    loudness = plan.loudness if scope.loudness else None
    if not stabilize:
        video = [s for s in video if s.filter != "vidstabtransform"]
    change_video = bool(video) or trim is not None or stabilize or plan.burn_in
    output = output_spec(
        info, fmt=plan.output.format, quality=plan.output.quality, change_video=change_video, audio_only=False
    )
    notes = [*plan.notes, f"type {scope.name}: only {_what(scope)}"]
    if dropped:
        notes.append(f"type {scope.name}: left out {', '.join(dropped)}")
    a = info.audio
    if a is not None and output.audio_codec is not None and not audio and loudness is None and trim is None:
        if can_copy_audio(a.codec, output.format):
            output = dataclasses.replace(
                output,
                audio="copy",
                audio_codec=a.codec,
                audio_args=[],
                sample_rate=None,
                channels=None,
                reason=f"{output.reason}; audio copied ({a.codec}): unchanged",
            )
        else:
            notes.append(f"audio re-encoded at its own level: {a.codec} cannot be copied into {output.format}")
    return dataclasses.replace(
        plan,
        audio_steps=audio,
        video_steps=video,
        loudness=loudness,
        trim=trim,
        stabilize=stabilize,
        output=output,
        notes=notes,
    )


def _what(scope: Scope) -> str:
    parts = []
    if scope.audio:
        parts.append("noise in the sound" if scope.audio <= NOISE_AUDIO else "some sound cleanup")
    if scope.video:
        parts.append(
            {
                "denoise": "noise in the picture",
                "colorgrade": "levels and colour",
                "upscale": "scaling",
                "stabilize": "stabilisation",
            }.get(scope.name, "some picture changes")
        )
    return " and ".join(parts) or "nothing"


class ScopedPlanner:
    """Any planner, its plans cut down to a job type's scope."""

    def __init__(self, inner: Planner, scope: Scope) -> None:
        self.inner, self.scope = inner, scope
        self.name = getattr(inner, "name", "local")

    def plan(self, analysis: Analysis, options: EnhanceOptions) -> Plan:
        return restrict(self.inner.plan(analysis, options), self.scope, analysis.info)

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()
