"""`scc eval`: rate-distortion and speed of real files over a folder of images.

Every rate is the size of a stream written to disk; every PSNR compares the
decoded 8-bit image with the source.
"""

import csv
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..api import open_decoder, open_encoder
from ..errors import InputError
from ..io.images import IMAGE_SUFFIXES, load_image
from .metrics import ms_ssim, psnr


@dataclass
class Record:
    image: str
    quality: float
    width: int
    height: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float
    encode_s: float
    decode_s: float


def evaluate(folder: Path, qualities: list[float], model_path=None, device="auto",
             progress=sys.stderr) -> dict:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no images found")
    encoder, decoder = open_encoder(model_path, device), open_decoder(model_path)
    records = []
    with tempfile.TemporaryDirectory(prefix="scc-eval-") as tmp:
        total = len(files) * len(qualities)
        for i, path in enumerate(files):
            src = load_image(path.read_bytes(), str(path))
            for j, q in enumerate(qualities):
                t0 = time.perf_counter()
                stream = encoder.encode(src.pixels, q, src.colour)
                t1 = time.perf_counter()
                out = Path(tmp) / f"{path.stem}-q{q:g}.scc"
                out.write_bytes(stream)
                size = out.stat().st_size
                t2 = time.perf_counter()
                decoded = decoder.decode(out.read_bytes()).pixels
                t3 = time.perf_counter()
                ref = src.pixels if decoded.ndim == 3 else src.pixels[:, :, 0]
                h, w = ref.shape[:2]
                records.append(Record(path.name, q, w, h, size, 8 * size / (w * h), psnr(ref, decoded),
                                      ms_ssim(ref, decoded), t1 - t0, t3 - t2))
                n = i * len(qualities) + j + 1
                r = records[-1]
                print(f"[{n}/{total}] {path.name} q{q:g}: {r.bpp:.4f} bpp, {r.psnr:.2f} dB, "
                      f"enc {r.encode_s:.2f} s, dec {r.decode_s:.2f} s", file=progress, flush=True)
    return summarize(records, encoder)


def summarize(records: list[Record], encoder) -> dict:
    means = []
    for q in sorted({r.quality for r in records}):
        rs = [r for r in records if r.quality == q]
        means.append({
            "quality": q,
            "images": len(rs),
            **{k: float(np.mean([getattr(r, k) for r in rs]))
               for k in ("bpp", "psnr", "ms_ssim", "encode_s", "decode_s")},
        })
    return {
        "model": encoder.model.path.name,
        "model_id": encoder.model.model_id.hex(),
        "encoder_device": str(encoder.device),
        "mean": means,
        "images": [asdict(r) for r in records],
    }


def write_results(results: dict, path: str, force: bool = False) -> None:
    """JSON, or CSV of the per-image records when the name ends in .csv."""
    from ..io.files import write_output

    if path.endswith(".csv"):
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(results["images"][0]))
        writer.writeheader()
        writer.writerows(results["images"])
        data = buf.getvalue().encode()
    else:
        data = (json.dumps(results, indent=1) + "\n").encode()
    write_output(path, data, force)
