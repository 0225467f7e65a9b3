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
nlmeans default 30.5 s, an x264 medium encode 6.0 s. So: hqdn3d (nearly free) while it gets
close to nlmeans (σ under 9); above that nlmeans with its small patch and search window, whose
cost is about one more encode, because it gains 0.08–0.4 SSIM there.
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
    "denoise_step",
    "restore_sharpen",
    "cast_step",
    "visible_change",
    "picture_stats",
]

DENOISE_FROM = 4.0  # σ (8-bit levels) from which grain is visible; the clean forest clip (old camera compression) reads 3.7, and denoising it lost SSIM
# the luma figure is grain only where it halves when 2x2 pixels are averaged (picture.py): at a
# ratio over 2 it is texture (clean forest 3.5), and denoising that texture cost VMAF 99.5 → 81
TEXTURE_RATIO = 2.0
NLMEANS_FROM = 9.0  # σ from which nlmeans' gain over hqdn3d pays for its time (table above)
# nlmeans costs about one x264 encode at 432p, several above 720p (1.4 fps at 1080p even with
# a small window): larger pictures keep hqdn3d so enhance stays within 2.5x of a plain encode
NLMEANS_MAX_PIXELS = 1280 * 720
# Strengths per σ, chosen on VMAF as well as PSNR/SSIM (bench/quality_video.py, 2 s clips, see
# docs/picture.md): nlmeans s = 0.75σ (the old rule) gave the best SSIM on paper but took the
# fine detail VMAF looks at (forest σ 10: VMAF 88 → 67); s = 0.4σ beats it on PSNR, SSIM and VMAF.
# hqdn3d at 2.6σ cost VMAF 5 at σ 5 (indoor 97.7 → 92.8); 1.5σ keeps most of the SSIM gain.
NLMEANS_STRENGTH = 0.4
HQDN3D_STRENGTH = 1.5
# after nlmeans a mild luma unsharp gives back the edge contrast it took (forest σ 10, s 0.4σ:
# VMAF 82.8 → 88.9, NEG 81.4 → 83.6 for PSNR −1 dB); after hqdn3d, which leaves some grain, it
# brings grain back (indoor σ 5: PSNR −3.5 dB, NEG −1.3), so none there
RESTORE_AMOUNT = 0.6
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


def _grain(v: VideoMeasurements) -> tuple[float, float]:
    """The (luma σ, chroma σ) that count as grain: the luma figure only where it is not texture."""
    sigma, chroma, _ = _noise(v)
    pic = picture_stats(v)
    if pic is not None and float(pic.get("noise_scale_ratio", 1.0)) > TEXTURE_RATIO:
        return 0.0, chroma
    return sigma, chroma


def is_noisy(v: VideoMeasurements) -> bool:
    sigma, chroma = _grain(v)
    return max(sigma, chroma) >= _noise(v)[2]


def denoise_step(v: VideoMeasurements) -> FilterStep | None:
    """A denoiser sized from the measured noise σ, or None when no grain is visible."""
    sigma, chroma, visible = _noise(v)
    measured = {"noise_sigma": _r(sigma, 2), "noise_sigma_chroma": _r(chroma, 2)}
    pic = picture_stats(v)
    if pic is not None and "noise_scale_ratio" in pic:
        measured["noise_scale_ratio"] = _r(pic["noise_scale_ratio"], 2)
    if max(_grain(v)) < visible:
        return None
    if max(_grain(v)) >= NLMEANS_FROM and v.width * v.height <= NLMEANS_MAX_PIXELS:
        s = min(30.0, max(1.0, NLMEANS_STRENGTH * max(_grain(v))))
        return FilterStep(
            "nlmeans",
            {"s": _r(s), "p": 3, "r": 7},
            f"picture noise σ {sigma:.1f} levels (chroma {chroma:.1f}): non-local means at strength {s:.1f}",
            measured,
        )
    grain_luma, grain_chroma = _grain(v)  # luma 0 where its figure is texture: chroma is cleaned, luma kept
    ls = min(32.0, HQDN3D_STRENGTH * grain_luma)
    cs = min(32.0, HQDN3D_STRENGTH * grain_chroma)
    return FilterStep(
        "hqdn3d",
        {
            "luma_spatial": _r(ls),
            "chroma_spatial": _r(cs),
            "luma_tmp": _r(min(48.0, ls * 1.5)),
            "chroma_tmp": _r(min(48.0, cs * 1.5)),
        },
        f"picture noise σ {sigma:.1f} levels (chroma {chroma:.1f}): hqdn3d at strength {ls:.1f}",
        measured,
    )


def restore_sharpen(denoise: FilterStep | None) -> float:
    """Luma unsharp amount that goes after this denoise step (0: none)."""
    return RESTORE_AMOUNT if denoise is not None and denoise.filter == "nlmeans" else 0.0


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
