"""Enhancement presets: built-in ones and the user's own TOML files.

A preset is a named set of defaults for an enhancement: loudness target, true-peak
ceiling and which cleanups run. User presets live in ``<config>/presets/NAME.toml``
(one preset per file, the file name is the preset name) and may override built-ins.

Example ``~/.config/mediaenhancer/presets/myshow.toml``::

    description = "My show: a little louder, no video changes"
    target_lufs = -15
    true_peak = -1.0
    video = false
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaenhancer_core.errors import PresetError

__all__ = ["Preset", "BUILTIN_PRESETS", "load_presets", "get_preset"]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    target_lufs: float = -16.0
    true_peak: float = -1.5
    denoise: bool = True  # neural noise reduction of speech when the noise in the pauses calls for it
    dehum: bool = True
    derumble: bool = True
    declip: bool = True
    video: bool = True  # video levels/colour/denoise/sharpen when measurements call for it
    sharpen: bool = True
    leveler: float = 1.0  # 0..1: how much of each speech segment's distance to the common level is corrected
    compression: float = 1.0  # 0..1: gentle peak compression of speech (1: 4:1 on the peaks the target has no room for)
    source: str = "built-in"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


BUILTIN_PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "podcast",
            "Spoken word: -16 LUFS, -1.5 dBTP (Apple Podcasts, Spotify speech); speakers levelled fully",
            -16.0,
            -1.5,
        ),
        Preset(
            "streaming",
            "Music and video streaming: -14 LUFS, -1 dBTP (YouTube, Spotify); speech levelled most of the way",
            -14.0,
            -1.0,
            leveler=0.7,
            compression=0.7,
        ),
        Preset(
            "broadcast",
            "EBU R128 broadcast: -23 LUFS, -1 dBTP; speech levelled lightly",
            -23.0,
            -1.0,
            leveler=0.5,
            compression=0.3,
        ),
        Preset(
            "atsc",
            "ATSC A/85 US broadcast: -24 LKFS, -2 dBTP; speech levelled lightly",
            -24.0,
            -2.0,
            leveler=0.5,
            compression=0.3,
        ),
        Preset(
            "music",
            "Music: -14 LUFS, -1 dBTP, no noise reduction, hum filters, levelling or compression",
            -14.0,
            -1.0,
            denoise=False,
            dehum=False,
            derumble=False,
            leveler=0.0,
            compression=0.0,
        ),
        Preset("voice-clean", "Spoken word, gentle: -16 LUFS, video untouched", -16.0, -1.5, video=False),
    )
}

_FIELDS = {f.name: f for f in dataclasses.fields(Preset)}
_USER_KEYS = set(_FIELDS) - {"name", "source"}


def _validate(name: str, data: dict[str, Any], source: str) -> Preset:
    unknown = sorted(set(data) - _USER_KEYS)
    if unknown:
        raise PresetError(f"{source}: unknown key {unknown[0]!r}; valid keys are {', '.join(sorted(_USER_KEYS))}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("target_lufs", "true_peak"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PresetError(f"{source}: {key} must be a number, got {value!r}")
            values[key] = float(value)
        elif key in ("leveler", "compression"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise PresetError(f"{source}: {key} must be a number from 0 to 1, got {value!r}")
            values[key] = float(value)
        elif key == "description":
            values[key] = str(value)
        else:
            if not isinstance(value, bool):
                raise PresetError(f"{source}: {key} must be true or false, got {value!r}")
            values[key] = value
    target = values.get("target_lufs", -16.0)
    peak = values.get("true_peak", -1.5)
    if not -40.0 <= target <= -5.0:
        raise PresetError(f"{source}: target_lufs {target} is outside -40..-5 LUFS")
    if not -9.0 <= peak <= 0.0:
        raise PresetError(f"{source}: true_peak {peak} is outside -9..0 dBTP")
    values.setdefault("description", f"User preset {name}")
    return Preset(name=name, source=source, **values)


def load_presets(config_dir: Path | None) -> dict[str, Preset]:
    """Built-in presets, then the user's (which may replace a built-in of the same name)."""
    presets = dict(BUILTIN_PRESETS)
    if config_dir is None:
        return presets
    folder = config_dir / "presets"
    if not folder.is_dir():
        return presets
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise PresetError(f"{path}: cannot read preset ({exc}); fix or remove the file") from None
        presets[path.stem] = _validate(path.stem, data, str(path))
    return presets


def get_preset(name: str, config_dir: Path | None) -> Preset:
    presets = load_presets(config_dir)
    try:
        return presets[name]
    except KeyError:
        raise PresetError(
            f"unknown preset {name!r}; choose one of {', '.join(sorted(presets))} (see `mediaenhancer presets`)"
        ) from None
