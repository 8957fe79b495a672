"""Running codecs on images: one measured point per (image, codec, setting),
cached on disk so an interrupted run resumes where it stopped."""

import compileall
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import InputError
from ...io.images import IMAGE_SUFFIXES
from ..metrics import ms_ssim, psnr
from .codecs import Codec
from .metadata import MetadataError, metadata_bytes

# Part of every cache key: records measured under an older rule are measured anew.
RECORD_RULE = "bytes without metadata (benchmark.metadata)"


class ToolError(RuntimeError):
    """A codec's tool failed on an input."""


@dataclass(frozen=True)
class Source:
    """One benchmark image, as 8-bit RGB in the PNG and PPM files the tools read."""
    name: str
    digest: str  # of the pixels, so an edited image is never served from the cache
    png: Path
    ppm: Path
    width: int
    height: int

    @cached_property
    def pixels(self) -> np.ndarray:
        """Decoded once per run, not once per point."""
        return np.asarray(Image.open(self.png).convert("RGB"))


def prepare_sources(folder: Path, workdir: Path) -> list[Source]:
    """Every image in folder as RGB 8-bit PNG + PPM (grey images become RGB)."""
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{folder}: no images found")
    workdir.mkdir(parents=True, exist_ok=True)
    sources = []
    for f in files:
        try:
            im = Image.open(f).convert("RGB")
        except OSError as err:
            raise InputError(f"{f}: not a readable image ({err})") from None
        digest = hashlib.sha256(im.tobytes()).hexdigest()[:16]
        png, ppm = workdir / f"{f.stem}-{digest}.png", workdir / f"{f.stem}-{digest}.ppm"
        for path in (png, ppm):
            if not path.exists():  # written whole or not at all: an interrupt leaves no stub
                tmp = path.with_name(f".{path.name}.part")
                im.save(tmp, format=path.suffix[1:].upper())
                os.replace(tmp, path)
        sources.append(Source(f.name, digest, png, ppm, im.width, im.height))
    return sources


# A child's peak RSS as the kernel reports it includes the forking parent's
# (this Python process, with torch loaded); GNU time forks the tool from its
# own small process, so its figure is the tool's.
GNU_TIME = "/usr/bin/time"


@cache
def compile_package() -> None:
    """scalecodec's bytecode, as an installed wheel has it. A checkout
    installed editable where PYTHONDONTWRITEBYTECODE is set (this machine)
    would compile every module again at each start: 20-30 ms of every
    `scc truncate` (90-110 ms without, 60-80 ms with; 2026-12-07)."""
    compileall.compile_dir(Path(__file__).parents[2], quiet=1)


def run_measured(cmd: list) -> tuple[float, float | None]:
    """Wall seconds and peak resident MiB (None without GNU time) of one process."""
    compile_package()
    with tempfile.TemporaryDirectory(prefix="scc-run-") as tmp:
        peak_file, err_file = Path(tmp) / "peak", Path(tmp) / "err"
        timed = os.access(GNU_TIME, os.X_OK)
        argv = ([GNU_TIME, "-f", "%M", "-o", peak_file] if timed else []) + list(cmd)
        with open(err_file, "wb") as err:
            t = time.perf_counter()
            proc = subprocess.run([str(c) for c in argv], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=err)
            seconds = time.perf_counter() - t
        if proc.returncode != 0:
            message = err_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise ToolError(f"{Path(str(cmd[0])).name} exited {proc.returncode}: {' / '.join(message)}")
        peak = int(peak_file.read_text().split()[-1]) / 1024 if timed else None
    return seconds, peak


# A whole process timed for a speed target is the fastest of this many runs:
# one run of a 0.1 s process on two cores moved by 50 ms with the scheduler.
FASTEST_OF = 3


def fastest(cmd: list) -> float:
    """Wall seconds of the fastest of FASTEST_OF runs of cmd."""
    return min(run_measured(cmd)[0] for _ in range(FASTEST_OF))


def measure(codec: Codec, setting, src: Source, workdir: Path) -> dict:
    """Encode to a real file, decode it, and score the decoded 8-bit image."""
    coded, rec = workdir / f"coded{codec.suffix}", workdir / f"rec{codec.rec_suffix}"
    for f in (coded, rec):
        f.unlink(missing_ok=True)
    enc_s, enc_mib = run_measured(codec.encode(setting, src.png, src.ppm, coded))
    try:
        metadata = metadata_bytes(coded)
    except MetadataError as err:
        raise ToolError(str(err)) from None
    size = coded.stat().st_size - metadata
    dec_s, dec_mib = run_measured(codec.decode(coded, rec))
    ref, out = src.pixels, np.asarray(Image.open(rec).convert("RGB"))
    if out.shape != ref.shape:
        raise ToolError(f"{codec.name} decoded {out.shape[1]}x{out.shape[0]}, "
                        f"not {ref.shape[1]}x{ref.shape[0]}")
    score = ms_ssim(ref, out)
    return {
        "bytes": size, "metadata_bytes": metadata, "bpp": 8 * size / (src.width * src.height),
        "psnr": psnr(ref, out), "ms_ssim": None if math.isnan(score) else score,
        "encode_s": enc_s, "decode_s": dec_s, "encode_peak_mib": enc_mib, "decode_peak_mib": dec_mib,
    }


class Cache:
    """One JSON file per point, written atomically. The key holds the tool's
    version and its exact command line, so a changed codec is measured anew."""

    def __init__(self, root: Path):
        self.root = root

    def tag(self, codec: Codec, version: str) -> str:
        # Rendered at a fixed setting, so adding a setting to a sweep keeps the
        # points already measured.
        probe = codec.encode(1, Path("IN.png"), Path("IN.ppm"), Path("OUT")) + codec.decode(
            Path("IN"), Path("OUT"))
        return self.named_tag(codec.name, version, RECORD_RULE, *probe[1:])

    @staticmethod
    def named_tag(name: str, *key) -> str:
        digest = hashlib.sha256(json.dumps([str(k) for k in key]).encode()).hexdigest()[:12]
        return f"{name}-{digest}"

    def path(self, tag: str, setting, src: Source) -> Path:
        return self.root / tag / f"{setting:g}" / f"{Path(src.name).stem}-{src.digest}.json"

    def get(self, path: Path) -> dict | None:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, path: Path, record: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)


class Progress:
    """`[done/total] what: result` lines on stderr, with a time-left estimate
    from the points measured in this run (cached ones cost nothing)."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.measured, self.stream = total, 0, 0, stream
        self.start = time.monotonic()

    def step(self, what: str, result: str, measured: bool):
        self.done += 1
        self.measured += measured
        if not measured:
            return
        rate = (time.monotonic() - self.start) / self.measured
        left = rate * (self.total - self.done)
        print(f"[{self.done}/{self.total}] {what}: {result} (~{left / 60:.0f} min left)",
              file=self.stream, flush=True)


class Points:
    """Cached, measured points of one run: each is looked up in the cache,
    or measured and stored; a point whose tool fails is reported in
    failures and left out."""

    def __init__(self, cache: Cache, progress: Progress):
        self.cache, self.progress, self.failures = cache, progress, []

    def get(self, path: Path, label: str, compute, describe) -> dict | None:
        record = self.cache.get(path)
        fresh = record is None
        if fresh:
            try:
                record = compute()
            except ToolError as err:
                self.failures.append(f"{label}: {err}")
                print(f"warning: {self.failures[-1]}", file=self.progress.stream, flush=True)
                self.progress.step(label, "failed", False)
                return None
            self.cache.put(path, record)
        self.progress.step(label, describe(record), fresh)
        return record


def sweep(codecs: list[Codec], sources: list[Source], points: Points, workdir: Path) -> dict[str, list[dict]]:
    """Every codec at every setting on every image, in that nesting, so a
    partial run already has whole curves for the first codecs. A failed
    point's setting drops out of the means (see summary.mean_curve)."""
    results = {}
    for codec in codecs:
        tag = points.cache.tag(codec, codec.version())
        records = []
        for setting in codec.settings:
            for src in sources:
                record = points.get(
                    points.cache.path(tag, setting, src),
                    f"{codec.name} {codec.setting}={setting:g} {src.name}",
                    lambda: {"image": src.name, "setting": setting, "width": src.width,
                             "height": src.height, **measure(codec, setting, src, workdir)},
                    lambda r: f"{r['bpp']:.3f} bpp, {r['psnr']:.2f} dB")
                if record is not None:
                    records.append(record)
        results[codec.name] = records
    return results
