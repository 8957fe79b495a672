"""The library API behind every `scc` stream command: bytes in, bytes out.

Importing it loads neither numpy nor torch: truncating and describing a
stream need the container alone (milliseconds), decoding needs numpy, and
only encoding loads torch.
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path

from . import container
from .errors import OutputError, UsageError
from .limits import DEFAULT_MAX_PIXELS

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
    metadata: dict = field(default_factory=dict)  # io.metadata.KINDS -> payload, as the stream carries it


@functools.lru_cache(maxsize=4)
def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise UsageError("encoding needs torch, which this install lacks (decoding, info and "
                         "truncate do not): pip install 'scalecodec[encode]'") from None


@functools.lru_cache(maxsize=4)
def _model(model_path: str | None):
    from .model.file import load_model

    return load_model(Path(model_path) if model_path else None)


def open_encoder(model_path: str | None = None, device: str = "auto"):
    _require_torch()
    from .codecs.encoder import Encoder

    return Encoder(_model(model_path), device)


@functools.lru_cache(maxsize=4)
def open_decoder(model_path: str | None = None, device: str = "cpu"):
    """device "cpu": the numpy decoder (no torch); any torch device (e.g.
    "cuda"): the same exact networks run by torch there, the same bytes."""
    from .codecs.decoder import Decoder

    model = _model(model_path)
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


# The default quality level: on the default single-layer model (base v3; its ten
# levels are v2's) it is the rate-distortion trade-off (lambda 0.0067) that level 3 of
# the first base codec was, about 0.5 bpp on Kodak.
DEFAULT_QUALITY = 4.0


def encode_file(data: bytes, quality: float, model_path=None, device="auto", name="input",
                scales: list[float] | None = None, mode: str = "single", effort: int = 1,
                report=None, max_pixels: int | None = DEFAULT_MAX_PIXELS, strip: tuple = ()) -> EncodeResult:
    """An image file's bytes -> a stream (see encode_source). The request is
    checked before the image is read, and the image's size (max_pixels)
    before its pixels are."""
    from .io.images import load_image

    path = _check_request(quality, model_path, scales, mode)
    return _encode(load_image(data, name, max_pixels), quality, path, device, scales, mode, effort, report,
                   strip)


def _encoder_model(model_path, scales, mode) -> str | None:
    """The model file a mode encodes with: the one given, else the shipped one
    for the mode (None: the default single-layer model)."""
    from .model.file import default_model_path

    if model_path:
        return str(model_path)
    if scales is not None:
        return str(default_model_path(kind="spatial"))
    return str(default_model_path(kind="fine")) if mode == "fgs" else None


def _check_request(quality: float, model_path, scales, mode: str) -> str | None:
    """What can be refused from the options and the model file alone, before
    torch loads (seconds) or an image is read; returns the model path."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    path = _encoder_model(model_path, scales, mode)
    _model(path).check_quality(quality)
    return path


def encode_source(src, quality: float, model_path=None, device="auto",
                  scales: list[float] | None = None, mode: str = "single", effort: int = 1,
                  report=None, strip: tuple = ()) -> EncodeResult:
    """A single-layer stream; with scales (relative to the base layer, the
    last being the input's size) a spatially scalable one; with mode "fgs"
    its layers are fine-grained, cut at any segment. src is an io.images.SourceImage.
    effort 2-9 spends encoding time searching for better symbols
    (encoder.Effort); the decoder is the same. The source's metadata goes
    into the stream, but for the kinds in strip (io.metadata.KINDS)."""
    return _encode(src, quality, _check_request(quality, model_path, scales, mode), device, scales, mode,
                   effort, report, strip)


def _encode(src, quality, path, device, scales, mode, effort, report, strip) -> EncodeResult:
    """encode_source once the request has been checked (path: the model file)."""
    _require_torch()
    from .codecs.encoder import Effort

    effort = Effort(effort, report)
    encoder = open_encoder(path, device)
    planes = mode == "fgs"
    if scales is None:
        stream = encoder.encode(src.pixels, quality, src.colour, effort, planes)
    else:
        stream = encoder.encode_spatial(src.pixels, scales, quality, src.colour, effort, planes)
    h, w = src.pixels.shape[:2]
    stream, notes = _with_side_chunks(stream, src, strip)
    return EncodeResult(stream, w, h, notes)


def _with_side_chunks(stream: bytes, src, strip: tuple) -> tuple[bytes, list[str]]:
    """The stream with the source's metadata chunks (but for strip's kinds)
    and its alpha channel, and the notes."""
    from dataclasses import replace

    from .codecs import alpha
    from .io import metadata

    notes = list(src.notes)
    stripped = [metadata.NAMES[k] for k in src.metadata if k in strip]
    if stripped:
        notes.append(f"left out its {', '.join(stripped)} (--strip)")
    carried = {k: v for k, v in src.metadata.items() if k not in strip}
    alpha_chunk = None
    if src.alpha is not None:
        alpha_chunk = container.Chunk(container.ChunkKind.ALPHA, 0, 0, 0, alpha.encode(src.alpha))
        notes.append(f"kept its alpha channel, lossless ({len(alpha_chunk.payload)} bytes)")
    if carried or alpha_chunk:
        stream = container.serialize(replace(container.parse(stream), metadata=metadata.chunks(carried),
                                             alpha=alpha_chunk))
    return stream, notes


def decode_file(data: bytes, model_path=None, fmt="PNG", scale: float | None = None,
                width: int | None = None, height: int | None = None, device: str = "cpu",
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> DecodeResult:
    """The top layer, or the size asked for (see Decoder.decode); a stream
    whose decode would exceed max_pixels is refused before any work."""
    from .io import metadata
    from .io.images import encode_image
    from .model.file import find_model

    stream = container.parse(data)
    container.spatial_layers(stream)  # a retired kind is refused before its model is looked for
    path = model_path or str(find_model(stream.header.model_id))
    decoded = open_decoder(path, device).decode(data, scale, width, height, max_pixels)
    h, w = decoded.pixels.shape[:2]
    notes = list(decoded.warnings)
    carried = metadata.of_stream(stream)
    options, lost = metadata.save_options(fmt, carried)
    pixels = decoded.pixels
    if decoded.has_alpha and fmt not in ("PNG", "TIFF"):
        lost.append("alpha channel")
        pixels = pixels[:, :, :-1] if pixels.shape[2] > 2 else pixels[:, :, 0]
    if lost:
        notes.append(f"{fmt} files cannot hold its {', '.join(lost)}: not written (PNG and TIFF can)")
    return DecodeResult(encode_image(pixels, fmt, **options), decoded.pixels, w, h, notes,
                        decoded.plan, carried)


@dataclass
class TruncateResult:
    stream: bytes
    kept: str  # what was kept, e.g. "2 of 3 chunks"
    notes: list[str] = field(default_factory=list)


def truncate_file(data: bytes, max_bytes: int | None = None, scale: float | None = None,
                  width: int | None = None, height: int | None = None) -> TruncateResult:
    """A valid stream cut from data: the chunks that decoding at scale or
    width/height needs (the layer L the rule of geometry.plan_decode picks;
    the layers below it as container.ops.below keeps them), and/or the best
    stream of at most max_bytes (container.truncate). With both, the layers
    below L are kept as L needs them and L is cut to fit. Needs no model,
    numpy or torch. A request the stream cannot meet is a UsageError; an
    invalid stream a ContainerError."""
    from .codecs.geometry import plan_decode, requested_size

    by_size = scale is not None or width is not None or height is not None
    if max_bytes is None and not by_size:
        raise UsageError("give --bytes, --scale / --width / --height, or both")
    stream, notes = container.parse(data), []
    if isinstance(stream, container.TruncatedStream):
        if not stream.chunks:
            raise UsageError("the input is cut inside its base layer, so no prefix of it can hold the base "
                             f"layer ({'; '.join(stream.missing)} missing)")
        notes.append(f"input is cut short; keeping its complete chunks ({'; '.join(stream.missing)} missing)")
        stream = container.complete(stream)
    layers = container.spatial_layers(stream)  # a stream must start with its base layer
    if not stream.chunks[-1].intact:
        _, _, why = container.fine.unpack(stream.chunks[-1].payload)
        notes.append(f"{stream.chunks[-1].label} stops early ({why}); keeping the segments before that")
    cut = stream
    if by_size:
        cut = container.select(stream, plan_decode(layers, *requested_size(layers, scale, width, height)).layer)
    if max_bytes is not None:
        try:
            cut = _cut_to(cut, max_bytes, by_size)
        except container.ops.BudgetError as err:
            raise UsageError(str(err)) from None
    return TruncateResult(container.serialize(cut), _kept(stream, cut), notes)


def _cut_to(stream, max_bytes: int, keep_top: bool):
    """container.truncate; with keep_top, the layers below the top one
    must stay as they are and the top one be kept, cut if it is in planes."""
    cut = container.truncate(stream, max_bytes)
    top = stream.chunks[-1]
    if keep_top and len(cut.chunks) < len(stream.chunks):
        below = sum(len(c.payload) for c in stream.chunks[:-1])
        need = container.ops.size_with(stream, len(stream.chunks), below + container.ops.minimum_payload(top))
        part = "its basic part" if top.kind in container.format.PLANE_KINDS else "it"
        raise container.ops.BudgetError(
            f"{max_bytes} bytes cannot hold the layers below {top.label} and {part}; the minimum "
            f"is {need} bytes (ask for a smaller size, or more bytes)")
    return cut


def _kept(stream, cut) -> str:
    kept = f"{len(cut.chunks)} of {len(stream.chunks)} layers"
    top = cut.chunks[-1]
    if top.kind not in container.format.PLANE_KINDS:
        return kept
    after, _, _ = container.fine.unpack(top.payload)
    _, declared, _ = container.fine.unpack(stream.chunks[len(cut.chunks) - 1].payload)
    return f"{kept}, the top one with {len(after.segments)} of {declared} segments ({sum(after.trits)} trits)"


def describe_file(data: bytes) -> dict:
    """What `scc info` prints: header, geometry, chunks, damage (no model needed)."""
    from .container.info import describe

    return describe(data)
