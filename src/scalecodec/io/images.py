"""Reading source images into 8-bit RGB, and writing decoded ones.

The codec codes 8-bit RGB. Other inputs are converted when nothing the user
cares about is lost (with a note), and refused when something would be.
"""

import io
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..container import ColourFormat
from ..container.format import MAX_SIDE
from ..errors import ImageInputError
from ..limits import DEFAULT_MAX_PIXELS, check_pixels
from . import metadata

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


@dataclass
class SourceImage:
    pixels: np.ndarray  # (H, W, 3) uint8, upright (EXIF orientation applied)
    colour: ColourFormat
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, bytes] = field(default_factory=dict)  # io.metadata.KINDS -> payload
    alpha: np.ndarray | None = None  # (H, W) uint8, where the input has transparency


# Pillow's bomb limit is a global; scc's own limit replaces it while a file opens.
_PILLOW_LIMIT = threading.Lock()


def load_image(data: bytes, name: str = "input", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> SourceImage:
    """A file's bytes as the RGB pixels scc codes; its size is checked
    against max_pixels from the file's header, before its pixels are read."""
    try:
        with _PILLOW_LIMIT, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                im = Image.open(io.BytesIO(data))
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageInputError(f"{name}: not a readable image ({_reason(err)})") from None
    check_pixels(im.width, im.height, max_pixels, name)
    try:
        im.load()
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageInputError(f"{name}: not a readable image ({_reason(err)})") from None
    return source_image(im, name, _png_bit_depth(data))


def _reason(err: Exception) -> str:
    # Pillow names the file object it was given ("<_io.BytesIO object at 0x...>"): not the user's file.
    if isinstance(err, UnidentifiedImageError):
        return "not in a format scc reads: " + ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
    return str(err) or type(err).__name__


def source_image(im: Image.Image, name: str = "input", bit_depth: int = 8) -> SourceImage:
    """What scc codes of a loaded Pillow image (bit_depth: the file's, where
    Pillow's mode hides it), or ImageInputError saying why it cannot."""
    # Pillow's decompression-bomb limit stays on; MAX_SIDE is the format's own.
    if max(im.size) > MAX_SIDE:
        raise ImageInputError(f"{name}: {im.width}x{im.height} exceeds {MAX_SIDE} pixels per side")
    if getattr(im, "n_frames", 1) > 1:
        raise ImageInputError(f"{name}: animated or multi-frame images are not supported")

    im, notes = metadata.upright(im)
    carried, dropped = metadata.read(im.info)
    notes += dropped
    mode = im.mode
    if mode.startswith("I") or mode == "F" or bit_depth > 8:
        raise ImageInputError(
            f"{name}: images deeper than 8 bits per channel are not supported; scc codes 8 bits per "
            "channel (convert first, e.g. with `convert in.png -depth 8 out.png`)"
        )
    alpha = None
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info) \
            or (mode in ("L", "RGB") and "transparency" in im.info):
        alpha = np.asarray(im.convert("LA" if mode in ("LA", "La", "L") else "RGBA"))[:, :, -1]
        if alpha.min() == 255:
            notes.append("dropped an alpha channel that was fully opaque")
            alpha = None
    colour = ColourFormat.RGB
    # Taking the alpha channel apart is no conversion worth a note.
    plain = mode[:-1] if alpha is not None and mode in ("LA", "RGBA") else mode
    if mode in ("L", "LA", "1"):
        colour = ColourFormat.GRAY
        if plain != "L":
            notes.append(f"converted {mode} to 8-bit grayscale")
        im = im.convert("L").convert("RGB")
    elif mode != "RGB":
        if plain != "RGB":
            notes.append(f"converted {mode} to RGB")
        im = im.convert("RGB")
    carried, unfit = metadata.profile_fits(carried, colour == ColourFormat.GRAY)
    return SourceImage(np.asarray(im), colour, notes + unfit, carried, alpha)


def _png_bit_depth(data: bytes) -> int:
    # Pillow opens 16-bit RGB PNGs as 8-bit RGB without saying so; IHDR tells.
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) > 24:
        return data[24]
    return 8


# zlib level 1: writing a 12 MP decode's PNG took 9.6 s at level 6 (Pillow's
# default) and 1.8 s at level 1, whose files were 1.5% smaller on a Kodak
# photo and 19% larger on a smooth upscaled one (measured 2026-12-04).
PNG_COMPRESS_LEVEL = 1


def encode_image(pixels: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    """pixels as a file of format fmt; options go to Pillow's writer (the
    metadata's, from io.metadata.save_options)."""
    buf = io.BytesIO()
    if fmt == "PNG":
        options["compress_level"] = PNG_COMPRESS_LEVEL
    Image.fromarray(pixels).save(buf, format=fmt, **options)
    return buf.getvalue()
