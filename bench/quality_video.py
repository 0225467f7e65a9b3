#!/usr/bin/env python3
"""Video part of bench/quality.py: `enhance` on real footage with known damage, judged against the clean clip.

    .venv/bin/python bench/quality.py video                # quality table (about 2-4 minutes on 2 cores)
    .venv/bin/python bench/quality.py video --speed        # also the 1080p speed ratio (60 s clip; slow)
    .venv/bin/python bench/quality.py video --speed --seconds 20
    .venv/bin/python bench/quality_video.py --clips forest --cases σ10 --clip-seconds 2 --try 'hqdn3d=10,unsharp'
        (a subset, shorter clips, and extra filter chains scored beside enhance)

Damage: σ 5, 10 and 20 grain (ffmpeg `noise`, σ ≈ 0.55·alls, new each frame), dark and flat levels,
a colour cast. Each case is scored for the damaged input, `mediaenhancer enhance`, and a naive
`hqdn3d` + `eq` command, by PSNR and SSIM (ffmpeg's filters) and VMAF (libvmaf, in the bundled
ffmpeg; blank where the binary lacks it). Speed is a ratio against an x264 encode of the same clip
at the engine's preset, measured in the same run (these machines are noisy): no absolute times.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEDIA = ROOT / "tests" / "data" / "media"
CLIPS = {"indoor": MEDIA / "video-indoor-steady.mp4", "forest": MEDIA / "video-forest-autumn-9s.mp4"}
CASES = {
    "clean": "null",
    "σ5": "noise=alls=9:allf=t",
    "σ10": "noise=alls=18:allf=t",
    "σ20": "noise=alls=36:allf=t",
    "dark+flat": "eq=brightness=-0.15:contrast=0.6",
    "σ10+dark+flat": "noise=alls=18:allf=t,eq=brightness=-0.15:contrast=0.6",
    "cast": "lutyuv=u=val+12:v=val-10",
}
NAIVE = "hqdn3d=8:6:12:9,eq=contrast=1.2:brightness=0.05"
ENHANCE = [str(Path(sys.executable).with_name("mediaenhancer")), "enhance"]


def ffmpeg_bin() -> str:
    import imageio_ffmpeg  # the bundled ffmpeg 9 has libvmaf

    return imageio_ffmpeg.get_ffmpeg_exe()


def sh(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True).stderr


# Both sides are paired by frame index, not by timestamp: the clean reference is ffv1 in Matroska (1 ms
# time base) and the rest is MP4 (1/30000), so at 29.97 fps the rounded timestamps let ffmpeg's framesync
# pair frame n with frame n-1 for part of the clip. That scored the forest clip's untouched x264 copy at
# PSNR 27 / VMAF 65 against its own source; paired by index it is PSNR 42 / VMAF 99.8.
ALIGN = "settb=1/25,setpts=N"
# VMAF NEG (vmaf_v0.6.1neg, "no enhancement gain") is printed beside plain VMAF: plain VMAF rewards contrast
# and sharpening that are not in the reference (the naive hqdn3d+eq scores VMAF 100 at PSNR 24), NEG caps
# that gain, so it judges a cleanup without crediting a boost.
VMAF_MODELS = "version=vmaf_v0.6.1\\\\:name=vmaf|version=vmaf_v0.6.1neg\\\\:name=neg"


def frames(ff: str, path: Path) -> int:
    err = sh(ff, "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-")
    found = re.findall(r"frame=\s*(\d+)", err)
    return int(found[-1]) if found else 0


def score(ff: str, out: Path, clean: Path) -> dict[str, float | None]:
    n_out, n_clean = frames(ff, out), frames(ff, clean)
    if n_out != n_clean:
        raise SystemExit(f"{out.name}: {n_out} frames against {n_clean} in the reference; cannot pair them")
    with tempfile.TemporaryDirectory(prefix="me-vmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        vmaf = f";[a2][b2]libvmaf=model={VMAF_MODELS}:log_fmt=json:log_path={log}" if _has_vmaf(ff) else ""
        n = 3 if vmaf else 2
        err = sh(
            ff,
            "-hide_banner",
            "-nostats",
            "-i",
            str(out),
            "-i",
            str(clean),
            "-lavfi",
            f"[0:v]{ALIGN},split={n}[a0][a1]{'[a2]' if vmaf else ''};[1:v]{ALIGN},split={n}[b0][b1]{'[b2]' if vmaf else ''};"
            f"[a0][b0]ssim;[a1][b1]psnr{vmaf}",
            "-f",
            "null",
            "-",
        )
        pooled = json.loads(log.read_text())["pooled_metrics"] if vmaf else {}
    ssim = re.search(r"SSIM .*All:([0-9.]+)", err)
    psnr = re.search(r"PSNR .*average:([0-9.inf]+)", err)
    return {
        "psnr": float(psnr.group(1)) if psnr and psnr.group(1) != "inf" else 99.0,
        "ssim": float(ssim.group(1)) if ssim else None,
        "vmaf": pooled["vmaf"]["mean"] if pooled else None,
        "neg": pooled["neg"]["mean"] if pooled else None,
    }


_VMAF: dict[str, bool] = {}


def _has_vmaf(ff: str) -> bool:
    if ff not in _VMAF:
        _VMAF[ff] = "libvmaf" in subprocess.run([ff, "-hide_banner", "-filters"], capture_output=True, text=True).stdout
    return _VMAF[ff]


def enhance(src: Path, dest: Path) -> tuple[float, dict]:
    t0 = time.monotonic()
    out = subprocess.run([*ENHANCE, str(src), "-o", str(dest), "--json"], capture_output=True, text=True, cwd=ROOT)
    took = time.monotonic() - t0
    if out.returncode != 0:
        raise SystemExit(f"enhance failed on {src}: {out.stderr[-400:]}")
    data = json.loads(out.stdout)
    return took, data


def _row(name: str, case: str, who: str, r: dict, note: str = "") -> None:
    v = "".join(f" {r[k]:6.2f}" if r[k] is not None else "      –" for k in ("vmaf", "neg"))
    print(f"{name:7} {case:14} {who:10} {r['psnr']:6.2f} {r['ssim'] or 0:6.3f}{v}   {note}")


def quality(ff: str, work: Path, clips: list[str], cases: list[str], seconds: float, tries: list[str]) -> list[str]:
    missed: list[str] = []
    print(f"{'clip':7} {'case':14} {'':10} {'PSNR':>6} {'SSIM':>6} {'VMAF':>6} {'NEG':>6}   plan")
    for name in clips:
        clean = work / f"{name}-clean.mkv"
        sh(
            ff,
            "-y",
            "-i",
            str(CLIPS[name]),
            "-t",
            str(seconds),
            "-an",
            "-c:v",
            "ffv1",
            "-pix_fmt",
            "yuv420p",
            str(clean),
        )
        for case in cases:
            bad = work / f"{name}-{case}.mp4"
            sh(
                ff,
                "-y",
                "-i",
                str(clean),
                "-vf",
                CASES[case],
                "-c:v",
                "libx264",
                "-preset",
                "faster",
                "-crf",
                "18",
                str(bad),
            )
            out = work / f"{name}-{case}-enh.mp4"
            _, data = enhance(bad, out)
            plan = data.get("plan") or {}
            steps = [s["filter"] for s in plan.get("video_steps", [])] or [plan.get("output", {}).get("video", "?")]
            naive = work / f"{name}-{case}-naive.mp4"
            sh(ff, "-y", "-i", str(bad), "-vf", NAIVE, "-c:v", "libx264", "-preset", "faster", "-crf", "21", str(naive))
            rows = {"input": score(ff, bad, clean), "enhance": score(ff, out, clean), "naive": score(ff, naive, clean)}
            for who, r in rows.items():
                _row(name, case, who, r, "+".join(steps) if who == "enhance" else "")
            for i, vf in enumerate(tries):
                tried = work / f"{name}-{case}-try{i}.mp4"
                sh(
                    ff,
                    "-y",
                    "-i",
                    str(bad),
                    "-vf",
                    vf,
                    "-c:v",
                    "libx264",
                    "-preset",
                    "faster",
                    "-crf",
                    "21",
                    str(tried),
                )
                _row(name, case, f"try{i}", score(ff, tried, clean), vf)
            i, e = rows["input"], rows["enhance"]
            for k in ("psnr", "ssim", "vmaf", "neg"):
                if (
                    i[k] is not None
                    and e[k] is not None
                    and e[k] < i[k] - (0.05 if k == "psnr" else 0.002 if k == "ssim" else 0.5)
                ):
                    missed.append(f"{name} {case}: enhance lowered {k} ({i[k]:.3f} → {e[k]:.3f})")
            if case in ("σ10", "σ20"):
                if e["ssim"] is not None and e["ssim"] - i["ssim"] < 0.15:
                    missed.append(f"{name} {case}: SSIM +{e['ssim'] - i['ssim']:.3f} (goal +0.15)")
                if e["vmaf"] is not None and i["vmaf"] is not None and e["vmaf"] - i["vmaf"] < 15:
                    missed.append(f"{name} {case}: VMAF {e['vmaf'] - i['vmaf']:+.1f} (goal +15)")
            if case == "clean" and "copy" not in steps and (e["vmaf"] or 100) < 97:
                missed.append(f"{name} clean: re-encoded to VMAF {e['vmaf']} (goal: copied or ≥ 97)")
    return missed


def speed(ff: str, work: Path, seconds: float) -> list[str]:
    clip = work / "speed-1080p.mp4"
    sh(
        ff,
        "-y",
        "-stream_loop",
        "-1",
        "-i",
        str(CLIPS["indoor"]),
        "-t",
        str(seconds),
        "-an",
        "-vf",
        "scale=1920:1080:flags=bicubic,noise=alls=14:allf=t",
        "-c:v",
        "libx264",
        "-preset",
        "faster",
        "-crf",
        "18",
        str(clip),
    )
    t0 = time.monotonic()
    sh(
        ff,
        "-y",
        "-i",
        str(clip),
        "-c:v",
        "libx264",
        "-preset",
        "faster",
        "-crf",
        "21",
        "-pix_fmt",
        "yuv420p",
        str(work / "x264.mp4"),
    )
    x264 = time.monotonic() - t0
    took, data = enhance(clip, work / "speed-enh.mp4")
    steps = [s["filter"] for s in (data.get("plan") or {}).get("video_steps", [])]
    ratio = took / x264
    print(
        f"speed: {seconds:g} s 1080p with grain, enhance ({'+'.join(steps)}) / plain x264 faster = {ratio:.2f}x (goal ≤ 2.5x)"
    )
    return [f"speed {ratio:.2f}x of x264 (goal ≤ 2.5x)"] if ratio > 2.5 else []


def _opt(argv: list[str], flag: str, default: str) -> str:
    return argv[argv.index(flag) + 1] if flag in argv else default


def main(argv: list[str]) -> int:
    ff = ffmpeg_bin()
    seconds = float(_opt(argv, "--seconds", "60"))
    clips = _opt(argv, "--clips", ",".join(CLIPS)).split(",")
    cases = _opt(argv, "--cases", ",".join(CASES)).split(",")
    clip_seconds = float(_opt(argv, "--clip-seconds", "5"))
    tries = [argv[i + 1] for i, a in enumerate(argv) if a == "--try"]
    with tempfile.TemporaryDirectory(prefix="me-bench-video-") as tmp:
        work = Path(tmp)
        missed = quality(ff, work, clips, cases, clip_seconds, tries)
        if "--speed" in argv:
            missed += speed(ff, work, seconds)
    for m in missed:
        print("MISSED:", m)
    print("video goals:", "all met" if not missed else f"{len(missed)} missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
