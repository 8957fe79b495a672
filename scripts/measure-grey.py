#!/usr/bin/env python3
"""Grey photos: what a grey model (one trained on grey photos) saves against
the default model on the same grey photos, what a 1.3 decoder's rounded mean
of R, G and B gains over channel 0 alone (the rule of 1.2), and what a grey
stream costs against the colour one; real files' bytes, PSNR on the decoded
8-bit grey.

    scripts/measure-grey.py ../shared/data/kodak --grey-model models/scc-base-v2-grey.npz --out results/kodak-grey.md
"""

import argparse
import io
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from scalecodec import container
from scalecodec.api import decode_file, encode_file
from scalecodec.eval.benchmark.report import provenance
from scalecodec.eval.metrics import bd_rate, psnr
from scalecodec.model.file import default_model_path

QUALITIES = (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--grey-model", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    files = sorted(a.folder.glob("*.png"))
    colour_model = str(default_model_path())
    keys = ("grey_bytes", "dflt_bytes", "colour_bytes", "pixels", "psnr_grey", "psnr_dflt", "psnr_dflt_r")
    rows = {q: dict.fromkeys(keys, 0.0) for q in QUALITIES}
    for f in files:
        colour = Image.open(f).convert("RGB")
        grey = colour.convert("L")
        g = np.asarray(grey)
        for q in QUALITIES:
            by_grey = encode_file(png(grey), q, model_path=a.grey_model, device="cpu").stream
            dflt = encode_file(png(grey), q, model_path=colour_model, device="cpu").stream  # what scc encode does
            s = container.parse(dflt)
            as_rgb = container.serialize(replace(s, header=replace(s.header, colour=container.ColourFormat.RGB)))
            r = rows[q]
            r["grey_bytes"] += len(by_grey)
            r["dflt_bytes"] += len(dflt)
            r["colour_bytes"] += len(encode_file(png(colour), q, device="cpu").stream)
            r["pixels"] += g.size
            r["psnr_grey"] += psnr(g, decode_file(by_grey).pixels) / len(files)
            r["psnr_dflt"] += psnr(g, decode_file(dflt).pixels) / len(files)
            r["psnr_dflt_r"] += psnr(g, decode_file(as_rgb).pixels[:, :, 0]) / len(files)
        print(f"{f.name} done", file=sys.stderr)

    def curve(size, quality):
        return [(8 * rows[q][size] / rows[q]["pixels"], rows[q][quality]) for q in QUALITIES]

    grey_vs_dflt = bd_rate(curve("dflt_bytes", "psnr_dflt"), curve("grey_bytes", "psnr_grey"))
    mean_vs_r = bd_rate(curve("dflt_bytes", "psnr_dflt_r"), curve("dflt_bytes", "psnr_dflt"))
    lines = [f"# Grey photos: {a.folder} ({len(files)} images as 8-bit grey)", "", provenance(), "",
             "Each photo is made grey (Pillow's luma) and encoded once per quality with each model (real "
             "streams); PSNR is of the decoded 8-bit grey against it. Means over the images. "
             f"Grey model: `{a.grey_model.name}`; default model (what `scc encode` codes a grey photo with): "
             f"`{Path(colour_model).name}`.", "",
             f"**The grey model against the default model on the same grey photos: "
             f"{grey_vs_dflt:+.1f}% BD-rate.**", "",
             f"A 1.3 decoder's grey (the rounded mean of R, G, B) against a 1.2 decoder's (R alone), the same "
             f"default-model streams: {mean_vs_r:+.1f}% BD-rate.", "",
             "| quality | grey model bpp | PSNR | default bpp | PSNR (mean of R G B) | PSNR (R alone) "
             "| grey model / default bytes | colour photo, default bpp | grey model / colour bytes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for q in QUALITIES:
        r = rows[q]
        bpp = lambda k: 8 * r[k] / r["pixels"]
        lines.append(f"| {q:g} | {bpp('grey_bytes'):.3f} | {r['psnr_grey']:.2f} | {bpp('dflt_bytes'):.3f} | "
                     f"{r['psnr_dflt']:.2f} | {r['psnr_dflt_r']:.2f} | {r['grey_bytes'] / r['dflt_bytes']:.2f} | "
                     f"{bpp('colour_bytes'):.3f} | {r['grey_bytes'] / r['colour_bytes']:.2f} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
