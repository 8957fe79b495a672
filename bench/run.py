"""`make bench`: Kodak rate-distortion and speed, written to results files.

- RD: every Kodak image at every quality, through real files (scc eval's code),
  against JPEG 2000 measured here (Pillow/OpenJPEG, irreversible 9/7, mct=1) and
  CompressAI's published mbt2018-mean curve.
- Speed: in-process encode/decode per image (model loaded), whole `scc decode`
  processes, and `scc info` / `scc truncate` processes.
Outputs: results.json (everything), results.md (the tables), rd.png (the plot).
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from scalecodec.evaluate import evaluate
from scalecodec.metrics import bd_rate, psnr

# CompressAI mbt2018-mean, fully trained (shared/notes/anchors.md).
MBT2018_MEAN = [(0.124, 27.70), (0.198, 29.36), (0.307, 31.13), (0.461, 32.95), (0.662, 34.97),
                (0.914, 36.91), (1.234, 38.84), (1.619, 40.63)]
BPG444 = [(0.161, 28.68), (0.352, 31.59), (0.685, 34.86), (1.200, 38.26)]
J2K_RATES = [0.125, 0.25, 0.5, 0.75, 1.0, 1.5]


def jpeg2000_curve(files: list[Path]) -> list[dict]:
    points = []
    for target in J2K_RATES:
        bpps, psnrs = [], []
        for f in files:
            src = np.asarray(Image.open(f).convert("RGB"))
            buf = io.BytesIO()
            Image.fromarray(src).save(buf, "JPEG2000", irreversible=True, mct=1, no_jp2=True,
                                      quality_mode="rates", quality_layers=[24 / target])
            data = buf.getvalue()
            rec = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            bpps.append(8 * len(data) / (src.shape[0] * src.shape[1]))
            psnrs.append(psnr(src, rec))
        points.append({"target_bpp": target, "bpp": statistics.mean(bpps), "psnr": statistics.mean(psnrs)})
        print(f"JPEG 2000 @ {target} bpp: {points[-1]['bpp']:.4f} bpp, {points[-1]['psnr']:.2f} dB",
              file=sys.stderr)
    return points


def process_times(files: list[Path], quality: float) -> dict:
    """Wall time of whole scc processes, as a user feels them."""
    scc = [sys.executable, "-m", "scalecodec.cli"]
    times = {"decode": [], "info": [], "truncate": []}
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            s = Path(tmp) / "s.scc"
            subprocess.run([*scc, "encode", f, s, "-q", str(quality), "--force", "--quiet"], check=True)
            for name, args in [("decode", ["decode", s, Path(tmp) / "d.png", "--force", "--quiet"]),
                               ("info", ["info", s]),
                               ("truncate", ["truncate", s, Path(tmp) / "t.scc", "--bytes",
                                             str(s.stat().st_size), "--force", "--quiet"])]:
                t = time.perf_counter()
                subprocess.run([*scc, *args], check=True, stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - t)
    return {k: {"mean_s": statistics.mean(v), "max_s": max(v)} for k, v in times.items()}


def plot(ours, j2k, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    ax.plot(*zip(*MBT2018_MEAN), "k--", marker=".", label="mbt2018-mean, CompressAI (published)")
    ax.plot(*zip(*BPG444), ":", color="gray", marker=".", label="BPG 4:4:4 (published)")
    ax.plot([p["bpp"] for p in j2k], [p["psnr"] for p in j2k], "s-", color="tab:orange",
            label="JPEG 2000, OpenJPEG mct=1 (measured)")
    ax.plot([p["bpp"] for p in ours], [p["psnr"] for p in ours], "o-", color="tab:blue", lw=2,
            label="scalecodec (measured, real files)")
    ax.set_xlabel("bits per pixel (file bytes)")
    ax.set_ylabel("RGB PSNR (dB)")
    ax.set_title("Kodak, 24 images, mean")
    ax.set_xlim(0, 1.7)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", required=True, type=Path)
    ap.add_argument("--out", default=Path("bench"), type=Path)
    ap.add_argument("--qualities", default="1,2,3,4,5,6,7")
    ap.add_argument("--speed-quality", type=float, default=4.0)
    args = ap.parse_args()
    files = sorted(args.kodak.glob("*.png"))
    if not files:
        sys.exit(f"bench: no PNG images in {args.kodak}")
    qualities = [float(q) for q in args.qualities.split(",")]

    torch_threads = os.environ.get("OMP_NUM_THREADS", "default")
    rd = evaluate(args.kodak, qualities, device="cpu")
    ours = rd["mean"]
    j2k = jpeg2000_curve(files)
    ours_pts = [(p["bpp"], p["psnr"]) for p in ours]
    j2k_pts = [(p["bpp"], p["psnr"]) for p in j2k]
    proc = process_times(files, args.speed_quality)
    in_process = {
        "encode_mean_s": statistics.mean(r["encode_s"] for r in rd["images"]),
        "encode_max_s": max(r["encode_s"] for r in rd["images"]),
        "decode_mean_s": statistics.mean(r["decode_s"] for r in rd["images"]),
        "decode_max_s": max(r["decode_s"] for r in rd["images"]),
    }
    results = {
        "model": rd["model"], "model_id": rd["model_id"], "images": len(files),
        "machine": f"{os.cpu_count()} CPUs, torch threads: {torch_threads}",
        "rd": ours, "jpeg2000": j2k,
        "bd_rate_vs_jpeg2000_pct": bd_rate(j2k_pts, ours_pts),
        "bd_rate_vs_mbt2018_mean_pct": bd_rate(MBT2018_MEAN, ours_pts),
        "speed_in_process": in_process, "speed_process": proc,
        "per_image": rd["images"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "results.md").write_text(report(results))
    plot(ours, j2k, args.out / "rd.png")
    print(report(results))


def report(r: dict) -> str:
    lines = [
        f"# Benchmark: {r['model']} ({r['model_id']}) on Kodak ({r['images']} images)", "",
        "| quality | bpp (file bytes) | RGB PSNR (dB) | MS-SSIM |", "|---|---|---|---|",
    ]
    lines += [f"| {p['quality']:g} | {p['bpp']:.4f} | {p['psnr']:.2f} | {p['ms_ssim']:.4f} |" for p in r["rd"]]
    lines += ["", "| JPEG 2000 target | bpp | PSNR |", "|---|---|---|"]
    lines += [f"| {p['target_bpp']} | {p['bpp']:.4f} | {p['psnr']:.2f} |" for p in r["jpeg2000"]]
    s, p = r["speed_in_process"], r["speed_process"]
    lines += [
        "",
        f"- BD-rate vs JPEG 2000 (measured): **{r['bd_rate_vs_jpeg2000_pct']:+.1f}%** (target <= -10%)",
        f"- BD-rate vs mbt2018-mean (published): **{r['bd_rate_vs_mbt2018_mean_pct']:+.1f}%**",
        f"- In process, model loaded: encode mean {s['encode_mean_s']:.3f} s (max {s['encode_max_s']:.3f}; "
        f"target 1.5), decode mean {s['decode_mean_s']:.3f} s (max {s['decode_max_s']:.3f}; target 1.0)",
        f"- Whole `scc decode` process: mean {p['decode']['mean_s']:.2f} s (max {p['decode']['max_s']:.2f}; "
        "target 3.0)",
        f"- `scc info`: mean {1000 * p['info']['mean_s']:.0f} ms (max {1000 * p['info']['max_s']:.0f}); "
        f"`scc truncate`: mean {1000 * p['truncate']['mean_s']:.0f} ms "
        f"(max {1000 * p['truncate']['max_s']:.0f}; target 100 each)",
        f"- Machine: {r['machine']}",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
