"""`mediaenhancer transcribe`: subtitles (SRT, WebVTT) and a JSON transcript with chapters and a summary.

The command checks its options, makes a :class:`GeminiClient` from the settings, calls
:func:`mediaenhancer_core.ai.transcribe_file`, writes the files and prints where they are.
This module loads only when the command runs or its help is asked for (``_LazyGroup`` in
app.py); the Gemini side of the core (40 ms) loads inside the command, so that
`transcribe --help` stays fast, and google-genai loads on the first request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mediaenhancer_core.errors import OutputSameAsInputError

from .app import _state, handle_errors

__all__ = ["register", "transcribe"]


def _formats(value: str) -> list[str]:
    names = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = [f for f in names if f not in ("srt", "vtt", "json")]
    if unknown or not names:
        raise typer.BadParameter(
            f"unknown format {unknown[0] if unknown else value!r}; use srt, vtt, json or a comma-separated list"
        )
    return list(dict.fromkeys(names))


def transcribe(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Audio or video file to transcribe.", show_default=False)],
    language: Annotated[
        str | None,
        typer.Option("--language", "-l", help="Spoken language as a code (en, de, pt-BR). Default: detected."),
    ] = None,
    formats: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="Comma-separated: srt, vtt, json (the transcript with chapters and a summary)."
        ),
    ] = "srt,vtt,json",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Output file (one format), or the base name whose suffix each format replaces. Default: NAME.srt, NAME.vtt, NAME.transcript.json beside the input.",
        ),
    ] = None,
    no_chapters: Annotated[
        bool,
        typer.Option("--no-chapters", help="Skip the chapters and summary of the JSON transcript (one request fewer)."),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON result object (for scripts).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Transcribe speech with Gemini into subtitles with exact timings (needs GEMINI_API_KEY; the audio is sent to Google)."""
    from mediaenhancer_core.ai import GeminiClient, GeminiConfig, output_paths, transcribe_file, write_transcript  # noqa: PLC0415 - 40 ms: `transcribe --help` stays fast
    from mediaenhancer_core.engine.subtitles import is_language_code  # noqa: PLC0415

    state = _state(ctx)
    names = _formats(formats)
    if language is not None and not is_language_code(language):
        raise typer.BadParameter(
            f"{language!r} is not a language code such as en, de or pt-BR", param_hint="--language"
        )
    settings = state.settings
    config = GeminiConfig.from_settings(settings)
    config.require_key()  # before any work: no key is exit code 60, naming GEMINI_API_KEY
    paths = output_paths(file, names, output)
    for path in paths.values():
        if path.resolve() == file.resolve():
            raise OutputSameAsInputError(
                f"{path}: the output would overwrite the input; choose another name with -o", path=path
            )
    tools = state.tools

    status: Any = None
    if state.err.is_terminal and not quiet and not json_out:
        status = state.err.status(f"Transcribing {file.name}…")
        status.start()

    def progress(done: int, total: int) -> None:
        if status is not None:
            status.update(f"Transcribing {file.name}… {done}/{total} parts")

    try:
        with GeminiClient(config) as client:
            transcript = transcribe_file(
                file,
                tools,
                client,
                language=language,
                chunk_seconds=settings.transcribe_chunk_seconds,
                concurrency=settings.transcribe_concurrency,
                chapters="json" in names and not no_chapters,
                temp_dir=settings.temp_dir,
                on_progress=progress,
            )
    finally:
        if status is not None:
            status.stop()
    written = write_transcript(transcript, paths)

    if json_out:
        result = {
            "input": str(file),
            "status": "transcribed",
            "outputs": {fmt: str(p) for fmt, p in paths.items()},
            "language": transcript.language,
            "duration": transcript.duration,
            "segments": len(transcript.segments),
            "chapters": [c.to_dict() for c in transcript.chapters],
            "summary": transcript.summary,
            "notes": transcript.notes,
        }
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    if quiet:
        return
    for path in written:
        state.out.print(f"wrote {path}", highlight=False, soft_wrap=True)
    parts = len(transcript.chunks)
    state.out.print(
        f"{len(transcript.segments)} segments, language {transcript.language or 'unknown'}, "
        f"{len(transcript.chapters)} chapters ({transcript.model}; {parts} part{'s' if parts != 1 else ''})",
        highlight=False,
        soft_wrap=True,
    )
    for note in transcript.notes:
        state.out.print(f"note: {note}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the Gemini commands (issue 7) to the `mediaenhancer` app."""
    app.command("transcribe", rich_help_panel="Gemini")(handle_errors(transcribe))
