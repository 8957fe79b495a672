#!/usr/bin/env python3
"""Plot and tabulate a training run's learning curve (held-out photos).

    scripts/learning-curve.py runs/base-v3 --out training-state/scc-base-v3.curve

reads WORKDIR/val_log.jsonl (written by `scc train --val-minutes`) and writes
OUT.png (BD-rate against the reference and PSNR at fixed rates, over training
minutes) and OUT.md (the same as a table). Rates are the model's code length.
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from scalecodec.training.validation import psnr_at  # noqa: E402

AT = (0.25, 0.5, 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="OUT.png and OUT.md are written")
    a = ap.parse_args()
    log = a.workdir / "val_log.jsonl"
    if not log.exists():
        print(f"{log}: no learning curve (train with --val-minutes)", file=sys.stderr)
        return 3
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    ref_path = a.workdir / "val_reference.json"
    ref = json.loads(ref_path.read_text()) if ref_path.exists() else None
    minutes = [r["minutes"] for r in records]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(minutes, [r.get("bd_vs_reference_pct") for r in records], "o-", label="the codec")
    # A codec with a context model: y under the hyperprior alone (fine-grained streams' prior).
    if any("hyperprior_bd_vs_reference_pct" in r for r in records):
        ax1.plot(minutes, [r.get("hyperprior_bd_vs_reference_pct") for r in records], "s--", ms=3,
                 label="its hyperprior alone")
        ax1.legend()
    ax1.axhline(0, color="grey", lw=0.8)
    ax1.set(xlabel="training minutes", ylabel="BD-rate vs reference (%)", title="lower is better")
    # Early transients (tens of %) would flatten the part that matters now.
    bds = [r["bd_vs_reference_pct"] for r in records if r.get("bd_vs_reference_pct") is not None]
    if bds and max(bds) > 5:
        ax1.set_ylim(min(bds) - 0.5, 5)
        ax1.set_title("lower is better (axis cut at +5%)")
    for b in AT:
        line, = ax2.plot(minutes, [r[f"psnr_at_{b}_bpp"] for r in records], "o-", label=f"{b} bpp")
        if ref:
            level = psnr_at(ref, b)
            if level is not None:
                ax2.axhline(level, color=line.get_color(), ls="--", lw=0.8)
    ax2.set(xlabel="training minutes", ylabel="PSNR (dB), held-out photos",
            title="dashed: reference")
    # A run that continues another's curve (a widened codec) restarts its
    # step count: mark where, on both plots.
    for prev, r in zip(records, records[1:]):
        if r["step"] < prev["step"]:
            for ax in (ax1, ax2):
                ax.axvline(prev["minutes"], color="grey", ls=":", lw=1)
            ax1.annotate(" new run", (prev["minutes"], ax1.get_ylim()[1]), va="top", fontsize=8, color="grey")
    ax2.legend()
    fig.suptitle(f"learning curve of {a.workdir}")
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out.parent / (a.out.name + ".png"), dpi=100)

    def fmt(v, spec="+.2f"):
        return "" if v is None else format(v, spec)

    lines = [f"# Learning curve: `{a.workdir}`", "",
             f"Written by `scripts/learning-curve.py {' '.join(sys.argv[1:])}` from `val_log.jsonl`: "
             "held-out training photos (scalecodec.training.validation), rates are the model's code length.", ""]
    if ref:
        lines += [f"Reference: `{ref.get('checkpoint')}`; its PSNR at "
                  + ", ".join(f"{b} bpp {fmt(psnr_at(ref, b), '.2f')} dB" for b in AT) + ".", ""]
    lines += ["| minutes | step | BD vs reference (%) | BD vs previous (%) | hyperprior alone: BD vs reference (%) | "
              + " | ".join(f"PSNR at {b} bpp" for b in AT) + " | top level |",
              "|---:|---:|---:|---:|---:|" + "---:|" * len(AT) + "---|"]
    for r in records:
        lines.append(f"| {r['minutes']:.1f} | {r['step']} | {fmt(r.get('bd_vs_reference_pct'))} | "
                     f"{fmt(r.get('bd_vs_previous_pct'))} | {fmt(r.get('hyperprior_bd_vs_reference_pct'))} | "
                     + " | ".join(fmt(r[f"psnr_at_{b}_bpp"], ".2f") for b in AT)
                     + f" | {r['bpp'][-1]:.3f} bpp, {r['psnr'][-1]:.2f} dB |")
    (a.out.parent / (a.out.name + ".md")).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
