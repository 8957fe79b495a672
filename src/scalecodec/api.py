"""The library API behind `scc encode` and `scc decode`: bytes in, bytes out.

Decoding imports neither torch nor the encoder: it runs on numpy alone.
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path

from . import container
from .codecs.decoder import Decoder
from .errors import OutputError, UsageError
from .io.images import SourceImage, encode_image, load_image
from .model.file import default_model_path, find_model, load_model

OUTPUT_FORMATS = {".png": "PNG", ".ppm": "PPM", ".pgm": "PPM", ".pnm": "PPM", ".bmp": "BMP",
                  ".tif": "TIFF", ".tiff": "TIFF"}


@dataclass
class EncodeResult:
    stream: bytes
    width: int
    height: int
    notes: list[str] = field(default_factory=list)

    @property
    def bpp(self) -> float:
        return 8 * len(self.stream) / (self.width * self.height)


@dataclass
class DecodeResult:
    image: bytes
    pixels: object  # numpy array
    width: int
    height: int
    notes: list[str] = field(default_factory=list)
    plan: object = None  # geometry.DecodePlan: which layer, and how it was brought to size


@functools.lru_cache(maxsize=4)
def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("encoding needs torch, which this install lacks (decoding, info and "
                         "truncate do not): pip install 'scalecodec[encode]'") from None


def open_encoder(model_path: str | None = None, device: str = "auto"):
    _require_torch()
    from .codecs.encoder import Encoder

    return Encoder(load_model(Path(model_path) if model_path else None), device)


@functools.lru_cache(maxsize=4)
def open_decoder(model_path: str | None = None, device: str = "cpu") -> Decoder:
    """device "cpu": the numpy decoder (no torch); any torch device (e.g.
    "cuda"): the same exact networks run by torch there, the same bytes."""
    model = load_model(Path(model_path) if model_path else None)
    if device != "cpu":
        try:
            import torch
        except ImportError:
            raise UsageError(f"decoding on {device} needs torch: pip install 'scalecodec[encode]'") from None
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"--device {device}: CUDA is not available")
        from .exact.torch_backend import on_device

        on_device(model, device)
    return Decoder(model)


def output_format(path: str) -> str:
    if path == "-":
        return "PNG"
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise OutputError(f"{path}: unknown output type; use one of {', '.join(OUTPUT_FORMATS)}")
    return fmt


MODES = ("single", "fgs")


def encode_file(data: bytes, quality: float, model_path=None, device="auto", name="input",
                scales: list[float] | None = None, mode: str = "single", effort: int = 1,
                report=None) -> EncodeResult:
    """An image file's bytes -> a stream (see encode_source)."""
    return encode_source(load_image(data, name), quality, model_path, device, scales, mode, effort, report)


def encode_source(src: SourceImage, quality: float, model_path=None, device="auto",
                  scales: list[float] | None = None, mode: str = "single", effort: int = 1,
                  report=None) -> EncodeResult:
    """A single-layer stream; with scales (relative to the base layer, the
    last being the input's size) a spatially scalable one; with mode "fgs"
    a fine-grained one, cut at any segment. effort 2-9 spends encoding time
    searching for better symbols (encoder.Effort); the decoder is the same."""
    _require_torch()
    from .codecs.encoder import Effort

    effort = Effort(effort, report)
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "fgs" and scales is not None:
        raise UsageError("--scales and --mode fgs do not combine: a stream is spatially "
                         "scalable or fine-grained")
    if mode == "fgs":
        encoder = open_encoder(model_path or str(default_model_path(kind="fgs")), device)
        stream = encoder.encode_fine(src.pixels, quality, src.colour, effort)
    elif scales is None:
        stream = open_encoder(model_path, device).encode(src.pixels, quality, src.colour, effort)
    else:
        encoder = open_encoder(model_path or str(default_model_path(kind="spatial")), device)
        stream = encoder.encode_spatial(src.pixels, scales, quality, src.colour, effort)
    h, w = src.pixels.shape[:2]
    return EncodeResult(stream, w, h, src.notes)


def decode_file(data: bytes, model_path=None, fmt="PNG", scale: float | None = None,
                width: int | None = None, height: int | None = None, device: str = "cpu") -> DecodeResult:
    """The top layer, or the size asked for (see Decoder.decode)."""
    header = container.parse(data).header
    path = model_path or str(find_model(header.model_id))
    decoded = open_decoder(path, device).decode(data, scale, width, height)
    h, w = decoded.pixels.shape[:2]
    notes = list(decoded.warnings)
    return DecodeResult(encode_image(decoded.pixels, fmt), decoded.pixels, w, h, notes, decoded.plan)
