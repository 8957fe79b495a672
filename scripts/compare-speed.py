#!/usr/bin/env python3
"""In-process decode time of two models on the same images, interleaved:
each image's stream (quality 4) of one model, then of the other, five
rounds, each image's best of five kept (with three, two runs of the same
code differed by 3%: this machine's neighbours stall single decodes). Separate `scc bench` runs time each
model once per image minutes apart, and on a shared machine their ratio
moved by 10% from run to run; interleaving gives both the same moments.

    scripts/compare-speed.py OLD_MODEL NEW_MODEL IMAGE... --out results/kodak/NAME.md

Run it on a quiet machine (a training run paused with kill -STOP); it writes
the report (naming this command) and prints it.
"""

import argparse
import statistics
import time
from pathlib import Path

from scalecodec import api
from scalecodec.eval.benchmark.inprocess import SPEED_QUALITY
from scalecodec.eval.benchmark.report import provenance

ROUNDS = 5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    models = {"old": a.old, "new": a.new}
    streams = {k: [api.encode_file(p.read_bytes(), SPEED_QUALITY, model_path=m).stream for p in a.images]
               for k, m in models.items()}
    decoders = {k: api.open_decoder(m) for k, m in models.items()}
    for k in models:  # first calls load and warm up
        decoders[k].decode(streams[k][0])
    best = {k: [float("inf")] * len(a.images) for k in models}
    for _ in range(ROUNDS):
        for i in range(len(a.images)):
            for k in models:
                t = time.perf_counter()
                decoders[k].decode(streams[k][i])
                best[k][i] = min(best[k][i], time.perf_counter() - t)
    ratio = sum(best["new"]) / sum(best["old"])
    lines = [f"# Decode time, {a.new} against {a.old}", "", provenance(), "",
             f"{len(a.images)} images, quality {SPEED_QUALITY}, in process (model loaded), the two models "
             f"interleaved image by image, best of {ROUNDS} rounds per image.", "",
             "| model | median (s) | mean (s) | max (s) |", "|---|---|---|---|"]
    for k, m in models.items():
        lines.append(f"| {k}: `{m}` | {statistics.median(best[k]):.3f} | {statistics.fmean(best[k]):.3f} | "
                     f"{max(best[k]):.3f} |")
    lines += ["", f"**Total time, new over old: {ratio:.3f}x** (per image: "
              f"{min(n / o for n, o in zip(best['new'], best['old'])):.2f}x to "
              f"{max(n / o for n, o in zip(best['new'], best['old'])):.2f}x, median "
              f"{statistics.median(n / o for n, o in zip(best['new'], best['old'])):.2f}x)."]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
