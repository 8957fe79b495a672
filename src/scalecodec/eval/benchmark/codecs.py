"""The codecs under test, each as the command lines of its real encoder and
decoder, with a sweep of settings that spans about 0.1 to 1.5 bpp on Kodak.

Peers run on one thread each, as their command-line tools do by default.
"""

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ... import __version__
from ...codecs.effort import ITERATIONS
from ...model.file import default_model_path, model_id_of, read_model

# BT.709 full-range 4:4:4 on the way in and its inverse on the way out (about 50 dB
# by itself), so HEVC is judged on its coding, not on chroma subsampling or a range squeeze.
# x265 gets info=0: otherwise it writes its settings (about 2.3 KB) into every file.
_TO_YUV = "scale=out_color_matrix=bt709:out_range=pc,format=yuv444p"
_TO_RGB = "scale=in_color_matrix=bt709:in_range=pc,format=rgb24"


@dataclass(frozen=True)
class Codec:
    name: str
    label: str
    setting: str  # what the sweep varies, for tables
    settings: tuple
    suffix: str  # of the coded file
    encode: Callable[[object, Path, Path, Path], list]  # (setting, png, ppm, out)
    decode: Callable[[Path, Path], list]  # (coded, reconstruction)
    rec_suffix: str
    version: Callable[[], str]  # part of every cache key
    tools: tuple

    def missing_tools(self) -> list[str]:
        return [t for t in self.tools if shutil.which(t) is None]


def _tool_version(*cmd: str) -> Callable[[], str]:
    """The first line of a tool's self-description with a dotted version number."""
    def version() -> str:
        out = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
        return ([ln for ln in lines if re.search(r"\d+\.\d+", ln)] or lines or ["unknown"])[0]
    return version


def scalecodec(model: str | None = None, effort: int = 1, qualities: tuple[float, ...] | None = None) -> Codec:
    """scalecodec through the `scc` command, so it is timed like its peers:
    a whole process per file, start-up included. Above effort 1 it is a codec
    of its own, scalecodec-eN, measured against the default. qualities: the
    levels to measure (None: every level of the model)."""
    scc = [sys.executable, "-m", "scalecodec.cli"]
    model_args = ["--model", str(model)] if model else []
    effort_args = ["--effort", str(effort)] if effort != 1 else []
    path = Path(model) if model else default_model_path()
    name, label = ("scalecodec", "scalecodec") if effort == 1 else (f"scalecodec-e{effort}",
                                                                    f"scalecodec (effort {effort})")
    # The level's iterations are part of the version (so of the cache key): a
    # changed ladder is measured anew.
    search = f", effort {effort}: {ITERATIONS[effort - 1]} iterations" if effort != 1 else ""
    return Codec(
        name, label, "quality", qualities or tuple(range(1, len(read_model(path)[0]["architecture"]["lambdas"]) + 1)),
        ".scc",
        lambda q, png, ppm, out: [*scc, "encode", png, out, "-q", str(q), *model_args, *effort_args,
                                  "--force", "--quiet"],
        lambda coded, rec: [*scc, "decode", coded, rec, *model_args, "--force", "--quiet"],
        ".png", lambda: f"scalecodec {__version__}, model {model_id_of(path).hex()}{search}", (),
    )


PEERS = (
    Codec("jpeg", "JPEG (libjpeg-turbo, optimized Huffman)", "quality",
          (3, 5, 10, 20, 35, 50, 70, 85), ".jpg",
          lambda q, png, ppm, out: ["cjpeg", "-quality", str(q), "-optimize", "-outfile", out, ppm],
          lambda coded, rec: ["djpeg", "-outfile", rec, coded],
          ".ppm", _tool_version("cjpeg", "-version"), ("cjpeg", "djpeg")),
    Codec("jpeg2000", "JPEG 2000 (OpenJPEG, 9/7, colour transform)", "bpp",
          (0.1, 0.125, 0.25, 0.5, 0.75, 1.0, 1.5), ".j2k",
          lambda bpp, png, ppm, out: ["opj_compress", "-i", ppm, "-o", out, "-I", "-r", f"{24 / bpp:g}"],
          lambda coded, rec: ["opj_decompress", "-quiet", "-i", coded, "-o", rec],
          ".ppm", _tool_version("opj_compress", "-h"), ("opj_compress", "opj_decompress")),
    Codec("webp", "WebP (libwebp, -m 6)", "quality", (0, 10, 25, 45, 65, 80, 90), ".webp",
          lambda q, png, ppm, out: ["cwebp", "-quiet", "-q", str(q), "-m", "6", png, "-o", out],
          lambda coded, rec: ["dwebp", "-quiet", coded, "-ppm", "-o", rec],
          ".ppm", _tool_version("cwebp", "-version"), ("cwebp", "dwebp")),
    *(Codec(f"avif{yuv}", f"AVIF {yuv[0]}:{yuv[1]}:{yuv[2]} (libavif + aom, speed 6)", "qp",
            (58, 50, 42, 36, 30, 24, 18), ".avif",
            lambda qp, png, ppm, out, yuv=yuv: ["avifenc", "-j", "1", "-s", "6", "-y", yuv,
                                                "--min", str(qp), "--max", str(qp), png, out],
            lambda coded, rec: ["avifdec", "-j", "1", coded, rec],
            ".png", _tool_version("avifenc", "--version"), ("avifenc", "avifdec"))
      for yuv in ("420", "444")),
    Codec("jpegxl", "JPEG XL (libjxl, effort 7)", "distance", (20, 12, 8, 5, 3, 2, 1.4, 1.0), ".jxl",
          lambda d, png, ppm, out: ["cjxl", png, out, "-d", str(d), "-e", "7", "--num_threads=1",
                                    "--quiet"],
          lambda coded, rec: ["djxl", coded, rec, "--num_threads=1", "--quiet"],
          ".ppm", _tool_version("cjxl", "--version"), ("cjxl", "djxl")),
    Codec("hevc", "HEVC intra 4:4:4 (x265 veryslow, tune psnr)", "crf", (51, 48, 44, 40, 36, 32, 28, 24),
          ".hevc",
          lambda crf, png, ppm, out: [
              "ffmpeg", "-loglevel", "error", "-y", "-threads", "1", "-i", png, "-vf", _TO_YUV,
              "-c:v", "libx265", "-preset", "veryslow", "-tune", "psnr", "-crf", str(crf),
              "-x265-params", "keyint=1:pools=1:frame-threads=1:log-level=error:info=0",
              "-frames:v", "1", "-f", "hevc", out],
          lambda coded, rec: ["ffmpeg", "-loglevel", "error", "-y", "-threads", "1", "-i", coded,
                              "-vf", _TO_RGB, "-frames:v", "1", rec],
          ".png", _tool_version("ffmpeg", "-version"), ("ffmpeg",)),
)

# Debian packages that provide the peers' tools (`make bench` installs them).
DEBIAN_PACKAGES = "time libjpeg-turbo-progs libopenjp2-tools webp libavif-bin libjxl-tools ffmpeg"
