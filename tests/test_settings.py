"""Settings: precedence, types, errors, and that every one is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mediaenhancer_core.errors import ConfigError
from mediaenhancer_core.settings import Secret, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_documented() -> None:
    text = "\n".join(p.read_text("utf-8") for p in sorted(DOCS.glob("*.md")))
    missing = [
        f.name for f in Settings.fields() if f"`{f.name}`" not in text or f"`{Settings.env_name(f.name)}`" not in text
    ]
    assert not missing, f"undocumented settings (add them to a table in docs/): {missing}"


def test_every_setting_has_help_text() -> None:
    assert all(len(f.metadata.get("help", "")) > 10 for f in Settings.fields())


def test_environment_beats_config_file_beats_default(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('preset = "broadcast"\njobs = 3\nquality = "high"\n')
    env = {"MEDIAENHANCER_CONFIG": str(cfg), "MEDIAENHANCER_JOBS": "2"}
    s = Settings.load(env)
    assert s.jobs == 2  # environment
    assert s.preset == "broadcast" and s.quality == "high"  # file
    assert s.ffmpeg_threads == 0  # default
    assert Settings.load(env, overrides={"jobs": 5}).jobs == 5  # command line


def test_config_file_in_the_config_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('preset = "music"\n')
    assert Settings.load({"MEDIAENHANCER_CONFIG_DIR": str(tmp_path)}).preset == "music"
    assert Settings.load({"MEDIAENHANCER_CONFIG_DIR": str(tmp_path / "none")}).preset == "podcast"


@pytest.mark.parametrize(
    ("env", "file", "pattern"),
    [
        ({"MEDIAENHANCER_JOBS": "many"}, None, r"MEDIAENHANCER_JOBS: invalid value 'many'"),
        ({"MEDIAENHANCER_JOBS": "0"}, None, r"MEDIAENHANCER_JOBS: must be 1 or more"),
        ({"MEDIAENHANCER_QUALITY": "ultra"}, None, r"MEDIAENHANCER_QUALITY: unknown quality"),
        ({"MEDIAENHANCER_S3_CHECKSUM": "md5"}, None, r"MEDIAENHANCER_S3_CHECKSUM: use crc32 or off, got 'md5'"),
        ({}, "jobs = \n", r"config.toml: not valid TOML"),
        ({}, 'colour = "blue"\n', r"config.toml: unknown setting 'colour'"),
        ({}, 'jobs = "three"\n', r"config.toml \[jobs\]: invalid value"),
    ],
)
def test_bad_values_name_the_variable_or_file(tmp_path: Path, env: dict, file: str | None, pattern: str) -> None:
    env = dict(env)
    if file is not None:
        (tmp_path / "config.toml").write_text(file)
    env["MEDIAENHANCER_CONFIG_DIR"] = str(tmp_path)
    with pytest.raises(ConfigError, match=pattern):
        Settings.load(env)


def test_explicit_config_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        Settings.load({"MEDIAENHANCER_CONFIG": str(tmp_path / "missing.toml")})


def test_secrets_never_show() -> None:
    secret = Secret("sk_live_abc")
    assert "sk_live_abc" not in repr(secret) and secret.reveal() == "sk_live_abc"
    secret_fields = [f.name for f in Settings.fields() if f.metadata.get("secret")]
    if secret_fields:
        s = Settings.load({Settings.env_name(secret_fields[0]): "hunter2-secret"})
        assert "hunter2-secret" not in repr(s.public_dict())


def test_core_never_reads_os_environ() -> None:
    core = Path(__file__).resolve().parent.parent / "src" / "mediaenhancer_core"
    offenders = [
        str(p.relative_to(core))
        for p in core.rglob("*.py")
        if re.search(r"\bos\.environ\[|\bos\.environ\.get|\bos\.getenv\(|\bos\.environ\)", p.read_text("utf-8"))
    ]
    assert not offenders, f"the core must take settings as arguments: {offenders}"
