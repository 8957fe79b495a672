#!/usr/bin/env python3
"""BD-rate of scalecodec between two `scc bench` results files: a model
against the one it replaces, each measured by the same harness on the same
images (real files).

    scripts/compare-models.py OLD/results.json NEW/results.json --out results/kodak/base-v2-vs-v1.md

Each results.json names its command, date and model; the report repeats them,
so it says which runs it compares. It writes nothing but the report.
"""

import argparse
import json
import sys
from pathlib import Path

from scalecodec.eval.benchmark.summary import OURS, bd_pair, psnr_at


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    runs = [json.loads(p.read_text()) for p in (a.old, a.new)]
    if runs[0]["images"] != runs[1]["images"] or runs[0]["dataset"] != runs[1]["dataset"]:
        print("the two runs measured different images", file=sys.stderr)
        return 2
    old, new = (r["summary"]["curves"][OURS] for r in runs)
    bd = bd_pair(old, new)

    def fmt(v):
        return "–" if v is None else f"{v:+.1f}%"

    lines = [f"# {OURS}: {a.new} against {a.old}", "",
             f"Written by `scripts/compare-models.py {' '.join(map(str, sys.argv[1:]))}`.", ""]
    for label, path, r in (("old", a.old, runs[0]), ("new", a.new, runs[1])):
        lines.append(f"- **{label}**: `{path}`, {r['images']} images of {r['dataset']}, {r['date']}, "
                     f"by `{r['command']}`; {r['versions'][OURS]}")
    lines += ["", f"**BD-rate of new against old** (negative: fewer bits for the same quality): "
              f"PSNR {fmt(bd['psnr'])}, MS-SSIM {fmt(bd['ms_ssim'])}.", "",
              "| | bpp covered | PSNR @ 0.25 bpp | PSNR @ 0.5 bpp | PSNR @ 1 bpp | top level |",
              "|---|---|---|---|---|---|"]
    for label, curve in (("old", old), ("new", new)):
        at = [psnr_at(curve, b) for b in (0.25, 0.5, 1.0)]
        lines.append(f"| {label} | {curve[0]['bpp']:.3f}–{curve[-1]['bpp']:.3f} | "
                     + " | ".join("–" if v is None else f"{v:.2f}" for v in at)
                     + f" | {curve[-1]['bpp']:.3f} bpp, {curve[-1]['psnr']:.2f} dB |")
    timed = [(label, r["scalecodec_library"]["devices"]["cpu"]) for label, r in (("old", runs[0]), ("new", runs[1]))
             if "cpu" in r.get("scalecodec_library", {}).get("devices", {})]
    if timed:
        lines += ["", "In-process speed at the benchmark's quality (`scc bench`'s library timing, model loaded; "
                  "comparable only where the two runs shared a machine and its load):", "",
                  "| | encode median (s) | decode median (s) | decode max (s) |", "|---|---|---|---|"]
        lines += [f"| {label} | {cpu['encode']['median_s']:.3f} | {cpu['decode']['median_s']:.3f} | "
                  f"{cpu['decode']['max_s']:.3f} |" for label, cpu in timed]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
