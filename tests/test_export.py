"""Project exports: segment order, durations, dimensions, per-segment operations, music under, sync."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mediaenhancer_core.engine.export import Project, export_project, load_project
from mediaenhancer_core.engine.presets import BUILTIN_PRESETS
from mediaenhancer_core.errors import ProjectError
from tests import media as M

CLI = str(Path(sys.executable).with_name("mediaenhancer"))
COLORS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
TONES = {"red": 300, "green": 600, "blue": 900}


def _colour_clip(path: Path, colour: str, seconds: float = 2.0, size: str = "320x240") -> Path:
    M.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c={colour}:s={size}:r=25:d={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=f={TONES[colour]}:r=48000:d={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    )
    return path


def _frame(path: Path, t: float) -> np.ndarray:
    info = next(s for s in M.probe(path)["streams"] if s["codec_type"] == "video")
    w, h = info["width"], info["height"]
    raw = subprocess.run(
        [
            M.FFMPEG,
            "-v",
            "error",
            "-ss",
            str(t),
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)


def _pixel(path: Path, t: float, x: float = 0.5, y: float = 0.5) -> tuple[int, int, int]:
    frame = _frame(path, t)
    h, w, _ = frame.shape
    return tuple(int(c) for c in frame[int(h * y), int(w * x)])  # type: ignore[return-value]


def _green_pixels(path: Path, t: float) -> int:
    f = _frame(path, t).astype(int)
    return int(np.sum((f[:, :, 1] > 180) & (f[:, :, 0] < 90) & (f[:, :, 2] < 90)))


def _closest(rgb: tuple[int, int, int]) -> str:
    return min(COLORS, key=lambda c: sum((a - b) ** 2 for a, b in zip(COLORS[c], rgb)))


def _dominant_hz(path: Path, start: float, end: float) -> float:
    data, rate = M.decode_audio(path)
    x = data[int(start * rate) : int(end * rate), 0]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def _project(segments: list[dict], **extra) -> Project:
    return Project.from_dict({"name": "t", "segments": segments, **extra})


@pytest.mark.slow
def test_segments_in_order_with_their_durations_and_sound(tmp_path: Path, tools) -> None:
    files = {c: _colour_clip(tmp_path / f"{c}.mp4", c) for c in COLORS}
    project = _project(
        [
            {"media": str(files["blue"]), "start": 0.5, "end": 1.5},
            {"media": str(files["red"]), "start": 0.0, "end": 1.0},
            {"media": str(files["green"]), "start": 0.2, "end": 1.4},
        ],
        output={"quality": "draft", "enhance": False},
    )
    res = export_project(project, tmp_path / "out.mp4", tools, preset=BUILTIN_PRESETS["podcast"])
    out = Path(res.output)
    fmt = M.probe(out)["format"]
    assert abs(float(fmt["duration"]) - 3.2) <= 0.08
    assert res.duration == pytest.approx(3.2, abs=0.01)
    for t, colour in ((0.5, "blue"), (1.5, "red"), (2.6, "green")):
        assert _closest(_pixel(out, t)) == colour, f"{colour} expected at {t}s"
        assert abs(_dominant_hz(out, t - 0.3, t + 0.3) - TONES[colour]) < 15, f"{colour}'s tone expected at {t}s"


@pytest.mark.slow
def test_rotate_flip_titles_volume_and_resolution(tmp_path: Path, tools) -> None:
    src = tmp_path / "wide.mp4"
    # left half red, right half blue: flips and rotations move the colours predictably
    M.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=128x144:r=25:d=2[l];color=c=blue:s=128x144:r=25:d=2[r];[l][r]hstack",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:r=48000:d=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        str(src),
    )
    project = _project(
        [
            {
                "media": str(src),
                "end": 1.0,
                "titles": [
                    {
                        "text": "Chapter: one, 100%",
                        "start": 0.0,
                        "duration": 0.6,
                        "color": "#00FF00",
                        "size": 40,
                        "position": "center",
                    }
                ],
            },
            {"media": str(src), "end": 1.0, "flip": "horizontal", "volume": 0.5},
            {"media": str(src), "end": 1.0, "rotate": 90},
        ],
        output={"quality": "draft", "enhance": False, "resolution": "720p"},
    )
    res = export_project(project, tmp_path / "ops.mp4", tools, preset=BUILTIN_PRESETS["podcast"])
    out = Path(res.output)
    assert (res.width, res.height) == (1280, 720)
    v = next(s for s in M.probe(out)["streams"] if s["codec_type"] == "video")
    assert (v["width"], v["height"]) == (1280, 720)
    assert _closest(_pixel(out, 0.8, x=0.25)) == "red" and _closest(_pixel(out, 0.8, x=0.75)) == "blue"
    assert _green_pixels(out, 0.3) > 500 and _green_pixels(out, 0.8) == 0  # the green title is there, then gone
    assert _closest(_pixel(out, 1.5, x=0.25)) == "blue" and _closest(_pixel(out, 1.5, x=0.75)) == "red"  # flipped
    # rotated clockwise: left (red) becomes top, pillarboxed in the 16:9 frame
    assert _closest(_pixel(out, 2.5, x=0.5, y=0.3)) == "red" and _closest(_pixel(out, 2.5, x=0.5, y=0.7)) == "blue"
    assert sum(_pixel(out, 2.5, x=0.05)) < 40  # black bars beside the portrait picture
    data, rate = M.decode_audio(out)
    rms = lambda a, b: float(np.sqrt(np.mean(data[int(a * rate) : int(b * rate), 0] ** 2)))  # noqa: E731
    assert 20 * np.log10(rms(1.2, 1.8) / rms(0.2, 0.8)) == pytest.approx(-6.0, abs=0.5)  # volume 0.5 = -6 dB


@pytest.mark.slow
def test_music_is_mixed_under_and_the_export_is_enhanced(tmp_path: Path, tools) -> None:
    speech = M.make_video(tmp_path / "talk.mp4", 4.0, level=0.02, noise=0.004, pause_every=4.0, pause=1.5)
    music = tmp_path / "music.wav"
    M.ffmpeg("-f", "lavfi", "-i", "sine=f=1500:r=48000:d=1.5", "-c:a", "pcm_s16le", str(music))
    project = _project(
        [{"media": str(speech)}],
        audio_tracks=[{"media": str(music), "volume_db": -12, "loop": True, "duck": False}],
        output={"quality": "draft"},
    )
    res = export_project(project, tmp_path / "mix.mp4", tools, preset=BUILTIN_PRESETS["podcast"])
    out = Path(res.output)
    assert abs(_dominant_hz(out, 0.2, 1.3) - 1500) < 20  # the speech pauses at the start: the looped music is heard
    assert abs(M.loudness(out) - -16.0) <= 0.5
    assert res.audio is not None and res.notes


@pytest.mark.slow
def test_trimmed_segments_keep_picture_and_sound_in_sync(tmp_path: Path, tools) -> None:
    clip = M.make_sync_clip(tmp_path / "sync.mp4", 10.0, (2.0, 5.5, 8.6))
    project = _project(
        [{"media": str(clip), "start": 4.9, "end": 6.3}, {"media": str(clip), "start": 1.3, "end": 2.7}],
        output={"quality": "draft", "enhance": False},
    )
    res = export_project(project, tmp_path / "s.mp4", tools, preset=BUILTIN_PRESETS["podcast"])
    out = Path(res.output)
    flashes, beeps = M.events(out, "video"), M.events(out, "audio")
    assert len(flashes) == len(beeps) == 2, (flashes, beeps)
    # where the segments put them, within two frames (cuts fall on frame boundaries)
    assert abs(flashes[0] - 0.6) <= 0.085 and abs(flashes[1] - (1.4 + 0.7)) <= 0.085
    for f, b in zip(flashes, beeps):
        assert abs(f - b) <= 0.045


def test_project_file_errors_name_the_field(tmp_path: Path) -> None:
    cases = {
        "no segments": ("name='x'\nsegments=[]\n", "segments: at least one"),
        "bad end": ("[[segments]]\nmedia='a.mp4'\nstart=3\nend=2\n", r"segments\[0\].end: must be greater than start"),
        "bad rotate": ("[[segments]]\nmedia='a.mp4'\nrotate=45\n", r"segments\[0\].rotate"),
        "bad colour": (
            "[[segments]]\nmedia='a.mp4'\n[[segments.titles]]\ntext='x'\ncolor='red;drawbox'\n",
            r"titles\[0\].color",
        ),
        "unknown key": ("[[segments]]\nmedia='a.mp4'\nspeed=2\n", "unknown key 'speed'"),
        "bad format": ("[output]\nformat='gif'\n[[segments]]\nmedia='a.mp4'\n", "output.format"),
        "not toml": ("[[segments]\n", "not valid TOML"),
    }
    for name, (text, pattern) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.toml"
        path.write_text(text)
        with pytest.raises(ProjectError, match=pattern):
            load_project(path)
    with pytest.raises(ProjectError, match="not found"):
        load_project(tmp_path / "missing.toml")


def test_segment_outside_its_media_is_refused(tmp_path: Path, tools) -> None:
    clip = _colour_clip(tmp_path / "red.mp4", "red", 1.0)
    with pytest.raises(ProjectError, match=r"segments\[0\]: 5–6 s is outside red.mp4"):
        export_project(
            _project([{"media": str(clip), "start": 5, "end": 6}]),
            tmp_path / "o.mp4",
            tools,
            preset=BUILTIN_PRESETS["podcast"],
        )
    assert not (tmp_path / "o.mp4").exists()


def test_cli_export_from_a_json_project(tmp_path: Path) -> None:
    _colour_clip(tmp_path / "red.mp4", "red", 1.5)
    _colour_clip(tmp_path / "blue.mp4", "blue", 1.5)
    (tmp_path / "p.json").write_text(
        json.dumps(
            {
                "name": "cli",
                "segments": [{"media": "red.mp4", "end": 1.0}, {"media": "blue.mp4", "end": 1.0}],
                "output": {"quality": "draft"},
            }
        )
    )
    run = subprocess.run(
        [CLI, "export", str(tmp_path / "p.json"), "--json", "--format", "mkv"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["output"].endswith("p.mkv") and result["segments"] == 2
    assert abs(float(M.probe(tmp_path / "p.mkv")["format"]["duration"]) - 2.0) <= 0.1
    again = subprocess.run([CLI, "export", str(tmp_path / "p.json"), "--format", "mkv"], capture_output=True, text=True)
    assert again.returncode == 2 and "--force" in again.stderr  # never overwrites without asking
    bad = subprocess.run([CLI, "export", str(tmp_path / "nope.toml")], capture_output=True, text=True)
    assert bad.returncode == 25 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1


@pytest.mark.slow
def test_audio_tracks_play_their_spans_one_after_the_other(tmp_path: Path, tools) -> None:
    from mediaenhancer_core.engine.export import AudioTrack, ExportOptions, Segment

    picture = tmp_path / "black.mp4"
    M.ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=black:s=160x120:r=25:d=4",
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=48000:cl=stereo",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        str(picture),
    )
    low, high = tmp_path / "low.wav", tmp_path / "high.wav"
    # two tones with a click at 1 s: the click must not be heard (only the span 1.5-3.0 s of each is used)
    for path, hz in ((low, 400), (high, 1200)):
        M.ffmpeg("-f", "lavfi", "-i", f"sine=f={hz}:r=48000:d=4", "-c:a", "pcm_s16le", str(path))
    project = Project(
        name="tracks",
        segments=[Segment(media=str(picture))],
        audio_tracks=[
            AudioTrack(media=str(low), volume_db=0, start=None, duck=False, source_start=1.5, source_end=3.0),
            AudioTrack(media=str(high), volume_db=0, start=None, duck=False, source_start=1.5, source_end=3.0),
        ],
        output=ExportOptions(quality="draft", enhance=False),
    )
    res = export_project(project, tmp_path / "tracks.mp4", tools, preset=BUILTIN_PRESETS["podcast"])
    out = Path(res.output)
    assert abs(_dominant_hz(out, 0.2, 1.3) - 400) < 15  # the first track's 1.5 s span, from 0
    assert abs(_dominant_hz(out, 1.7, 2.8) - 1200) < 15  # then the second's, right after
    data, rate = M.decode_audio(out)
    tail = data[int(3.2 * rate) : int(3.9 * rate), 0]
    assert float(np.sqrt(np.mean(tail**2))) < 1e-3  # both spans over: silence


def test_stored_project_segments_become_an_export(tmp_path: Path) -> None:
    from mediaenhancer_core.jobs.handlers import project_from_api

    data = {
        "name": "p",
        "segments": [
            {
                "media_id": "m1",
                "track": "main",
                "start": 1.0,
                "end": 2.0,
                "transformations": {
                    "volume": 0.5,
                    "rotate": 90,
                    "flip": "h",
                    "titles": [{"text": "Hi", "color": "#FF0000"}],
                },
            },
            {
                "media_id": "m2",
                "track": "audio",
                "start": 3.0,
                "end": 9.0,
                "transformations": {"volume_db": -20, "loop": False},
            },
        ],
    }
    p = project_from_api(data, {"format": "mkv", "resolution": "720p"})
    seg = p.segments[0]
    assert (seg.media, seg.start, seg.end, seg.rotate, seg.flip) == ("m1", 1.0, 2.0, 90, "h")
    assert abs(seg.volume_db - -6.02) < 0.01 and seg.titles[0].color == "#FF0000"
    track = p.audio_tracks[0]
    assert (track.media, track.volume_db, track.start, track.source_start, track.source_end) == (
        "m2",
        -20.0,
        None,
        3.0,
        9.0,
    )
    assert (p.output.format, p.output.resolution) == ("mkv", "720p")
    with pytest.raises(Exception, match="no segments on its main track"):
        project_from_api({"segments": [{"media_id": "m", "track": "audio", "transformations": {}}]}, {})
