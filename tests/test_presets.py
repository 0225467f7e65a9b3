"""Presets: the built-in ones, the user's TOML files, and invalid or unknown ones (issue 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediaenhancer_cli.app import app
from mediaenhancer_core.exit_codes import ExitCode
from tests import media as M


def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


@pytest.fixture
def presets_dir() -> Path:
    # conftest points MEDIAENHANCER_CONFIG_DIR into a fresh temporary home for every test
    d = Path(os.environ["MEDIAENHANCER_CONFIG_DIR"]) / "presets"
    d.mkdir(parents=True)
    return d


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _speech(p: Path) -> Path:
    return M.make_audio(p, 3.0, ("-c:a", "pcm_s16le"), level=0.03, noise=0.004, hum_hz=50, hum=0.03)


def _presets_json() -> dict:
    result = cli("presets", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- built-in


def test_builtin_presets_are_listed_with_their_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a wide table: no cell is wrapped
    found = _presets_json()
    expected = {"podcast": (-16.0, -1.5), "streaming": (-14.0, -1.0), "broadcast": (-23.0, -1.0)}
    for name, (lufs, peak) in expected.items():
        assert (found[name]["target_lufs"], found[name]["true_peak"]) == (lufs, peak), name
        assert found[name]["source"] == "built-in"
    table = cli("presets")
    assert table.exit_code == 0
    for name in found:
        assert name in table.stdout
    assert "podcast (default)" in table.stdout
    assert str(Path(os.environ["MEDIAENHANCER_CONFIG_DIR"]) / "presets") in " ".join(table.stdout.split())


def test_the_default_preset_setting_moves_the_default_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAENHANCER_PRESET", "broadcast")
    monkeypatch.setenv("COLUMNS", "200")
    out = cli("presets").stdout
    assert "broadcast (default)" in out and "podcast (default)" not in out


def test_the_default_preset_setting_is_used_by_enhance(here: Path, media, monkeypatch: pytest.MonkeyPatch) -> None:
    media("speech.wav", _speech, here)
    monkeypatch.setenv("MEDIAENHANCER_PRESET", "broadcast")
    (o,) = [json.loads(ln) for ln in cli("enhance", "--json", "--dry-run", "speech.wav").stdout.splitlines()]
    assert o["plan"]["preset"] == "broadcast"
    assert o["plan"]["loudness"]["target_lufs"] == -23.0


def test_music_preset_skips_the_speech_cleanups(here: Path, media) -> None:
    from tests.audio_meters import noisy_speech

    media("noisy.wav", lambda p: noisy_speech(p, hum_hz=50), here)
    plans = {}
    for preset in ("podcast", "music"):
        (o,) = [
            json.loads(ln)
            for ln in cli("enhance", "--json", "--dry-run", "--preset", preset, "noisy.wav").stdout.splitlines()
        ]
        plans[preset] = {s["filter"] for s in o["plan"]["audio_steps"]}
    # (a single short turn of speech: nothing for the leveler to level against)
    assert {"deepfilternet", "compressor"} <= plans["podcast"]
    assert not plans["music"] & {"deepfilternet", "afftdn", "leveler", "compressor", "bandreject", "highpass"}


# --------------------------------------------------------------------------- user presets


def test_a_user_preset_is_listed_and_used(here: Path, presets_dir: Path, media) -> None:
    (presets_dir / "myshow.toml").write_text(
        'description = "My show: quieter, gentle"\ntarget_lufs = -20\ntrue_peak = -2.0\nvideo = false\n'
    )
    found = _presets_json()
    assert found["myshow"]["target_lufs"] == -20.0 and found["myshow"]["true_peak"] == -2.0
    assert found["myshow"]["video"] is False
    assert found["myshow"]["source"] == str(presets_dir / "myshow.toml")
    assert "myshow" in cli("presets").stdout

    media("speech.wav", _speech, here)
    result = cli("enhance", "--json", "--preset", "myshow", "speech.wav")
    assert result.exit_code == 0, result.stderr
    (o,) = [json.loads(ln) for ln in result.stdout.splitlines()]
    assert o["plan"]["preset"] == "myshow"
    out = here / "speech.enhanced.wav"
    assert abs(M.loudness(out) - (-20.0)) <= 0.5
    assert M.true_peak(out) <= -2.0 + 0.05


def test_a_user_preset_can_replace_a_builtin(here: Path, presets_dir: Path, media) -> None:
    (presets_dir / "podcast.toml").write_text("target_lufs = -18\n")
    found = _presets_json()
    assert found["podcast"]["target_lufs"] == -18.0
    assert found["podcast"]["true_peak"] == -1.5  # unset keys keep the defaults
    media("speech.wav", _speech, here)
    (o,) = [json.loads(ln) for ln in cli("enhance", "--json", "--dry-run", "speech.wav").stdout.splitlines()]
    assert o["plan"]["loudness"]["target_lufs"] == -18.0


def test_command_line_targets_override_the_preset(here: Path, presets_dir: Path, media) -> None:
    (presets_dir / "myshow.toml").write_text("target_lufs = -20\n")
    media("speech.wav", _speech, here)
    (o,) = [
        json.loads(ln)
        for ln in cli(
            "enhance", "--json", "--dry-run", "--preset", "myshow", "--target-lufs", "-17", "speech.wav"
        ).stdout.splitlines()
    ]
    assert o["plan"]["loudness"]["target_lufs"] == -17.0


def test_files_that_are_not_toml_are_ignored(presets_dir: Path) -> None:
    (presets_dir / "notes.txt").write_text("target_lufs = -99\n")
    assert "notes" not in _presets_json()


# --------------------------------------------------------------------------- invalid


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("target_lufs = -16\nloudness = 3\n", "unknown key 'loudness'"),
        ("target_lufs = -60\n", "target_lufs"),
        ("target_lufs = 0\n", "target_lufs"),
        ("true_peak = 2\n", "true_peak"),
        ("true_peak = -12\n", "true_peak"),
        ('target_lufs = "loud"\n', "must be a number"),
        ("target_lufs = true\n", "must be a number"),
        ('denoise = "yes"\n', "true or false"),
        ("target_lufs = [\n", "cannot read preset"),
        ("name = 'other'\n", "unknown key 'name'"),
    ],
    ids=[
        "unknown-key",
        "target-too-low",
        "target-too-high",
        "peak-above-0",
        "peak-too-low",
        "target-string",
        "target-bool",
        "flag-string",
        "broken-toml",
        "name-key",
    ],
)
@pytest.mark.parametrize("command", ["presets", "enhance"])
def test_invalid_user_preset_is_preset_invalid(
    here: Path, presets_dir: Path, media, text: str, needle: str, command: str
) -> None:
    (presets_dir / "bad.toml").write_text(text)
    args = ["presets"] if command == "presets" else ["enhance", "--preset", "bad", "speech.wav"]
    if command == "enhance":
        media("speech.wav", _speech, here)
    result = cli(*args)
    assert result.exit_code == ExitCode.PRESET_INVALID, (result.exit_code, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "bad.toml" in lines[0] and needle in lines[0], lines[0]
    assert sorted(p.name for p in here.iterdir()) == (["speech.wav"] if command == "enhance" else [])


def test_unknown_preset_name_is_preset_invalid(here: Path, media) -> None:
    media("speech.wav", _speech, here)
    result = cli("enhance", "--preset", "nosuch", "speech.wav")
    assert result.exit_code == ExitCode.PRESET_INVALID
    line = result.stderr.strip()
    assert "'nosuch'" in line and "podcast" in line and "mediaenhancer presets" in line
    assert sorted(p.name for p in here.iterdir()) == ["speech.wav"]


def test_unknown_default_preset_setting_is_preset_invalid(here: Path, media, monkeypatch: pytest.MonkeyPatch) -> None:
    media("speech.wav", _speech, here)
    monkeypatch.setenv("MEDIAENHANCER_PRESET", "nosuch")
    result = cli("enhance", "speech.wav")
    assert result.exit_code == ExitCode.PRESET_INVALID
    assert "'nosuch'" in result.stderr
