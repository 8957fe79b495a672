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

ANCHOR = "jpeg2000"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--old-timing", type=Path, default=None,
                    help="the old model's speed from this results.json instead (a run on the new run's "
                         "machine and load, e.g. at the timed quality alone)")
    ap.add_argument("--new-timing", type=Path, default=None,
                    help="the new model's speed from this results.json instead (timed beside --old-timing)")
    a = ap.parse_args()
    runs = [json.loads(p.read_text()) for p in (a.old, a.new)]
    timing_runs = [json.loads(t.read_text()) if t else r
                   for t, r in zip((a.old_timing, a.new_timing), runs)]
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
              f"PSNR {fmt(bd['psnr'])}, MS-SSIM {fmt(bd['ms_ssim'])}."]
    anchor = runs[0]["summary"]["curves"].get(ANCHOR)
    if anchor:  # the peers of the old run: the same images, real files
        old_vs, new_vs = bd_pair(anchor, old), bd_pair(anchor, new)
        lines.append(f"Against {ANCHOR} (the old run's points): old {fmt(old_vs['psnr'])} / "
                     f"{fmt(old_vs['ms_ssim'])}, new {fmt(new_vs['psnr'])} / {fmt(new_vs['ms_ssim'])} "
                     "(PSNR / MS-SSIM).")
    lines += ["",
              "| | bpp covered | PSNR @ 0.25 bpp | PSNR @ 0.5 bpp | PSNR @ 1 bpp | top level |",
              "|---|---|---|---|---|---|"]
    for label, curve in (("old", old), ("new", new)):
        at = [psnr_at(curve, b) for b in (0.25, 0.5, 1.0)]
        lines.append(f"| {label} | {curve[0]['bpp']:.3f}–{curve[-1]['bpp']:.3f} | "
                     + " | ".join("–" if v is None else f"{v:.2f}" for v in at)
                     + f" | {curve[-1]['bpp']:.3f} bpp, {curve[-1]['psnr']:.2f} dB |")
    timed = [(label, r["scalecodec_library"]) for label, r in (("old", timing_runs[0]), ("new", timing_runs[1]))
             if "cpu" in r.get("scalecodec_library", {}).get("devices", {})]
    if timed:
        sources = [f"{label} from `{t}`, {r['date']}" for label, t, r in
                   (("old", a.old_timing, timing_runs[0]), ("new", a.new_timing, timing_runs[1])) if t]
        source = "; ".join(sources) if sources else "from the runs above"
        lines += ["", f"In-process speed at the benchmark's quality (`scc bench`'s library timing, model loaded; "
                  f"{source}; comparable only where the runs shared a machine and its load):", "",
                  "| | encode median (s) | decode median (s) | decode max (s) | large photo: whole `scc decode` (s, peak MiB) |",
                  "|---|---|---|---|---|"]
        for label, r in timed:
            cpu, large = r["devices"]["cpu"], r.get("large_photo")
            big = (f"{large['decode']['seconds']:.1f} s, {large['decode']['peak_mib']:.0f} MiB "
                   f"({large['width']}x{large['height']})" if large else "–")
            lines.append(f"| {label} | {cpu['encode']['median_s']:.3f} | {cpu['decode']['median_s']:.3f} | "
                         f"{cpu['decode']['max_s']:.3f} | {big} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
