#!/usr/bin/env python3
"""Write the golden vectors: tests/vectors/*.scc and expected.json.

    scripts/make-vectors.py            # refuses to replace existing vectors
    scripts/make-vectors.py --force    # on purpose: the decoded bytes changed

A vector is a real stream of the committed test photo made by the shipped
models, with the SHA-256 of what the decoder makes of it at several sizes, and
of `truncate` cuts and their decodes. tests/test_golden_vectors.py checks every
hash, so a change to the decoder's arithmetic, the container or truncation
fails there. Such a change must bump the format version (bitstream_spec.md)
before the vectors are made again.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from scalecodec import __version__, container
from scalecodec.api import decode_file, encode_file, truncate_file
from scalecodec.container.format import VERSION_MAJOR, VERSION_MINOR

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "data" / "photo-120x88.png"
OUT = ROOT / "tests" / "vectors"

# name -> (encode options, decode requests, cuts: `scc truncate` requests,
# with bytes as a fraction of the stream)
VECTORS = {
    "single-q3": ({"quality": 3.0}, [{}], []),
    "spatial-1-2-q4": ({"quality": 4.0, "scales": [1.0, 2.0]},
                       [{}, {"scale": 1.0}, {"scale": 1.5}, {"width": 180}], [{"scale": 1.0}]),
    # At the top quality, as fine-grained streams are meant to be made; cut at
    # a handful of budgets (each cut ends inside a plane).
    "fgs-q10": ({"quality": 10.0, "mode": "fgs"}, [{}], [{"bytes": f} for f in (0.1, 0.35, 0.6, 0.85)]),
    # Spatial and fine-grained at once: cut by bytes alone (the top layer
    # cut), to the base layer's size and a budget, and to the top's.
    "fgs-spatial-1-2-q6": ({"quality": 6.0, "scales": [1.0, 2.0], "mode": "fgs"}, [{}, {"scale": 1.0}, {"scale": 1.5}],
                           [{"bytes": 0.6}, {"scale": 1.0, "bytes": 0.15}, {"scale": 2.0, "bytes": 0.5}]),
    # From the photo with metadata (with_metadata): upright, ICC, EXIF and XMP kept by the cut.
    "spatial-1-2-q4-metadata": ({"quality": 4.0, "scales": [1.0, 2.0]}, [{}, {"scale": 1.0}], [{"scale": 1.0}]),
    # From the photo with an alpha channel (with_alpha), decoded at its size and smaller.
    "single-q4-alpha": ({"quality": 4.0}, [{}, {"width": 50}], []),
    # Made by the model with a context model (y coded slice by slice, section 5.6).
    "single-q3-context": ({"quality": 3.0, "model_path": "models/scc-base-v2-ctx.npz"}, [{}, {"width": 60}], []),
}


def with_alpha(png: bytes) -> bytes:
    """The photo with an alpha channel: a ramp, and a fully transparent disc."""
    import io

    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    alpha = (xx * 255 // (w - 1)).astype(np.uint8)
    alpha[(yy - h // 2) ** 2 + (xx - w // 2) ** 2 < (h // 4) ** 2] = 0
    buf = io.BytesIO()
    Image.fromarray(np.dstack([rgb, alpha])).save(buf, "PNG")
    return buf.getvalue()


def with_metadata(png: bytes) -> bytes:
    """The photo as a camera might write it: sideways, with EXIF orientation
    6, an ICC profile, EXIF (make, date) and XMP."""
    import io

    from PIL import Image, ImageCms, PngImagePlugin

    im = Image.open(io.BytesIO(png)).transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0132] = 6, "VectorCam", "2026:12:06 12:00:00"
    xmp = PngImagePlugin.PngInfo()
    xmp.add_itxt("XML:com.adobe.xmp", '<x:xmpmeta xmlns:x="adobe:ns:meta/"/>', zip=False)
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    # The profile's creation time (header bytes 24-35) pinned, so that the
    # vector is the same bytes whenever it is made.
    icc[24:36] = b"".join(v.to_bytes(2, "big") for v in (2026, 12, 6, 12, 0, 0))
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=exif, icc_profile=bytes(icc), pnginfo=xmp)
    return buf.getvalue()


def metadata_hashes(data: bytes) -> dict:
    return {c.kind.name.lower(): sha(c.payload) for c in container.parse(data).metadata}


def cut(data: bytes, request: dict) -> tuple[dict, bytes]:
    """The `scc truncate` request (bytes made absolute) and the stream it makes."""
    request = {"max_bytes": int(len(data) * request["bytes"]) if "bytes" in request else None,
               "scale": request.get("scale")}
    return request, truncate_file(data, **request).stream


def sha(data) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray)
                          else data).hexdigest()


def describe(data: bytes, requests: list[dict]) -> list[dict]:
    out = []
    for req in requests:
        d = decode_file(data, **req)
        out.append({"request": req, "width": d.width, "height": d.height, "pixels_sha256": sha(d.pixels)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="replace existing vectors")
    a = ap.parse_args()
    if (OUT / "expected.json").exists() and not a.force:
        print(f"{OUT}/expected.json exists; --force replaces it (bump the format version first "
              "if decoded bytes changed)", file=sys.stderr)
        return 6
    OUT.mkdir(parents=True, exist_ok=True)
    source = PHOTO.read_bytes()
    expected = {"made_by": f"scripts/make-vectors.py (scalecodec {__version__})",
                "format_version": f"{VERSION_MAJOR}.{VERSION_MINOR}",
                "source": {"file": str(PHOTO.relative_to(ROOT)), "sha256": sha(source)}, "vectors": {}}
    for name, (options, requests, budgets) in VECTORS.items():
        made = {"metadata": with_metadata, "alpha": with_alpha}.get(name.rsplit("-", 1)[-1], lambda s: s)
        # A model path is the checkout's (relative in expected.json).
        data = encode_file(made(source), **{k: str(ROOT / v) if k == "model_path" else v
                                            for k, v in options.items()}).stream
        (OUT / f"{name}.scc").write_bytes(data)
        cuts = []
        for request in budgets:
            request, part = cut(data, request)
            cuts.append({"request": request, "stream_sha256": sha(part), "stream_bytes": len(part),
                         "metadata_sha256": metadata_hashes(part), "decoded": describe(part, [{}])})
        expected["vectors"][name] = {"file": f"{name}.scc", "stream_sha256": sha(data),
                                     "metadata_sha256": metadata_hashes(data),
                                     "encode": options, "decoded": describe(data, requests),
                                     "truncated": cuts}
        print(f"{name}: {len(data)} bytes", file=sys.stderr)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
