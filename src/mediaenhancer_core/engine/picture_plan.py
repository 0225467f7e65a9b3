"""Picture rules of the measurement planner: denoise from the measured noise, colour cast only
from near-neutral pixels, and no picture change that nobody could see.

Figures behind the rules (real footage, tests/data/media, noise added with ffmpeg's ``noise``
filter, x264 CRF 16, SSIM of all planes against the clean clip; 2 shared cores):

=============  ======  ============  ============  ===============  ====================
clip           σ       none          hqdn3d ≈2.2σ   nlmeans p3 r7    nlmeans s=0.75σ p7 r15
=============  ======  ============  ============  ===============  ====================
indoor 432p    5.5     0.767         0.960         –                0.981
indoor 432p    11      0.446         0.862         0.945            0.957
indoor 432p    20      0.216         0.506         –                0.914
forest 480p    11      0.662         0.857         –                0.886
=============  ======  ============  ============  ===============  ====================

Time for the 101 frames at 768x432: decode alone 1.1 s, hqdn3d 1.2 s, nlmeans p3 r7 6.5 s,
nlmeans default 30.5 s, an x264 medium encode 6.0 s. nlmeans with its small patch and search
window costs about one more encode. It once ran only from σ 9, with hqdn3d below; judged by VMAF
as well (2026-12-05, constants below) hqdn3d at σ 5 gains half of nlmeans' PSNR and its temporal
part smears moving pictures, so nlmeans now runs from the visible level on (up to 1280×720).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mediaenhancer_core.engine.plan import FilterStep

if TYPE_CHECKING:
    from mediaenhancer_core.engine.analysis import VideoMeasurements

__all__ = [
    "DENOISE_FROM",
    "is_noisy",
    "NLMEANS_FROM",
    "FFT_FROM",
    "fft_affordable",
    "denoise_steps",
    "grain_share",
    "restore_sharpen",
    "cast_step",
    "visible_change",
    "picture_stats",
]

DENOISE_FROM = 4.0  # σ (8-bit levels) from which grain is visible; the clean forest clip (old camera compression) reads 3.7, and denoising it lost SSIM
# How much of the luma figure is grain (picture.py's noise_scale_ratio r): white grain halves when 2x2
# pixels are averaged, texture survives, so σ² = grain² + texture² and (rσ/2)² = grain²/4 + texture²,
# which gives grain = σ·√((4 − r²)/3): all of σ at r 1, none at r 2 and over (clean forest reads 3.5).
# The forest clip with σ 10 grain reads σ 11.7 at r 1.5, i.e. 8.9 levels of grain: sizing the
# denoiser from the whole 11.7 took foliage with the grain (VMAF NEG 86.0 → 83.6).
TEXTURE_RATIO = 2.0
# VMAF and VMAF NEG look at luma only, and a re-encode at the default CRF 21 costs them by itself
# (bench/quality_video.py inputs re-encoded with no filter: forest σ 5 VMAF −3.3, forest σ 10
# −1.6, indoor σ 5 −0.7). A pass that cleans chroma alone gains PSNR 0.2 dB there (forest σ 5,
# luma all texture): it is only worth a re-encode for chroma noise twice the visible level.
CHROMA_ONLY_FACTOR = 2.0
# nlmeans (spatial, p 3 r 7) on pictures up to 1280×720 from the visible level on: at σ 5 it gains
# PSNR 9-11 dB where hqdn3d gains 2-6, and hqdn3d's temporal part smears moving footage (the
# hand-held cockatoo clip at σ 5: VMAF 97.6 → 89.4 with the old hqdn3d 1.5σ, temporal 2.2σ).
NLMEANS_FROM = DENOISE_FROM
# nlmeans costs about one x264 encode at 432p, several above 720p (1.4 fps at 1080p even with
# a small window): larger pictures keep hqdn3d so enhance stays within 2.5x of a plain encode
NLMEANS_MAX_PIXELS = 1280 * 720
# Strengths per level of luma grain, chosen so that VMAF and VMAF NEG stay at the input's while
# PSNR/SSIM rise (bench/quality_video.py, 3 s clips, docs/picture.md, 2026-12-05). nlmeans s = grain/3:
# the old 0.4·max(luma σ, chroma σ) lost forest σ 20 VMAF 1.9 and forest σ 10 NEG 2.4; s = grain/3
# (forest σ 10: 3.0, σ 20: 7.0) keeps both, for PSNR 0.5-1 dB less. Strength follows the grain
# linearly because nlmeans' patch distance grows with σ².
NLMEANS_PER_LEVEL = 1 / 3
# Search window: 7×7, or 5×5 where the luma figure has texture in it (ratio over 1.2, the top of
# what grain alone reads): across foliage the wider window finds look-alike patches that are not the
# same detail (forest σ 10, r 1.5: NEG −0.23 with 7, +0.01 with 5; on the smooth indoor clip 5 costs
# PSNR 1-2 dB for nothing, so it keeps 7)
NLMEANS_TEXTURE_RATIO = 1.2
# nlmeans' strength is sized for luma; chroma noise above the luma grain (a darkened picture keeps
# its chroma noise: indoor σ 10 dark and flat reads luma 6.1, chroma 10) gets its own spatial
# chroma-only hqdn3d at 1.5σ first (SSIM 0.83 → 0.92 there, VMAF unchanged: luma is not touched)
CHROMA_PER_LEVEL = 1.5
# over 1280×720: hqdn3d, luma spatial 1·grain, temporal 0.75·grain (hqdn3d's temporal part follows
# no motion: the old 1.5σ spatial / 2.2σ temporal took 8 VMAF from the hand-held clip at σ 5, this
# takes 1.6, the same as a plain re-encode), chroma 1.5σ spatial, 1.1σ temporal
HQDN3D_LUMA = 1.0
HQDN3D_LUMA_TMP = 0.75
HQDN3D_CHROMA_TMP = 1.1
# hqdn3d reads a strength of 0 as "use the default" (luma 4): a plane left alone gets this instead,
# which changes no pixel by a level (forest σ 5 with luma "0": VMAF −3.9; with 0.01: −3.2, as no filter)
HQDN3D_OFF = 0.01
# After the denoise a mild 7×7 luma unsharp gives back the edge contrast it took, in proportion to
# the strength used (0.02 per level of grain: 0.1 at σ 5, 0.2 at σ 10, 0.4 at σ 20). A fixed 0.6
# over-sharpened at σ 10 (forest NEG −2.4 with it, −0.3 at 0.18) and at σ 5 brought grain back;
# 7×7 kept 0.6-1.2 more VMAF than 5×5 at the same amount (forest σ 10 and 20, indoor σ 20).
RESTORE_PER_LEVEL = 0.02
RESTORE_MAX = 0.6
RESTORE_SIZE = 7
# From 14 levels of grain in the input (before any stretch), on pictures up to 1280×720: fftdnoiz, a 3D FFT
# Wiener denoiser over each frame and the one before and after it, at sigma 4 per level of grain (down to 2.7
# where the luma figure has texture in it, ratio 1.2 → 1.5), then nlmeans at grain/10 (smooth pictures) and
# the unsharp at 0.015 per level. Grain is new in every frame and the picture mostly is not, so the
# neighbours tell them apart where nlmeans alone (one frame) has to smooth detail with the grain.
# bench/quality_video.py, 3 s clips, x264 CRF 21, PSNR / SSIM / VMAF / NEG against the clean clip:
#   indoor σ 20  nlmeans grain/3 + unsharp 0.02/level  31.08 / 0.690 / 78.2 / 73.6
#                fftdnoiz 80 + nlmeans 2 + unsharp 0.3  35.30 / 0.885 / 85.4 / 81.5
#   indoor σ 10  nlmeans ...                           38.26 / 0.931 / 92.6 / 88.8
#                fftdnoiz 40 + nlmeans 1 + unsharp 0.15 41.43 / 0.978 / 93.6 / 90.8
#   forest σ 20  nlmeans ...                           29.25 / 0.805 / 72.0 / 68.6
#                fftdnoiz 80 + nlmeans 2 + unsharp 0.3  30.92 / 0.871 / 76.6 / 73.5
#   forest σ 10  hqdn3d chroma + nlmeans r5 ...        32.51 / 0.906 / 89.6 / 86.0
#   (r 1.5)      fftdnoiz 24 + unsharp 0.15            34.75 / 0.938 / 89.6 / 86.7
# Why from 14 and not 8: at σ 10 it beat nlmeans on the still indoor clip (above) but not on moving ones: the
# hand-held cockatoo clip (960×540, not in the bench) at σ 10 went VMAF 90.7 → 88.7, NEG 86.4 → 86.3 (under
# its input; nlmeans: 91.8 / 88.4; fftdnoiz at sigma 20-30: 89.9-90.8), and forest σ 10 VMAF 89.6 → 89.3.
# At σ 15 the cockatoo clip scores 41.30 / 0.975 / 84.7 / 81.8 against nlmeans' 35.43 / 0.844 / 85.0 / 80.5
# (input 24.52 / 0.256 / 82.9 / 77.0), forest 32.78 / 0.908 / 83.0 / 80.0 against 30.36 / 0.853 / 81.6 / 77.7;
# at σ 20 the cockatoo clip 37.61 / 0.927 / 79.9 / 76.3 against 31.83 / 0.699 / 77.8 / 72.6.
# Spatial only (prev/next 0) it lost forest σ 10 VMAF 5.5; with sigma 4·grain there, and nlmeans after,
# VMAF and NEG fell under the input's. Under 8 levels it is worse than nlmeans: indoor σ 5 (grain 4.8) at
# sigma 10-19 lost VMAF 0.5-1.9 and NEG under the input's; indoor σ 10 dark and flat (grain 6.1, ×1.4
# stretch) VMAF 57.7 → 56.7. Stronger sharpening (0.5 at σ 20) buys plain VMAF (87.1) with PSNR and NEG
# (34.46, 81.3): that is the enhancement VMAF credits and NEG does not, so it stays at 0.015 per level.
# A lower CRF after it gains little (indoor σ 10 at CRF 18: VMAF +0.2, NEG +0.2; the file is 0.08 of the
# input's size instead of 0.05); with nlmeans alone at σ 20, CRF 17 scored lower than 21 (kept residual grain).
# What it costs depends on the ffmpeg: with neighbours, per 1280×720 frame, ffmpeg 9.0 (the bundled one) takes
# 0.37 CPU-s (nlmeans p 3 r 7: 0.22; an x264 "faster" encode 0.13), Debian's 5.1 takes 1.7 CPU-s (nlmeans 0.26),
# about 50 CPU-s per second of 30 fps video. It runs only where the ffmpeg is one measured fast (9 and newer;
# the versions between were not measured); elsewhere the nlmeans rule below it stays.
FFT_FROM = 14.0
FFT_FAST_FFMPEG = (9,)
FFT_PER_LEVEL = 4.0
FFT_TEXTURE_PER_LEVEL = 2.7
FFT_TEXTURE_RATIO = 1.5  # the ratio from which FFT_TEXTURE_PER_LEVEL holds (linear from NLMEANS_TEXTURE_RATIO)
FFT_MAX = 100.0
FFT_NLMEANS_PER_LEVEL = 0.1
FFT_RESTORE_PER_LEVEL = 0.015
CAST_FROM = 8.0  # neutral-pixel chroma offset (8-bit levels) taken as a cast; clean real clips read 3-6 (bluish daylight walls, yellow woods)
VISIBLE_LEVELS = 2.0  # luma or chroma change under this everywhere in the picture: not worth a re-encode


def picture_stats(v: VideoMeasurements) -> dict[str, float] | None:
    return v.picture if isinstance(v.picture, dict) else None


def _r(x: float, nd: int = 1) -> float:
    return round(float(x), nd)


def _noise(v: VideoMeasurements) -> tuple[float, float, float]:
    """(luma σ, chroma σ, the σ from which grain is visible) for these measurements."""
    pic = picture_stats(v)
    if pic is None:
        # without decoded-frame figures only the analysis pass's rougher guess (median-filter
        # residual, which reads about 3 on clean footage) is there: keep its old 7.5 threshold
        return float(v.noise_sigma), float(v.noise_sigma), 7.5
    return float(pic["noise_luma"]), float(pic["noise_chroma"]), DENOISE_FROM


def grain_share(ratio: float) -> float:
    """The share of the luma noise figure that is grain, from the 2x2-averaging ratio (see TEXTURE_RATIO)."""
    r = min(max(ratio, 1.0), TEXTURE_RATIO)
    return math.sqrt((4.0 - r * r) / 3.0)


def _grain(v: VideoMeasurements) -> tuple[float, float]:
    """The (luma σ, chroma σ) that count as grain: the luma figure less the texture in it."""
    sigma, chroma, _ = _noise(v)
    pic = picture_stats(v)
    if pic is None:
        return sigma, chroma
    return sigma * grain_share(float(pic.get("noise_scale_ratio", 1.0))), chroma


def _plan(v: VideoMeasurements, gain: float = 1.0) -> tuple[bool, bool]:
    """(denoise luma, denoise chroma only) for these measurements. ``gain`` is the contrast stretch the
    levels step will apply after the denoise (``eq`` contrast, luma only): grain under the visible
    level in the input can be over it in the output, and is judged as it will be seen."""
    grain, chroma = _grain(v)
    visible = _noise(v)[2]
    luma = grain * max(1.0, gain) >= visible
    return luma, not luma and chroma >= CHROMA_ONLY_FACTOR * visible


def is_noisy(v: VideoMeasurements, gain: float = 1.0) -> bool:
    return any(_plan(v, gain))


def _hqdn3d(ls: float, cs: float, lt: float, ct: float, why: str, measured: dict[str, float]) -> FilterStep:
    return FilterStep(
        "hqdn3d",
        {
            "luma_spatial": _r(min(32.0, ls), 2) if ls > HQDN3D_OFF else HQDN3D_OFF,
            "chroma_spatial": _r(min(32.0, cs), 2) if cs > HQDN3D_OFF else HQDN3D_OFF,
            "luma_tmp": _r(min(48.0, lt), 2) if lt > HQDN3D_OFF else HQDN3D_OFF,
            "chroma_tmp": _r(min(48.0, ct), 2) if ct > HQDN3D_OFF else HQDN3D_OFF,
        },
        why,
        measured,
    )


def denoise_steps(v: VideoMeasurements, gain: float = 1.0, *, fft: bool = False) -> list[FilterStep]:
    """Denoisers sized from the measured grain as it will be seen after a contrast stretch of ``gain``
    (empty when none is visible). ``fft``: the ffmpeg that renders runs fftdnoiz fast (:func:`fft_affordable`)."""
    sigma, chroma, _ = _noise(v)
    gain = max(1.0, gain)
    grain = _grain(v)[0] * gain
    measured = {"noise_sigma": _r(sigma, 2), "noise_sigma_chroma": _r(chroma, 2), "noise_grain": _r(grain, 2)}
    pic = picture_stats(v)
    if pic is not None and "noise_scale_ratio" in pic:
        measured["noise_scale_ratio"] = _r(pic["noise_scale_ratio"], 2)
    luma, chroma_only = _plan(v, gain)
    if gain > 1.0:
        seen = f"{grain / gain:.1f} of it grain, {grain:.1f} after the ×{gain:.2f} contrast stretch"
    else:
        seen = f"{grain:.1f} of it grain"
    about = f"picture noise σ {sigma:.1f} levels, {seen} (chroma {chroma:.1f})"
    cs = CHROMA_PER_LEVEL * chroma
    if chroma_only:
        return [
            _hqdn3d(0, cs, 0, 0, f"{about}: the luma figure is texture, so chroma only, at strength {cs:.1f}", measured)
        ]
    if not luma:
        return []
    if v.width * v.height > NLMEANS_MAX_PIXELS:
        ls = HQDN3D_LUMA * grain
        return [
            _hqdn3d(
                ls,
                cs,
                HQDN3D_LUMA_TMP * grain,
                HQDN3D_CHROMA_TMP * chroma,
                f"{about}: hqdn3d at strength {ls:.1f}",
                measured,
            )
        ]
    steps = []
    if chroma > grain:  # nlmeans is sized for luma: the chroma noise above it gets its own pass first
        steps.append(
            _hqdn3d(0, cs, 0, 0, f"{about}: chroma noise above the luma grain, at strength {cs:.1f}", measured)
        )
    textured = pic is not None and float(pic.get("noise_scale_ratio", 1.0)) > NLMEANS_TEXTURE_RATIO
    if fft and _uses_fft(v, gain):
        g = grain / gain  # the grain the denoiser sees: it runs before the stretch
        # from smooth (ratio 1.2) to textured (1.5) the strength goes down gradually: a test clip of the forest at
        # σ 20 read 1.21 where the bench's read 1.18, and a step at 1.2 took its PSNR 31.7 → 28.4, SSIM 0.89 → 0.73
        ratio = float(pic.get("noise_scale_ratio", 1.0)) if pic is not None else 1.0
        t = min(1.0, max(0.0, (ratio - NLMEANS_TEXTURE_RATIO) / (FFT_TEXTURE_RATIO - NLMEANS_TEXTURE_RATIO)))
        fs = min(FFT_MAX, (FFT_PER_LEVEL - t * (FFT_PER_LEVEL - FFT_TEXTURE_PER_LEVEL)) * g)
        steps.append(
            FilterStep(
                "fftdnoiz",
                {"sigma": _r(fs, 1), "prev": 1, "next": 1},
                f"{about}: 3D FFT denoise over each frame and its neighbours at sigma {fs:.0f}",
                measured,
            )
        )
        if t < 0.5:
            s = min(30.0, max(1.0, FFT_NLMEANS_PER_LEVEL * g * (1.0 - t)))
            steps.append(
                FilterStep(
                    "nlmeans", {"s": _r(s, 2), "p": 3, "r": 7}, f"{about}: then non-local means at {s:.1f}", measured
                )
            )
        return steps
    s = min(30.0, max(1.0, NLMEANS_PER_LEVEL * grain))
    # heavy grain where this ffmpeg runs fftdnoiz too slowly: say what a newer one would do (bench: indoor σ 20
    # VMAF 78.2 with nlmeans, 85.6 with fftdnoiz), so that the user can choose it
    older = " (ffmpeg 9 or newer would use fftdnoiz over neighbouring frames here: MEDIAENHANCER_FFMPEG)"
    steps.append(
        FilterStep(
            "nlmeans",
            {"s": _r(s, 2), "p": 3, "r": 5 if textured else 7},
            f"{about}: non-local means at strength {s:.1f}" + ("" if fft or not _uses_fft(v, gain) else older),
            measured,
        )
    )
    return steps


def fft_affordable(ffmpeg_version: tuple[int, ...]) -> bool:
    """Whether this ffmpeg version runs fftdnoiz over neighbouring frames at about nlmeans' cost (FFT_FAST_FFMPEG)."""
    return tuple(ffmpeg_version) >= FFT_FAST_FFMPEG


def _uses_fft(v: VideoMeasurements, gain: float = 1.0) -> bool:
    """fftdnoiz (see FFT_FROM): a luma denoise of FFT_FROM (14) levels of input grain or more, on a picture up to 1280×720."""
    return (
        picture_stats(v) is not None
        and v.width * v.height <= NLMEANS_MAX_PIXELS
        and _plan(v, gain)[0]
        and _grain(v)[0] >= FFT_FROM
    )


def restore_sharpen(v: VideoMeasurements, gain: float = 1.0, *, fft: bool = False) -> float:
    """Luma unsharp amount (RESTORE_SIZE square) that goes after the denoise (0: none, or chroma only)."""
    luma, _ = _plan(v, gain)
    per_level = FFT_RESTORE_PER_LEVEL if fft and _uses_fft(v, gain) else RESTORE_PER_LEVEL
    return min(RESTORE_MAX, _r(per_level * _grain(v)[0] * max(1.0, gain), 2)) if luma else 0.0


def cast_step(v: VideoMeasurements) -> FilterStep | None:
    """Shift chroma back only when near-neutral pixels (grey, white) are measured off grey.

    A picture whose main colour is legitimate (a green screen, a forest, a sunset) keeps its
    grey and white things grey, so its near-neutral pixels show no offset and nothing is done.
    """
    pic = picture_stats(v)
    if pic is None or pic.get("neutral_fraction", 0.0) < 0.02:
        return None
    du, dv = float(pic["neutral_u"]), float(pic["neutral_v"])
    if math.hypot(du, dv) < CAST_FROM:
        return None
    scale = (1 << (v.bit_depth - 1)) / 128.0
    su, sv = round(du * scale), round(dv * scale)
    return FilterStep(
        "lutyuv",
        {"u": f"clip(val-({su}),minval,maxval)", "v": f"clip(val-({sv}),minval,maxval)"},
        f"colour cast: grey and white areas ({pic['neutral_fraction'] * 100:.0f}% of the picture) sit "
        f"U {du:+.1f} / V {dv:+.1f} levels off neutral: shift chroma back by {su}/{sv}",
        {"neutral_u": du, "neutral_v": dv, "neutral_fraction": pic["neutral_fraction"]},
    )


def eq_levels_change(step: FilterStep, v: VideoMeasurements) -> tuple[float, float]:
    """Largest luma change (8-bit levels) over the picture's own range, and chroma change, of an eq step."""
    p = step.params
    contrast, brightness = float(p.get("contrast", 1.0)), float(p.get("brightness", 0.0))
    gamma, saturation = float(p.get("gamma", 1.0)), float(p.get("saturation", 1.0))
    pic = picture_stats(v)
    lo = (pic["black_point"] / 255.0) if pic else v.luma_min
    hi = (pic["white_point"] / 255.0) if pic else v.luma_max
    worst = 0.0
    for k in range(33):
        x = lo + (hi - lo) * k / 32
        y = contrast * (x - 0.5) + 0.5 + brightness
        y = min(1.0, max(0.0, y)) ** (1.0 / gamma) if gamma > 0 else y
        worst = max(worst, abs(y - x) * 255.0)
    chroma = abs(saturation - 1.0) * v.saturation * 181.0
    return worst, chroma


def visible_change(steps: list[FilterStep], v: VideoMeasurements) -> bool:
    """Would anyone see these colour/levels steps? (luma or chroma change of 2 levels or more)"""
    for st in steps:
        if st.filter == "eq":
            luma, chroma = eq_levels_change(st, v)
            if max(luma, chroma) >= VISIBLE_LEVELS:
                return True
        else:
            return True
    return False
