"""Fine-grained scalability on real files: encode each image once at the top
quality with --mode fgs, cut the stream at 25 byte budgets (4% to 100% of its
size) with the container's truncate, decode every cut and measure RGB PSNR on
the 8-bit output. Compares with the single-layer points of `scc bench`'s
results.json at the same bpp. Writes OUT_JSON, and beside it the plot
(.png) and the table (.md, naming this command).

    python scripts/measure-fgs.py RESULTS_JSON OUT_JSON IMAGE...
"""
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from scalecodec import api, container
from scalecodec.model.file import default_model_path

BUDGET_FRACTIONS = np.linspace(0.04, 1.0, 25)


QUALITY = 7


def measure(path: Path) -> dict:
    src = np.asarray(Image.open(path).convert("RGB")).astype(np.float64)
    enc = api.encode_file(path.read_bytes(), QUALITY, mode="fgs")
    stream = container.parse(enc.stream)
    rows = []
    for budget in sorted({int(len(enc.stream) * f) for f in BUDGET_FRACTIONS}):
        try:
            cut = container.serialize(container.truncate(stream, budget))
        except container.ContainerError:
            continue  # below the basic part
        mse = np.mean((api.decode_file(cut).pixels.astype(np.float64) - src) ** 2)
        rows.append({"budget": budget, "bytes": len(cut), "bpp": 8 * len(cut) / (enc.width * enc.height),
                     "psnr": float(10 * np.log10(255 ** 2 / mse))})
    payload, _, _ = container.fine.unpack(stream.chunks[0].payload)
    sizes = [len(seg) for seg in payload.segments]
    basic = len(payload.z_stream) + len(payload.y_head) + sizes[0]
    coded = len(payload.z_stream) + len(payload.y_head) + sum(sizes)
    single = api.encode_file(path.read_bytes(), QUALITY)  # the base codec's single-layer stream
    return {"full": len(enc.stream), "rows": rows, "segments": len(sizes), "basic_bytes": basic,
            "median_segment": statistics.median(sizes[1:]) / len(enc.stream),
            "largest_segment": max(sizes[1:]) / len(enc.stream), "overhead_bytes": len(enc.stream) - coded,
            "single_layer_bytes": len(single.stream)}


def plot(out: dict, single: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in out if not n.startswith("_")]
    fig, axes = plt.subplots(2, (len(names) + 1) // 2, figsize=(3.2 * ((len(names) + 1) // 2), 6.4), squeeze=False)
    for ax, name in zip(axes.flat, names):
        rows = out[name]["rows"]
        ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], ".-", label="one FGS stream, cut")
        ref = sorted(single[name])
        ax.plot([x for x, _ in ref], [y for _, y in ref], "s--", label="single-layer, q1-q7")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("bpp (file bytes)")
        ax.set_ylabel("RGB PSNR (dB)")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(results_json: str, out_json: str, *images: str) -> None:
    single = {}
    for p in json.load(open(results_json))["points"]["scalecodec"]:
        single.setdefault(p["image"], []).append((p["bpp"], p["psnr"]))
    out, deltas = {}, {}
    for image in map(Path, images):
        m = out[image.name] = measure(image)
        b = np.array([r["bytes"] for r in m["rows"]])
        ref = sorted(single[image.name])
        m["monotone"] = bool(np.all(np.diff([r["psnr"] for r in m["rows"]]) >= 0))
        for f in (0.25, 0.5, 0.75, 1.0):
            r = m["rows"][int(np.argmin(abs(b - f * m["full"])))]
            same = np.interp(r["bpp"], [x for x, _ in ref], [y for _, y in ref], left=np.nan, right=np.nan)
            if not np.isnan(same):
                deltas.setdefault(f, []).append(r["psnr"] - same)
        print(image.name, m["full"], "bytes,", len(m["rows"]), "cuts, monotone:", m["monotone"], file=sys.stderr)
    out["_summary"] = {f"{int(f * 100)}%": {"images": len(v), "mean_psnr_change_db": float(np.mean(v))}
                       for f, v in sorted(deltas.items())}
    Path(out_json).write_text(json.dumps(out, indent=1))
    plot(out, single, Path(out_json).with_suffix(".png"))
    Path(out_json).with_suffix(".md").write_text(markdown(out, single, Path(out_json).with_suffix(".png").name))
    print(json.dumps(out["_summary"], indent=1))


def markdown(out: dict, single: dict, plot_name: str) -> str:
    names = [n for n in out if not n.startswith("_")]
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    lines = [f"# Fine-grained scalability ({len(names)} images)", "",
             f"Written by `{command}` on {datetime.date.today().isoformat()} ({platform.machine()}, "
             f"{len(os.sched_getaffinity(0))} CPUs). Each image is encoded once "
             f"(`scc encode --mode fgs -q {QUALITY}`, model `{default_model_path(kind='fgs').name}`); "
             f"every point is a real file cut from that one stream by truncate ({len(BUDGET_FRACTIONS)} budgets "
             "from 4% to 100% of the stream; budgets under the basic part are refused), decoded, and "
             f"compared in RGB PSNR on the 8-bit output. Plot: `{plot_name}`.", "",
             "| image | full stream (bytes) | valid cuts | PSNR never falls | PSNR at 25 / 50 / 75 / 100% of the "
             "bytes | single-layer (interpolated) at the same bpp |", "|---|---:|---:|---|---|---|"]
    for name in names:
        m, ref = out[name], sorted(single[name])
        b = np.array([r["bytes"] for r in m["rows"]])
        at = [m["rows"][int(np.argmin(abs(b - f * m["full"])))] for f in (0.25, 0.5, 0.75, 1.0)]
        same = [np.interp(r["bpp"], [x for x, _ in ref], [y for _, y in ref], left=np.nan, right=np.nan) for r in at]
        lines.append(f"| {name} | {m['full']:,} | {len(m['rows'])} | {'yes' if m['monotone'] else '**no**'} | "
                     + ", ".join(f"{r['psnr']:.2f}" for r in at) + " | "
                     + ", ".join("–" if np.isnan(v) else f"{v:.2f}" for v in same) + " |")
    summary = out["_summary"]
    lines += ["", "Mean change against the single-layer codec at the same bpp (images in range): "
              + "; ".join(f"{k}: {v['mean_psnr_change_db']:+.2f} dB ({v['images']})" for k, v in summary.items())
              + ".", "", "| image | segments | basic part | median / largest segment | table and header | "
              "whole stream vs single-layer at the same quality |", "|---|---:|---:|---|---:|---:|"]
    for name in names:
        m = out[name]
        lines.append(f"| {name} | {m['segments']} | {m['basic_bytes']:,} B ({m['basic_bytes'] / m['full']:.0%}) | "
                     f"{m['median_segment']:.2%} / {m['largest_segment']:.2%} | {m['overhead_bytes']} B "
                     f"({m['overhead_bytes'] / m['full']:.1%}) | {m['full'] / m['single_layer_bytes'] - 1:+.1%} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(*sys.argv[1:])
