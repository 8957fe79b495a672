#!/usr/bin/env python3
"""Large photos, as a user runs them (issue 15): whole `scc encode` and
`scc decode` processes on a photo enlarged to each size asked for, in every
mode (single-layer, spatial --scales 1,2,4, fine-grained), with wall time and
peak resident memory from GNU time (/usr/bin/time -v). Writes OUT (.md,
naming this command) and OUT with .json beside it.

    python scripts/measure-large.py OUT.md [--megapixels 12 24] [--image PNG]

The photo is enlarged bicubically from IMAGE (default: examples/sample.png);
its content matters little to memory and time, which the size sets.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import tempfile
from pathlib import Path

from scalecodec.eval.benchmark.inprocess import enlarge
from scalecodec.eval.benchmark.runner import ToolError, run_measured

ROOT = Path(__file__).resolve().parents[1]
QUALITY = 3
MODES = {"single-layer": [], "spatial `--scales 1,2,4`": ["--scales", "1,2,4"],
         "fine-grained": ["--mode", "fgs"]}
# 4:3 phone and 3:2 camera frames, as in the table.
SIZES = {12: (4032, 3024), 24: (6000, 4000)}
GIB = 1024 ** 3


def timed(args: list[str]) -> dict:
    """One whole process under GNU time: its wall seconds and peak RSS."""
    try:
        seconds, peak_mib = run_measured(args)
    except ToolError as err:
        sys.exit(f"measure-large: {shlex.join(args)} failed: {err}")
    return {"seconds": seconds, "peak_gib": peak_mib * 1024**2 / GIB}


def measure(megapixels: int, image: Path, work: Path, scc: str) -> dict:
    width, height = SIZES[megapixels]
    photo = work / f"{megapixels}mp.png"
    enlarge(image, (width, height), photo)
    row = {"width": width, "height": height}
    for mode, flags in MODES.items():
        stream, out = work / "out.scc", work / "out.png"
        enc = timed([scc, "encode", str(photo), str(stream), "-q", str(QUALITY), "-f", *flags])
        dec = timed([scc, "decode", str(stream), str(out), "-f"])
        row[mode] = {"encode": enc, "decode": dec, "bytes": stream.stat().st_size}
        print(f"{megapixels} MP {mode}: encode {enc['peak_gib']:.2f} GiB {enc['seconds']:.0f} s, "
              f"decode {dec['peak_gib']:.2f} GiB {dec['seconds']:.0f} s", file=sys.stderr, flush=True)
    return row


def table(rows: dict, command: str, load: str) -> str:
    head = " | ".join(f"{m} encode / decode" for m in MODES)
    lines = [
        "# Large photos: whole processes, peak memory and time", "",
        f"Written by `{command}` on {datetime.date.today()} ({platform.machine()}, "
        f"{os.cpu_count()} cores; load average at the start {load}, so the times are an upper bound). "
        f"Quality {QUALITY}; peak resident memory from GNU time. Target: every cell within 1.5 GiB.", "",
        f"| photo | {head} |", "|---|" + "---|" * len(MODES)]
    for mp, row in rows.items():
        cells = []
        for mode in MODES:
            e, d = row[mode]["encode"], row[mode]["decode"]
            cells.append(f"{e['peak_gib']:.2f} / {d['peak_gib']:.2f} GiB "
                         f"({e['seconds']:.0f} s / {d['seconds']:.0f} s)")
        lines.append(f"| {mp} MP ({row['width']}x{row['height']}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--megapixels", type=int, nargs="+", choices=sorted(SIZES), default=sorted(SIZES))
    ap.add_argument("--image", type=Path, default=ROOT / "examples" / "sample.png")
    args = ap.parse_args()
    scc = str(Path(sys.executable).with_name("scc"))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        rows = {mp: measure(mp, args.image, Path(tmp), scc) for mp in args.megapixels}
    command = shlex.join(["python", "scripts/measure-large.py", *sys.argv[1:]])
    args.out.write_text(table(rows, command, load))
    args.out.with_suffix(".json").write_text(json.dumps({"command": command, "load": load, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
