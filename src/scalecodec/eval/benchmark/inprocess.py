"""scalecodec's own speed beyond whole processes: the library with its model
loaded (how a server would run it), on the CPU and, where present, on CUDA;
and the container commands, which must start in milliseconds."""

import statistics
import sys
import tempfile
import time
from pathlib import Path

from ...api import open_decoder, open_encoder
from .runner import Source, run_measured

SPEED_QUALITY = 4


def _devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def library_speed(sources: list[Source], model: str | None) -> dict:
    decoder = open_decoder(model)
    out = {}
    for device in _devices():
        encoder = open_encoder(model, device)
        enc, dec = [], []
        for src in sources:
            pixels = src.pixels
            t = time.perf_counter()
            # Returns bytes made on the CPU, so CUDA work is finished when it returns.
            stream = encoder.encode(pixels, SPEED_QUALITY)
            enc.append(time.perf_counter() - t)
            t = time.perf_counter()
            decoder.decode(stream)
            dec.append(time.perf_counter() - t)
        megapixels = statistics.fmean(s.width * s.height for s in sources) / 1e6
        out[device] = {side: {"median_s": statistics.median(v), "max_s": max(v),
                              "megapixels_per_s": megapixels / statistics.median(v)}
                       for side, v in (("encode", enc), ("decode", dec))}
    # The decoder is integer numpy arithmetic on the CPU on every machine.
    out["decode_runs_on"] = "cpu"
    return out


def enlarge(image: Path, size: tuple[int, int], out: Path) -> None:
    """image as RGB, enlarged bicubically to size, saved as a PNG at out: a
    large photo to time (its content matters little; its size sets the time)."""
    from PIL import Image

    Image.open(image).convert("RGB").resize(size, Image.BICUBIC).save(out, compress_level=1)


def large_photo_speed(source: Source, model: str | None, size: tuple[int, int]) -> dict:
    """A single-layer `scc encode` and `scc decode` of source enlarged to
    size, as whole processes: wall seconds, megapixels per second and peak
    resident MiB."""
    scc = [sys.executable, "-m", "scalecodec.cli"]
    model_args = ["--model", model] if model else []
    megapixels = size[0] * size[1] / 1e6
    with tempfile.TemporaryDirectory(prefix="scc-bench-") as tmp:
        photo, stream, decoded = Path(tmp) / "large.png", Path(tmp) / "large.scc", Path(tmp) / "out.png"
        enlarge(source.png, size, photo)
        runs = {"encode": run_measured([*scc, "encode", photo, stream, "-q", str(SPEED_QUALITY),
                                        *model_args, "--force", "--quiet"]),
                "decode": run_measured([*scc, "decode", stream, decoded, *model_args, "--force", "--quiet"])}
    return {"source": source.name, "width": size[0], "height": size[1],
            **{side: {"seconds": sec, "megapixels_per_s": megapixels / sec, "peak_mib": peak}
               for side, (sec, peak) in runs.items()}}


def container_speed(sources: list[Source], model: str | None) -> dict:
    """`scc info` and `scc truncate` as whole processes (start-up included)."""
    scc = [sys.executable, "-m", "scalecodec.cli"]
    model_args = ["--model", model] if model else []
    times = {"info": [], "truncate": []}
    with tempfile.TemporaryDirectory(prefix="scc-bench-") as tmp:
        stream, cut = Path(tmp) / "s.scc", Path(tmp) / "t.scc"
        for src in sources:
            run_measured([*scc, "encode", src.png, stream, "-q", str(SPEED_QUALITY), *model_args,
                          "--force", "--quiet"])
            times["info"].append(run_measured([*scc, "info", stream])[0])
            times["truncate"].append(run_measured(
                [*scc, "truncate", stream, cut, "--bytes", str(stream.stat().st_size), "--force",
                 "--quiet"])[0])
    return {k: {"median_s": statistics.median(v), "max_s": max(v)} for k, v in times.items()}
