#!/usr/bin/env python3
"""How much better `enhance` makes real recordings, measured by meters the engine does not share.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/quality.py            # both parts
    .venv/bin/python bench/quality.py audio      # speech: DNSMOS P.835, SI-SDR, STOI, real-time factor
    .venv/bin/python bench/quality.py video      # footage: PSNR, SSIM, VMAF, speed against x264

The audio part lives in bench/quality_audio.py, the video part in bench/quality_video.py;
each prints its own table and its goals, and exits non-zero when a goal is missed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

PARTS = ("audio", "video")


def main(argv: list[str]) -> int:
    parts = [a for a in argv if a in PARTS] or list(PARTS)
    rest = [a for a in argv if a not in PARTS]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    status = 0
    for part in parts:
        module = importlib.import_module(f"quality_{part}")
        status = module.main(rest) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
