#!/usr/bin/env python3
"""Where the SI-SDR goes, stage by stage, at unity gain (issue 13).

    .venv/bin/python bench/audio_stages.py [--snr 10] [--snr 5] [--json FILE]

The same mixtures as bench/quality_audio.py (five clean voices x four recorded noises, mixed
with its own ``mix``) and its own ``si_sdr`` / ``align``, so the figures match the quality bench.
Each mixture is enhanced by the CLI at unity gain (``--target-lufs`` = the input's loudness, as
the quality bench does) with ``--save-plan``; then the plan's steps are replayed one at a time:

- ``filters``: the plan's ffmpeg steps alone (rumble high-pass, hum notches), rendered by the CLI
  from the saved plan with the Python steps taken out (the input when there are none);
- ``denoiser`` / ``leveler`` / ``compressor``: the engine's own stream classes with the plan's
  parameters, each on the previous stage's output (a stage the plan does not hold is skipped);
- ``output``: the file the CLI wrote (its loudness step: the exact gain, and the true-peak limiter
  when the plan has one).

``denoiser alone`` is the neural denoiser on the raw mixture. Medians are of the gain over the
input's SI-SDR.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality_audio as qa  # the quality bench: its loaders, mixer and SI-SDR

STAGES = ("filters", "deepfilternet", "leveler", "compressor")


def python_stage(step: dict, x: np.ndarray) -> np.ndarray:
    from mediaenhancer_core.engine.audiostage import AudioStage
    from mediaenhancer_core.engine.plan import FilterStep

    stage = AudioStage([FilterStep(step["filter"], step["params"], "")], 1, workers=1)
    (_, obj) = stage.stages[0]
    y = np.concatenate([obj.process(x.astype(np.float32)[:, None]), obj.flush()])
    return y[:, 0].astype(np.float64)


def one(work: Path, tag: str, clean: np.ndarray, x: np.ndarray) -> dict:
    from mediaenhancer_core.engine.filters import is_python_step

    src = qa.write(work / f"{tag}.wav", x)
    target = f"{max(-40.0, min(-5.0, qa.loudness(x))):.2f}"
    plan_path, out = work / f"{tag}.plan.json", work / f"{tag}.out.wav"
    subprocess.run(
        [qa.CLI, "enhance", str(src), "-o", str(out), "--force", "-q", "--target-lufs", target]
        + ["--save-plan", str(plan_path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    plan = json.loads(plan_path.read_text())
    steps = plan["audio_steps"]
    row: dict = {"case": tag, "steps": [s["filter"] for s in steps], "loudness": plan["loudness"]["mode"]}
    row["input"] = qa.si_sdr(x, clean)
    ffmpeg_only = [s for s in steps if not is_python_step(s["filter"])]
    y = x
    if ffmpeg_only:
        pre = dict(plan, audio_steps=ffmpeg_only)
        (work / f"{tag}.pre.json").write_text(json.dumps(pre))
        subprocess.run(
            [qa.CLI, "enhance", str(src), "-o", str(work / f"{tag}.pre.wav"), "--force", "-q"]
            + ["--plan", str(work / f"{tag}.pre.json")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        y = qa.align(qa.load(work / f"{tag}.pre.wav"), clean)[: len(x)]
        row["filters"] = qa.si_sdr(y, clean)
    for s in steps:
        if is_python_step(s["filter"]):
            y = python_stage(s, y)
            row[s["filter"]] = qa.si_sdr(y, clean)
            if s["filter"] == "deepfilternet":
                row["atten_lim_db"] = s["params"].get("atten_lim_db")
                row["denoiser alone"] = qa.si_sdr(python_stage(s, x), clean)
    row["output"] = qa.si_sdr(qa.align(qa.load(out), clean), clean)
    return row


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snr", type=float, action="append", help="SNR of the mixtures (dB); repeatable, default 10")
    ap.add_argument("--json", type=Path, help="also write every row to this file")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="audio-stages-") as tmp:
        work = Path(tmp)
        for snr in args.snr or [10.0]:
            for name in qa.CLEAN:
                clean = qa.load(qa.MEDIA / name)
                for noise in qa.NOISES:
                    tag = f"{name.removesuffix('.flac')}+{noise.removesuffix('.flac')}@{snr:g}"
                    row = one(work, tag, clean, qa.mix(clean, qa.load(qa.MEDIA / noise), snr))
                    row["snr"] = snr
                    rows.append(row)
                    cells = " ".join(
                        f"{k} {row[k] - row['input']:+.2f}" for k in ("denoiser alone", *STAGES, "output") if k in row
                    )
                    print(f"  {tag:<58} input {row['input']:5.2f}  {cells}  [{row['loudness']}]", flush=True)
    print("\nmedian SI-SDR gain over the input (n = mixtures whose plan holds the stage):")
    for snr in args.snr or [10.0]:
        group = [r for r in rows if r["snr"] == snr]
        cells = []
        for k in ("denoiser alone", *STAGES, "output"):
            have = [r[k] - r["input"] for r in group if k in r]
            if have:
                cells.append(f"{k} {statistics.median(have):+.2f} (n={len(have)})")
        print(f"  {snr:g} dB SNR: " + ", ".join(cells))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
