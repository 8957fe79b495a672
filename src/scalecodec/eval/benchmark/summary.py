"""From per-image points to the figures people compare: mean curves (mean bpp
and mean quality per setting, the field's convention), BD-rates, PSNR at
fixed rates, and speed and memory."""

import math
import statistics

import numpy as np

from ..metrics import bd_rate, ms_ssim_db, pchip

FIXED_BPP = (0.25, 0.5, 1.0)
ANCHOR, OURS = "jpeg2000", "scalecodec"


def by_setting(records: list[dict]) -> dict:
    """Records grouped by setting, in the order the settings first appear."""
    groups = {}
    for r in records:
        groups.setdefault(r["setting"], []).append(r)
    return groups


def mean_curve(records: list[dict], images: int) -> list[dict]:
    """Mean bpp, PSNR and MS-SSIM per setting, over settings that every image
    reached (a mean over fewer images is not comparable)."""
    curve = []
    for setting, rs in by_setting(records).items():
        if len(rs) != images:
            continue
        point = {"setting": setting, "images": len(rs)}
        for key in ("bpp", "psnr"):
            point[key] = statistics.fmean(r[key] for r in rs)
        # MS-SSIM is None for images too small for its five scales.
        scores = [r["ms_ssim"] for r in rs]
        point["ms_ssim"] = None if None in scores else statistics.fmean(scores)
        curve.append(point)
    return sorted(curve, key=lambda p: p["bpp"])


def bd_or_none(anchor: list[dict], test: list[dict], quality) -> float | None:
    try:
        return bd_rate([(p["bpp"], quality(p)) for p in anchor], [(p["bpp"], quality(p)) for p in test])
    except (ValueError, TypeError):  # no overlap, too few points, or no MS-SSIM
        return None


def psnr_db(point: dict) -> float:
    return point["psnr"]


def ms_ssim_in_db(point: dict) -> float | None:
    return None if point["ms_ssim"] is None else ms_ssim_db(point["ms_ssim"])


def bd_pair(anchor: list[dict], test: list[dict]) -> dict:
    return {"psnr": bd_or_none(anchor, test, psnr_db), "ms_ssim": bd_or_none(anchor, test, ms_ssim_in_db)}


def psnr_at(curve: list[dict], bpp: float) -> float | None:
    """PSNR at a rate inside the curve's range (PCHIP over log rate)."""
    rates = [p["bpp"] for p in curve]
    if len(curve) < 2 or not rates[0] <= bpp <= rates[-1] or np.any(np.diff(rates) <= 0):
        return None
    return float(pchip(np.log(rates), [p["psnr"] for p in curve], math.log(bpp)))


def speed(records: list[dict]) -> dict:
    megapixels = statistics.fmean(r["width"] * r["height"] for r in records) / 1e6
    out = {}
    for side in ("encode", "decode"):
        median = statistics.median(r[f"{side}_s"] for r in records)
        peaks = [r[f"{side}_peak_mib"] for r in records]
        out[side] = {"median_s": median, "megapixels_per_s": megapixels / median,
                     "peak_mib": None if None in peaks else max(peaks)}
    return out


def summarize(points: dict[str, list[dict]], images: int) -> dict:
    curves = {name: mean_curve(rs, images) for name, rs in points.items()}
    rows = {}
    for name, curve in curves.items():
        if not curve:
            continue
        rows[name] = {
            "bpp_range": [curve[0]["bpp"], curve[-1]["bpp"]],
            "psnr_at": {f"{b:g}": psnr_at(curve, b) for b in FIXED_BPP},
            "speed": speed(points[name]),
            "metadata_bytes_mean": float(np.mean([r.get("metadata_bytes", 0) for r in points[name]])),
        }
        for other in (ANCHOR, OURS):
            if other in curves and curves[other]:
                rows[name][f"bd_rate_vs_{other}_pct"] = bd_pair(curves[other], curve)
    ours = {name: bd_pair(curve, curves[OURS])
            for name, curve in curves.items() if name != OURS and curve and curves.get(OURS)}
    return {"curves": curves, "rows": rows, "scalecodec_vs": ours}


def resolution_summary(records: list[dict]) -> list[dict]:
    """JPEG 2000 resolution scalability: per bpp setting and level, the mean
    prefix bytes (as bpp of that level's pixels and as a share of the whole
    file) and mean PSNR against the reference downscale."""
    out = []
    for setting, rs in by_setting(records).items():
        row = {"setting": setting}
        for level in rs[0]["levels"]:
            ls = [r["levels"][level] for r in rs]
            row[level] = {
                "bpp": statistics.fmean(p["bpp"] for p in ls),
                "share_of_file": statistics.fmean(
                    p["bytes"] / r["levels"]["0"]["bytes"] for p, r in zip(ls, rs)),
                "psnr": statistics.fmean(p["psnr"] for p in ls),
                "prefix_exact": all(p["prefix_equals_reduced_decode"] for p in ls),
            }
        out.append(row)
    return out


def layers_summary(records: list[dict], single_layer: list[dict]) -> dict:
    """JPEG 2000 quality layers: mean prefix bpp and PSNR for the first k
    layers, and what layering costs against single-layer files."""
    curve = []
    for k in records[0]["layers"]:
        ps = [r["layers"][k] for r in records]
        curve.append({"layers": int(k), "bpp": statistics.fmean(p["bpp"] for p in ps),
                      "psnr": statistics.fmean(p["psnr"] for p in ps),
                      "prefix_exact": all(p["prefix_equals_reduced_decode"] for p in ps)})
    return {"curve": curve, "bd_rate_vs_single_layer_pct": bd_or_none(single_layer, curve, psnr_db)
            if single_layer else None}
