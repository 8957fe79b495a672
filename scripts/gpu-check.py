#!/usr/bin/env python3
"""Run on a machine with a CUDA GPU: both directions of "bit-exact anywhere".

    scripts/gpu-check.py [--megapixels 12]

1. Streams encoded with the encoder on CUDA decode on the CPU (numpy) to the
   same pixels the encoder predicted, and the CUDA decoder gives the CPU
   decoder's bytes.
2. Streams encoded on the CPU decode on CUDA to the CPU decoder's bytes.
It prints megapixels per second of each, on a photo enlarged to the size
asked for (the repo's sample photo, bicubic), and exits 1 on any mismatch.
"""

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from scalecodec.api import decode_file, encode_file

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=12.0)
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA device here", file=sys.stderr)
        return 2
    src = Image.open(ROOT / "examples" / "sample.png").convert("RGB")
    s = (a.megapixels * 1e6 / (src.width * src.height)) ** 0.5
    big = src.resize((round(src.width * s), round(src.height * s)), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    mp = big.width * big.height / 1e6
    print(f"gpu-check: {torch.cuda.get_device_name()}, {big.width}x{big.height} ({mp:.1f} MP)")
    failures = 0
    for enc_device in ("cuda", "cpu"):
        for options in ({}, {"scales": [1.0, 2.0]}):
            kind = "spatial" if options else "single"
            result, t_enc = timed(lambda: encode_file(buf.getvalue(), 4.0, device=enc_device, **options))
            cpu, t_cpu = timed(lambda: decode_file(result.stream, device="cpu"))
            gpu, t_gpu = timed(lambda: decode_file(result.stream, device="cuda"))
            same = np.array_equal(cpu.pixels, gpu.pixels)
            failures += not same
            print(f"  {kind:7s} encoded on {enc_device}: encode {mp / t_enc:.2f} MP/s; decode cpu "
                  f"{mp / t_cpu:.2f} MP/s, cuda {mp / t_gpu:.2f} MP/s; cuda == cpu: {same}")
    print("gpu-check:", "FAILED" if failures else "all bit-exact")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
