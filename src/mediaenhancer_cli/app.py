"""`mediaenhancer`: each command parses its options, calls one core function, and renders.

Errors are translated in one place (:func:`handle_errors` with the table in
``exit_codes.py``): a one-line ``mediaenhancer: error: ...`` on stderr and a
distinct exit code, never a traceback (unless ``--traceback``). The core is
imported inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from mediaenhancer_core.choices import DENOISE_LEVELS, ENHANCE_TYPES, FORMATS, PLANNERS, QUALITIES, RESOLUTIONS
from mediaenhancer_core.exit_codes import ExitCode, exit_code_for
from mediaenhancer_core.helpstyle import tidy_help

if TYPE_CHECKING:
    from rich.console import Console

    from mediaenhancer_core.engine.ffmpeg import FFmpegTools
    from mediaenhancer_core.settings import Settings

__all__ = ["app", "main"]


class _LazyGroup(TyperGroup):
    """The root command group: the account, media, Gemini, billing and jobs commands live in their
    own modules and load only when one of them runs (or full help is asked for one): building
    every command's options costs ~90 ms, which `--help` and every local run would pay."""

    # name -> (module that registers it, one-line help shown in `mediaenhancer --help`)
    LAZY: dict[str, tuple[str, str]] = {
        "login": ("account", "Sign in to the account server: shows a code to approve in your browser."),
        "logout": ("account", "Forget the saved token (and revoke it on the server)."),
        "whoami": ("account", "Show who you are signed in as, on which server, and your plan."),
        "usage": ("account", "Show your use against your plan's limits."),
        "profile": ("account", "Show or change your profile."),
        "tokens": ("account", "Manage your API tokens."),
        "upload": ("media", "Upload media to your library: progress with bytes/s, several at once, resumable."),
        "media": ("media", "Your media library on the server."),
        "projects": ("media", "Projects: ordered segments of your media."),
        "jobs": ("jobs", "Jobs on the account server: list, watch, cancel."),
        "transcribe": ("ai", "Transcribe speech with Gemini into subtitles with exact timings."),
        "plans": ("billing", "List the plans, their prices and limits (no login needed)."),
        "subscription": ("billing", "Show your plan, its status and period, and its limits."),
        "upgrade": ("billing", "Subscribe to a paid plan: prints the Stripe Checkout URL."),
        "cancel": ("billing", "Cancel your subscription at the end of the paid period."),
        "resume": ("billing", "Keep a subscription you canceled, before its period ends."),
        "billing": ("billing", "Payment methods and invoices (Stripe)."),
        "completion": ("completion", "Print the shell completion script for bash, zsh or fish."),
    }

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(n for n in self.LAZY if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.LAZY:
            self._load(self.LAZY[cmd_name][0])
        cmd = self.commands.get(cmd_name)
        return None if cmd is None else tidy_help(cmd)

    def _load(self, module: str) -> None:
        import importlib  # noqa: PLC0415

        from typer.main import get_command  # noqa: PLC0415

        # plain help like the root (Rich help costs ~100 ms), and no completion options on sub-commands
        sub = typer.Typer(rich_markup_mode=None, add_completion=False)
        importlib.import_module(f"{__package__}.{module}").register(sub)
        built = get_command(sub)
        for name, cmd in (getattr(built, "commands", None) or {built.name: built}).items():
            self.commands.setdefault(name, cmd)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        tidy_help(self)
        super().format_help(ctx, formatter)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is not None:
                if not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit)))
            else:
                rows.append((name, self.LAZY[name][1]))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    cls=_LazyGroup,
    name="mediaenhancer",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    # Plain help: Rich-formatted help costs ~100 ms of imports on every --help.
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class State:
    out: Console
    err: Console
    traceback: bool = False
    _settings: Settings | None = None
    _tools: FFmpegTools | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from mediaenhancer_core.settings import Settings  # noqa: PLC0415

            self._settings = Settings.load(os.environ)
        return self._settings

    @property
    def tools(self) -> FFmpegTools:
        if self._tools is None:
            from mediaenhancer_core.engine.ffmpeg import locate_ffmpeg  # noqa: PLC0415

            s = self.settings
            self._tools = locate_ffmpeg(
                s.ffmpeg, s.ffprobe, path_env=os.environ.get("PATH"), threads=s.ffmpeg_threads, cache_dir=s.cache_dir
            )
        return self._tools


def _state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        from rich.console import Console  # noqa: PLC0415 - not needed for --help

        obj = State(out=Console(), err=Console(stderr=True))
        ctx.find_root().obj = obj
    return obj


def error_line(state: State, message: str) -> None:
    from rich.markup import escape  # noqa: PLC0415

    state.err.print(
        f"[bold red]mediaenhancer: error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )


def handle_errors(fn: F) -> F:
    """Translate core errors and interrupts into one stderr line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mediaenhancer_core.errors import MediaEnhancerError  # noqa: PLC0415

        ctx = kwargs.get("ctx") or next(a for a in args if isinstance(a, typer.Context))
        state = _state(ctx)
        try:
            return fn(*args, **kwargs)
        except MediaEnhancerError as exc:
            if state.traceback:
                raise
            error_line(state, _as_typed(exc, ctx))
            raise typer.Exit(int(exit_code_for(exc))) from None
        except KeyboardInterrupt:
            state.err.print("mediaenhancer: interrupted; temporary files removed", highlight=False)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except _Terminated:
            state.err.print("mediaenhancer: terminated; temporary files removed", highlight=False)
            raise typer.Exit(int(ExitCode.TERMINATED)) from None

    return wrapper  # type: ignore[return-value]


# request fields whose option has another name
_FIELD_PARAMS = {"transformations": "transform", "file_type": "type", "expires_in_days": "expires_days"}


def _as_typed(exc: Any, ctx: typer.Context) -> str:
    """The server names request fields (`body.end: must be after start`); say it with the option or
    argument the user typed (`--end: must be after start`), and drop a bare `body:` prefix."""
    message, field = exc.message, getattr(exc, "field", None)
    head, sep, rest = message.partition(": ")
    if not field or not sep:
        return message
    if head != field:
        return rest if field.startswith((head + ".", head + "[")) else message
    key = field.rsplit(".", 1)[-1].split("[", 1)[0]
    key = _FIELD_PARAMS.get(key, key)
    for param in getattr(ctx.command, "params", ()):
        if param.name == key:
            if param.param_type_name == "argument":
                return f"{param.metavar or key.upper()}: {rest}"
            return f"{max(param.opts, key=len)}: {rest}"
    return f"{key}: {rest}" if "." in field or "[" in field else message


class _Terminated(BaseException):
    """Raised in the main thread on SIGTERM so cleanup runs like for Ctrl-C."""


def _version(value: bool) -> None:
    if value:
        from mediaenhancer_core import __version__  # noqa: PLC0415

        typer.echo(f"mediaenhancer {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show Python tracebacks on errors (for bug reports).")
    ] = False,
) -> None:
    """Make recorded video and audio sound and look better. Works offline; no account needed.

    Exit codes are listed in docs/exit-codes.md. Settings come from MEDIAENHANCER_* environment
    variables, then config.toml in the config folder (see docs/settings.md).
    """
    state = _state(ctx)
    state.traceback = traceback


# --------------------------------------------------------------------------- analyze


@app.command()
@handle_errors
def analyze(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Media files, folders or glob patterns.", show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object per file (for scripts).")] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Look into sub-folders of folders.")] = False,
    audio_only: Annotated[bool, typer.Option("--audio-only", help="Measure only the sound.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Measure files in one decode pass: loudness, peaks, noise, silence; levels, colour, noise of the picture."""
    from mediaenhancer_core.engine.batch import expand_inputs  # noqa: PLC0415
    from mediaenhancer_core.engine.enhance import analyze_file  # noqa: PLC0415
    from mediaenhancer_core.errors import MediaEnhancerError  # noqa: PLC0415

    from .output import FileProgress, analysis_table, print_json_lines  # noqa: PLC0415
    from .tables import show  # noqa: PLC0415

    state = _state(ctx)
    tools = state.tools
    items = expand_inputs(files, recursive=recursive)
    progress = FileProgress(state.err, enabled=state.err.is_terminal and not quiet and not json_out)
    objects: list[dict[str, Any]] = []
    first_error: MediaEnhancerError | None = None
    with progress.running():
        for item in items:
            try:
                if item.error:
                    raise item.error
                progress.start(str(item.path))
                result = analyze_file(
                    item.path,
                    tools,
                    video=not audio_only,
                    temp_dir=state.settings.temp_dir,
                    on_progress=progress.update,
                )
                objects.append({"status": "ok", **result.to_dict()})
                if not json_out:
                    show(state.out, analysis_table(result))
            except MediaEnhancerError as exc:
                first_error = first_error or exc
                objects.append(
                    {"file": str(item.path), "status": "failed", "error": {"code": exc.code, "message": exc.message}}
                )
                if not json_out:
                    error_line(state, exc.message)
    if json_out:
        print_json_lines(state.out, objects)
    if first_error is not None:
        raise typer.Exit(int(exit_code_for(first_error)))


# --------------------------------------------------------------------------- enhance


def _choices(name: str, values: Iterable[str]) -> Any:
    """An option's choices as typer takes them (a str Enum), the values written once in core."""
    return Enum(name, [(v, v) for v in values], type=str)


if TYPE_CHECKING:  # made from core's tables at run time; to mypy, str Enums

    class _Choice(str, Enum):
        pass

    Quality = _Choice
    Resolution = _Choice
    PlannerName = _Choice
    JobType = _Choice
    DenoiseLevel = _Choice
    OutFormat = _Choice
else:
    Quality = _choices("Quality", QUALITIES)
    Resolution = _choices("Resolution", RESOLUTIONS)
    PlannerName = _choices("PlannerName", PLANNERS)
    JobType = _choices("JobType", sorted(ENHANCE_TYPES, key=lambda t: t != "auto"))  # auto, the default, first
    DenoiseLevel = _choices("DenoiseLevel", DENOISE_LEVELS)
    OutFormat = _choices("OutFormat", FORMATS)
_AUTO_JOB = JobType("auto")  # the --type default: a module-level value, not a call in the signature


def _usage(message: str) -> typer.BadParameter:
    return typer.BadParameter(message)


@app.command()
@handle_errors
def enhance(
    ctx: typer.Context,
    files: Annotated[list[str], typer.Argument(help="Media files, folders or glob patterns.", show_default=False)],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Output file (one input only). Default: NAME.enhanced.EXT beside the input."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Write outputs into this folder (sub-folders mirrored with --recursive)."),
    ] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Look into sub-folders of folders.")] = False,
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, max=64, help="Files enhanced in parallel. Default: setting `jobs` (1)."),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset", "-p", help="Preset name (see `mediaenhancer presets`). Default: setting `preset` (podcast)."
        ),
    ] = None,
    target_lufs: Annotated[
        float | None,
        typer.Option(
            "--target-lufs", min=-40.0, max=-5.0, help="Integrated loudness target in LUFS (overrides the preset)."
        ),
    ] = None,
    true_peak: Annotated[
        float | None,
        typer.Option("--true-peak", min=-9.0, max=0.0, help="True-peak ceiling in dBTP (overrides the preset)."),
    ] = None,
    audio_only: Annotated[
        bool, typer.Option("--audio-only", help="Enhance only the sound; the video is always copied.")
    ] = False,
    denoise: Annotated[
        DenoiseLevel | None,
        typer.Option(
            "--denoise",
            help="Neural noise reduction of speech (DeepFilterNet3): off, light (noise lowered by at most 12 dB, ambience stays), normal (noise down to about 60 dB under the speech) or strong (no cap). It runs only on speech that is not already clean. Default: normal (off for the music preset).",
        ),
    ] = None,
    no_denoise: Annotated[bool, typer.Option("--no-denoise", help="Same as --denoise off.")] = False,
    trim_silence: Annotated[
        bool, typer.Option("--trim-silence", help="Shorten long pauses (audio and video stay in sync).")
    ] = False,
    stabilize: Annotated[bool, typer.Option("--stabilize", help="Stabilise shaky video (two-pass vid.stab).")] = False,
    resolution: Annotated[
        Resolution | None, typer.Option("--resolution", help="Scale the picture to this height.")
    ] = None,
    fps: Annotated[float | None, typer.Option("--fps", min=1.0, max=240.0, help="Change the frame rate.")] = None,
    fmt: Annotated[
        OutFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format. Default: the input's container where sensible (or the -o name's). A -o name of another format is refused.",
        ),
    ] = None,
    quality: Annotated[
        Quality | None,
        typer.Option("--quality", help="draft, standard, high or archive (CRF / bitrate). Default: setting `quality`."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; render nothing.")] = False,
    save_plan: Annotated[
        Path | None,
        typer.Option(
            "--save-plan", help="Write the plan as JSON (one input only); written even when the render is skipped."
        ),
    ] = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Render this saved plan instead of planning (one input only).")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Redo outputs that already exist and are newer than their input (with --remote: replace an existing local output).",
        ),
    ] = False,
    skip_if_within: Annotated[
        float | None,
        typer.Option(
            "--skip-if-within", min=0.0, max=10.0, help="Copy files already within N LU of the target unchanged."
        ),
    ] = None,
    planner_name: Annotated[
        PlannerName | None,
        typer.Option(
            "--planner",
            help="local: plan from the measurements, offline. gemini: add Gemini's opinion of a small proxy (needs GEMINI_API_KEY; falls back to local on any failure). Default: setting `planner` (local).",
        ),
    ] = None,
    subtitles: Annotated[
        bool,
        typer.Option(
            "--subtitles",
            help="Transcribe with Gemini and write NAME.enhanced.srt and .vtt beside each output (needs GEMINI_API_KEY).",
        ),
    ] = False,
    burn_in: Annotated[
        bool,
        typer.Option("--burn-in", help="With --subtitles: also draw them into the picture (re-encodes the video)."),
    ] = False,
    language: Annotated[
        str | None,
        typer.Option("--language", help="With --subtitles: the spoken language (en, de, pt-BR). Default: detected."),
    ] = None,
    remote: Annotated[
        bool,
        typer.Option(
            "--remote",
            help="Enhance on the account server instead: uploads the file (or takes a media id), queues a job, shows its progress, downloads the result.",
        ),
    ] = False,
    job_type: Annotated[
        JobType,
        typer.Option(
            "--type", help="With --remote: denoise, upscale, colorgrade, stabilize, transcribe or auto (the full plan)."
        ),
    ] = _AUTO_JOB,
    server: Annotated[
        str | None, typer.Option("--server", help="With --remote: the server's URL (default: setting server_url).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON result object per file (for scripts).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary; errors only.")] = False,
) -> None:
    """Enhance files: one analysis pass, a plan, then one render pass. Writes NAME.enhanced.EXT beside each input."""
    from mediaenhancer_core.engine.batch import expand_inputs, run_batch  # noqa: PLC0415
    from mediaenhancer_core.engine.enhance import EnhanceJob  # noqa: PLC0415
    from mediaenhancer_core.engine.planner import EnhanceOptions  # noqa: PLC0415
    from mediaenhancer_core.engine.presets import get_preset  # noqa: PLC0415
    from mediaenhancer_core.engine.subtitles import is_language_code  # noqa: PLC0415
    from mediaenhancer_core.errors import OutputSameAsInputError as OutputSameAsInput  # noqa: PLC0415

    from .output import FileProgress, plan_panel, print_json_lines, results_lines, results_table  # noqa: PLC0415
    from .tables import show  # noqa: PLC0415

    state = _state(ctx)
    settings = state.settings
    if no_denoise and denoise is not None and denoise.value != "off":
        raise _usage("--no-denoise and --denoise contradict each other; use one")
    if remote:
        if denoise is not None and denoise.value in ("light", "strong"):
            raise _usage("--remote takes --denoise off or normal (the server's jobs have no light or strong level)")
        if (
            dry_run
            or plan_file
            or save_plan
            or skip_if_within is not None
            or subtitles
            or audio_only
            or (stabilize and job_type != "stabilize")
        ):
            raise _usage(
                "--remote runs a server job: --dry-run, --plan, --save-plan, --skip-if-within, --subtitles, "
                "--audio-only and --stabilize (use --type stabilize) are for local runs"
            )
        from mediaenhancer_core.client.remote import is_media_id  # noqa: PLC0415

        local = expand_inputs([f for f in files if not is_media_id(f)], recursive=recursive)
        bad = next((i.error for i in local if i.error is not None), None)
        if bad is not None:
            raise bad
        files = [*(f for f in files if is_media_id(f)), *(str(i.path) for i in local)]
        if output is not None and len(files) != 1:
            raise _usage(f"--output works with exactly one input file ({len(files)} given)")
        if output is not None and any(Path(f).exists() and Path(f).resolve() == output.resolve() for f in files):
            raise OutputSameAsInput(f"{output}: the output would overwrite the input; choose another name with -o")
        remote_format = fmt.value if fmt else None
        if output is not None and job_type != "transcribe":
            from mediaenhancer_core.engine.enhance import check_output_name  # noqa: PLC0415
            from mediaenhancer_core.engine.formats import format_for_path  # noqa: PLC0415

            if remote_format is not None:
                check_output_name(output, remote_format)
            else:  # the server writes what the name asks for, not the source's format under that name
                remote_format = format_for_path(str(output))
        from .jobs import remote_enhance  # noqa: PLC0415

        remote_enhance(
            state,
            files,
            job_type=job_type.value,
            preset=preset,
            options={
                "target_lufs": target_lufs,
                "true_peak": true_peak,
                "trim_silence": trim_silence or None,
                "denoise": False
                if (no_denoise or (denoise and denoise.value == "off"))
                else (True if denoise else None),
                "language": language,
                "resolution": resolution.value if resolution else None,
                "fps": fps,
                "format": remote_format,
                "quality": quality.value if quality else None,
                "planner": planner_name.value if planner_name else None,
            },
            output=output,
            out_dir=out_dir,
            server=server,
            as_json=json_out,
            quiet=quiet,
            force=force,
        )
        return
    if output is not None and out_dir is not None:
        raise _usage("use either --output or --out-dir, not both")
    items = expand_inputs(files, recursive=recursive)
    single = len(items) == 1
    for flag, value in (("--output", output), ("--save-plan", save_plan), ("--plan", plan_file)):
        if value is not None and not single:
            raise _usage(f"{flag} works with exactly one input file ({len(items)} given)")
    if audio_only and (stabilize or resolution or fps or trim_silence):
        raise _usage(
            "--audio-only copies the video: it cannot be combined with --stabilize, --resolution, --fps or --trim-silence"
        )
    if (burn_in or language) and not subtitles:
        raise _usage("--burn-in and --language go with --subtitles")
    if burn_in and audio_only:
        raise _usage("--audio-only copies the video: it cannot be combined with --burn-in")
    if language is not None and not is_language_code(language):
        raise _usage(f"--language: {language!r} is not a language code such as en, de or pt-BR")

    options = EnhanceOptions(
        preset=get_preset(preset or settings.preset, settings.config_dir),
        target_lufs=target_lufs,
        true_peak=true_peak,
        audio_only=audio_only,
        denoise="off" if no_denoise else (denoise.value if denoise else None),
        trim_silence=trim_silence,
        stabilize=stabilize,
        resolution=resolution.value if resolution else None,
        fps=fps,
        format=fmt.value if fmt else None,
        quality=(quality.value if quality else settings.quality),
        burn_in=burn_in,
    )
    job = EnhanceJob(
        options=options,
        output=output,
        out_dir=out_dir,
        dry_run=dry_run,
        plan_file=plan_file,
        save_plan=save_plan,
        force=force,
        skip_if_within=skip_if_within,
    )
    tools = state.tools
    # the ai package (60 ms with pydantic models; google-genai itself loads on the first request) is
    # imported only when Gemini is asked for: a local enhance does not pay for it
    if subtitles:  # no key is exit code 60 before any work, naming GEMINI_API_KEY
        from mediaenhancer_core.ai import SubtitleJob  # noqa: PLC0415

        job.subtitles = SubtitleJob.from_settings(settings, language=language)
    planner_choice = planner_name.value if planner_name else settings.planner
    if planner_choice == "local":
        from mediaenhancer_core.engine.planner import MeasurementPlanner  # noqa: PLC0415

        planner: Any = MeasurementPlanner()
    else:
        from mediaenhancer_core.ai import make_planner  # noqa: PLC0415

        planner = make_planner(planner_choice, settings, tools)
    from mediaenhancer_core.engine.workdirs import reap  # noqa: PLC0415

    reap(settings.temp_dir)  # work folders of an earlier run that was killed outright
    said: set[str] = set()  # Gemini fallback notices already printed
    if not quiet:
        said = _gemini_notices(state, planner, [], said)
    show_progress = state.err.is_terminal and not quiet and not json_out and not dry_run
    progress = FileProgress(state.err, enabled=show_progress)
    try:
        with progress.running():
            results = run_batch(
                items,
                job,
                tools,
                jobs=jobs or settings.jobs,
                planner=planner,
                temp_dir=settings.temp_dir,
                on_start=progress.start,
                on_progress=progress.update,
                on_result=progress.finish,
            )
    finally:
        for closable in (planner, job.subtitles):
            if hasattr(closable, "close"):
                closable.close()  # type: ignore[union-attr]

    if not quiet:
        _gemini_notices(state, planner, results, said)
    if json_out:
        print_json_lines(state.out, [r.to_dict() for r in results])
    else:
        if dry_run and not quiet:
            from mediaenhancer_core.engine.plan import Plan  # noqa: PLC0415

            for r in results:
                if r.plan:
                    state.out.print(plan_panel(Plan.from_dict(r.plan)))
        for r in results:
            if r.status == "failed" and r.error:
                error_line(state, r.error["message"])
            warning = ((r.after or {}).get("audio") or {}).get("warning")
            if warning:
                from rich.markup import escape  # noqa: PLC0415

                state.err.print(
                    f"[yellow]mediaenhancer: warning:[/] {escape(r.input)}: {escape(warning)}", highlight=False
                )
        if not quiet and (len(results) > 1 or not dry_run):
            show(state.out, results_table(results))
            for line in results_lines(results):  # paths whole, one line each (soft wrap: never broken by us)
                state.out.print(line, highlight=False, markup=False, soft_wrap=True)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        first = failed[0].exit_error
        raise typer.Exit(int(exit_code_for(first)) if first else int(ExitCode.FAILURE))


def _gemini_notices(state: State, planner: Any, results: list[Any], said: set[str]) -> set[str]:
    """One line on stderr for each reason the Gemini planner fell back to the measurements (the
    README promises it): no key (said before any work), or a failure on a file."""
    from rich.markup import escape  # noqa: PLC0415

    from mediaenhancer_core.ai.planner import FALLBACK_NOTE, NO_KEY_REASON, GeminiPlanner, fallback_note  # noqa: PLC0415

    lines: list[tuple[str, str]] = []
    if isinstance(planner, GeminiPlanner) and planner.model is None:
        lines.append((fallback_note(NO_KEY_REASON), ""))
    for r in results:
        lines += [
            (note, f"{r.input}: ") for note in ((r.plan or {}).get("notes") or []) if note.startswith(FALLBACK_NOTE)
        ]
    for note, where in lines:
        if note not in said:
            said.add(note)
            state.err.print(
                f"[yellow]mediaenhancer: notice:[/] {escape(where + note)}", highlight=False, soft_wrap=True
            )
    return said


# --------------------------------------------------------------------------- export


@app.command("export")
@handle_errors
def export_cmd(
    ctx: typer.Context,
    project_file: Annotated[
        Path,
        typer.Argument(
            help="Project file (TOML or JSON): ordered segments, titles, extra audio (docs/export.md); with --remote, a project id."
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output file. Default: PROJECT.EXT beside the project file.")
    ] = None,
    fmt: Annotated[
        OutFormat | None, typer.Option("--format", "-f", help="Output format (overrides the project's).")
    ] = None,
    resolution: Annotated[
        Resolution | None, typer.Option("--resolution", help="Picture height (overrides the project's).")
    ] = None,
    fps: Annotated[
        float | None, typer.Option("--fps", min=1.0, max=240.0, help="Frame rate (overrides the project's).")
    ] = None,
    quality: Annotated[Quality | None, typer.Option("--quality", help="draft, standard, high or archive.")] = None,
    preset: Annotated[
        str | None, typer.Option("--preset", "-p", help="Enhancement preset (loudness target and cleanups).")
    ] = None,
    no_enhance: Annotated[
        bool, typer.Option("--no-enhance", help="Only edit: no cleanup, no loudness normalisation.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output.")] = False,
    remote: Annotated[
        bool,
        typer.Option(
            "--remote", help="PROJECT is a project id on the account server: it renders it and the file is downloaded."
        ),
    ] = False,
    server: Annotated[
        str | None, typer.Option("--server", help="With --remote: the server's URL (default: setting server_url).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render a project: trims, concatenation, volume, rotate/flip, titles, music under — enhanced — in one render pass."""
    if remote:
        from .jobs import remote_export  # noqa: PLC0415

        body = {
            "format": fmt.value if fmt else None,
            "resolution": resolution.value if resolution else None,
            "fps": fps,
            "quality": quality.value if quality else None,
            "preset": preset,
            "enhance": False if no_enhance else None,
        }
        remote_export(
            _state(ctx),
            str(project_file),
            body,
            output=output,
            server=server,
            as_json=json_out,
            quiet=quiet,
            force=force,
        )
        return
    import dataclasses  # noqa: PLC0415
    import json  # noqa: PLC0415

    from mediaenhancer_core.engine.export import export_project, load_project  # noqa: PLC0415
    from mediaenhancer_core.engine.formats import FORMATS  # noqa: PLC0415
    from mediaenhancer_core.engine.presets import get_preset  # noqa: PLC0415
    from mediaenhancer_core.errors import OutputSameAsInputError  # noqa: PLC0415

    state = _state(ctx)
    settings = state.settings
    project = load_project(project_file)
    opts = project.output
    project.output = dataclasses.replace(
        opts,
        format=fmt.value if fmt else opts.format,
        resolution=resolution.value if resolution else opts.resolution,
        fps=fps or opts.fps,
        quality=quality.value if quality else opts.quality,
        enhance=opts.enhance and not no_enhance,
    )
    dest = output or project_file.with_suffix(FORMATS[project.output.format].extension)
    if any(Path(s.media).resolve() == dest.resolve() for s in project.segments):
        raise OutputSameAsInputError(
            f"{dest}: the output would overwrite a segment's media; choose another -o", path=dest
        )
    if dest.exists() and not force:
        raise _usage(f"{dest} exists; pass --force to replace it")
    from .output import FileProgress  # noqa: PLC0415

    progress = FileProgress(state.err, enabled=state.err.is_terminal and not quiet and not json_out)
    name = str(project_file)

    def on_progress(phase: str, done: float, total: float) -> None:
        from mediaenhancer_core.engine.enhance import ProgressEvent  # noqa: PLC0415

        base, span = (0.0, 0.9) if phase == "render" else (0.9, 0.1)
        progress.update(ProgressEvent(name, phase, done, total, base + span * (done / total if total else 0.0)))

    with progress.running():
        progress.start(name)
        result = export_project(
            project,
            dest,
            state.tools,
            preset=get_preset(preset or settings.preset, settings.config_dir),
            font_file=settings.font_file,
            temp_dir=settings.temp_dir,
            on_progress=on_progress,
        )
    if json_out:
        typer.echo(json.dumps(result.to_dict()))
    elif not quiet:
        a = result.audio
        size = f", {result.width}x{result.height} {result.fps:g} fps" if result.width else ""
        loud = f", {a.integrated_lufs:.1f} LUFS / {a.true_peak_dbtp:.1f} dBTP" if a else ""
        state.out.print(
            f"exported {result.segments} segments to {result.output}: {result.duration:.2f} s{size}{loud}",
            highlight=False,
        )


# --------------------------------------------------------------------------- presets, sample, doctor


@app.command()
@handle_errors
def presets(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List presets: the built-in ones and your own (TOML files in <config>/presets/)."""
    import json  # noqa: PLC0415

    from mediaenhancer_core.engine.presets import load_presets  # noqa: PLC0415

    from .output import presets_table  # noqa: PLC0415
    from .tables import show  # noqa: PLC0415

    state = _state(ctx)
    settings = state.settings
    assert settings.config_dir is not None  # Settings.load always fills the folders
    found = load_presets(settings.config_dir)
    if json_out:
        typer.echo(json.dumps({name: p.to_dict() for name, p in sorted(found.items())}, indent=2))
        return
    show(state.out, presets_table(found, settings.preset))
    state.out.print(f"User presets: {settings.config_dir / 'presets'}/NAME.toml", highlight=False)


@app.command()
@handle_errors
def sample(
    ctx: typer.Context,
    dest: Annotated[
        Path, typer.Argument(help="Where to write the clip (.mp4, .mov, .mkv; .m4a with --audio-only).")
    ] = Path("sample.mp4"),
    duration: Annotated[float, typer.Option("--duration", min=1.0, max=600.0, help="Length in seconds.")] = 12.0,
    audio_only: Annotated[bool, typer.Option("--audio-only", help="Sound only.")] = False,
) -> None:
    """Write a generated sample clip with noisy, quiet, humming sound and a dim, noisy picture, to try the tool on."""
    from mediaenhancer_core.engine.sample import write_sample  # noqa: PLC0415

    state = _state(ctx)
    write_sample(dest, state.tools, duration=duration, audio_only=audio_only)
    state.out.print(f"wrote {dest} — try: mediaenhancer enhance {dest}", highlight=False)


@app.command()
@handle_errors
def doctor(ctx: typer.Context) -> None:
    """Show which ffmpeg and settings are in use."""
    state = _state(ctx)
    state.out.print(state.tools.describe(), highlight=False)
    for key, value in state.settings.public_dict().items():
        state.out.print(f"{key} = {value}", highlight=False)


def main(prog_name: str | None = None) -> None:
    """Console-script entry point (``python -m mediaenhancer_cli`` passes its ``prog_name``)."""

    def on_term(signum: int, frame: Any) -> None:
        raise _Terminated()

    signal.signal(signal.SIGTERM, on_term)
    if "_MEDIAENHANCER_COMPLETE" in os.environ:  # a script from `mediaenhancer completion` asks
        from typer._completion_classes import completion_init  # noqa: PLC0415 - add_completion=False skips it

        completion_init()
    try:
        app(prog_name=prog_name)
    except _Terminated:  # outside a command
        sys.exit(int(ExitCode.TERMINATED))
