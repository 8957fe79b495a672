"""Decoding: stream bytes -> 8-bit pixels, with numpy and constriction only.

Every step after entropy decoding is exact integer arithmetic
(scalecodec.exact.fixedpoint), so the output is the same bytes on any machine.
"""

from dataclasses import dataclass, field

import numpy as np

from . import alpha, layout
from .. import container
from ..container import ColourFormat
from ..entropy import CodingError, SymbolDecoder, decode_planes, decode_symbols
from ..errors import ModelError, StreamError
from ..exact.downscale import reference_downscale
from ..limits import check_pixels
from .geometry import DecodePlan, plan_decode, requested_size
from ..model.file import DecoderModel, EnhancementModel
from ..exact.prior import MEAN_FRAC_BITS
from ..exact.synthesis import to_pixels


@dataclass
class Decoded:
    pixels: np.ndarray  # (H, W, 3) or (H, W) uint8; (H, W, 4) or (H, W, 2) with alpha last
    colour: ColourFormat
    plan: DecodePlan
    warnings: list[str] = field(default_factory=list)
    has_alpha: bool = False


def grey(pixels: np.ndarray, minor: int) -> np.ndarray:
    """A grey stream's one channel from the decoded RGB (bitstream_spec.md
    section 2): from 1.3 the rounded mean of the three, each an estimate of
    the same grey (measured +0.3 to +0.5 dB over one channel alone); in
    earlier streams channel 0, as they were decoded."""
    if minor < 3:
        return np.ascontiguousarray(pixels[:, :, 0])
    return ((pixels.astype(np.uint16).sum(axis=2) + 1) // 3).astype(np.uint8)


def reconstruct_enhancement(el: EnhancementModel, lower: np.ndarray, y_fixed: np.ndarray,
                            quality_fixed: int, width: int, height: int) -> np.ndarray:
    """An enhancement layer's pixels from the decoded layer below and its
    latents: the prediction is added into the residual as it is made (x + y
    is y + x in IEEE arithmetic), so no image-sized prediction is held."""
    residual = el.synthesis.values(y_fixed, quality_fixed)[:, :height, :width]
    return to_pixels(el.liff.predict(lower, width, height, add_to=residual))


def reconstruct_enhancement_from(el: EnhancementModel, prediction: np.ndarray, y_fixed: np.ndarray,
                                 quality_fixed: int, width: int, height: int) -> np.ndarray:
    """LIFF's prediction plus the decoded residual, rounded once (bitstream_spec.md 6.3)."""
    residual = el.synthesis.values(y_fixed, quality_fixed)[:, :height, :width]
    return to_pixels(prediction, residual)


class Decoder:
    def __init__(self, model: DecoderModel):
        self.model = model

    def decode(self, data: bytes, scale: float | None = None, width: int | None = None,
               height: int | None = None, max_pixels: int | None = None) -> Decoded:
        """The stream's top layer, or the size asked for by scale (relative to
        the base layer) or width/height, by the rule of geometry.plan_decode.
        Everything cheap is checked before any decoding: the container, the
        layers' sizes, the request, and that no image it makes exceeds
        max_pixels (None: no limit)."""
        stream = container.parse(data)
        notes = []
        if isinstance(stream, container.TruncatedStream):
            notes.append("input is truncated; decoding its complete chunks only (missing: "
                         + "; ".join(stream.missing) + ")")
        if stream.skipped:
            notes.append(f"the stream is version 1.{stream.header.minor}; skipped "
                         f"{len(stream.skipped)} chunk(s) of kinds this decoder (1.{container.format.VERSION_MINOR}) "
                         f"does not know: {', '.join(str(k.kind) for k in stream.skipped)}")
        header = stream.header
        if header.model_id != self.model.model_id:
            raise ModelError(
                f"stream was made by model {header.model_id.hex()}, "
                f"but the loaded model is {self.model.model_id.hex()}"
            )
        if self.model.context is not None and header.minor < layout.CONTEXT_SINCE:
            raise StreamError(f"the stream is version 1.{header.minor}, but its model has a context model, "
                              f"which streams have from 1.{layout.CONTEXT_SINCE}: the stream is invalid")
        try:
            layers = container.spatial_layers(stream)
        except container.ContainerError as err:
            raise StreamError(str(err)) from None
        plan = plan_decode(layers, *requested_size(layers, scale, width, height))
        made = layers[: plan.layer + 1] + [(plan.width, plan.height)]
        check_pixels(*max(made, key=lambda size: size[0] * size[1]), max_pixels, "the image to decode")
        el = self.model.enhancement
        if (plan.layer > 0 or plan.how == "predict") and el is None:
            raise ModelError(f"{self.model.path} has no enhancement layer; it cannot decode "
                             "spatial layers or predict larger sizes")
        quality_fixed = round(header.quality * 256) - 256
        if not 0 <= quality_fixed <= (self.model.levels - 1) * 256:
            raise StreamError(f"the stream's quality {header.quality:g} is outside the model's "
                              f"range 1..{self.model.levels}")
        bw, bh = layers[0]
        # Each layer below the one decoded as far as the layer above was coded over it.
        chunks = container.ops.below(stream, plan.layer) + [stream.chunks[plan.layer]]
        pixels = self.model.synthesis(latents(self.model, chunks[0], notes), quality_fixed)[:bh, :bw]
        for chunk in chunks[1:]:
            pixels = reconstruct_enhancement(el, pixels, latents(el, chunk, notes), quality_fixed, chunk.a, chunk.b)
        if plan.how == "downscale":
            pixels = reference_downscale(pixels, plan.width, plan.height)
        elif plan.how == "predict":
            pixels = to_pixels(el.liff.predict(pixels, plan.width, plan.height))
        if header.colour == ColourFormat.GRAY:
            pixels = grey(pixels, header.minor)
        if stream.alpha is not None:
            # Kept whole by every cut, at the image's own size (section 3.2).
            a = alpha.resize(alpha.decode(stream.alpha.payload, header.width, header.height), plan.width, plan.height)
            pixels = np.dstack((pixels, a))
        return Decoded(pixels, header.colour, plan, notes, stream.alpha is not None)


def _hyper(parts: DecoderModel | EnhancementModel, z_stream: bytes, z_shape: tuple) -> np.ndarray:
    """The hyper synthesis's exact outputs from a chunk's z stream."""
    z_hat = decode_symbols(z_stream, layout.z_table_ids(z_shape), parts.z_tables).reshape(z_shape)
    return parts.hyper_synthesis.values(z_hat)


def _check_prior(mean: np.ndarray, index: np.ndarray, checksum: int, label: str) -> None:
    """y's entropy parameters against the encoder's prior checksum."""
    if layout.prior_checksum(mean, index) != checksum:
        raise StreamError(
            f"{label}: entropy parameters differ from the encoder's (prior checksum "
            "mismatch): the stream or the model's prior path does not match"
        )


def latents(parts: DecoderModel | EnhancementModel, chunk: container.Chunk, notes: list[str]) -> np.ndarray:
    """A layer's y_hat in units of 2**-MEAN_FRAC_BITS, as exact int64, from
    whole symbols or from what a chunk in planes holds."""
    if chunk.kind in container.format.PLANE_KINDS:
        return fine_decode(parts, chunk, notes)
    return entropy_decode(parts, chunk)


def entropy_decode(parts: DecoderModel | EnhancementModel, chunk: container.Chunk) -> np.ndarray:
    """A layer's y_hat from whole symbols (BASE, SPATIAL): in one run under
    the hyperprior, checked against the prior checksum first; or, with a
    context model, slice by slice, checked once all are decoded."""
    y_shape, z_shape = layout.latent_shapes(chunk.a, chunk.b, parts.m, parts.z_channels)
    crc, z_bytes, y_bytes = layout.unpack(chunk.payload, y_shape, z_shape)
    try:
        hyper = _hyper(parts, z_bytes, z_shape)
        if parts.context is None:
            _check_prior(*parts.hyper_synthesis.parameters(hyper), crc, chunk.label)
        symbols = SymbolDecoder(y_bytes, parts.y_tables)
        y_fixed, mean, index = layout.code_latent(parts, hyper, lambda k, mean, index: symbols(index))
        symbols.close()
    except CodingError as err:
        raise StreamError(f"{chunk.label} does not decode: {err}") from None
    _check_prior(mean, index, crc, chunk.label)
    return y_fixed


def fine_decode(parts: DecoderModel | EnhancementModel, chunk: container.Chunk, notes: list[str]) -> np.ndarray:
    """y_hat of a layer in planes from the segments it holds: each element
    at a table's mean over what the trits received say of it, the table its
    own or one the chunk's flags say is wider (bitstream_spec.md 8.5)."""
    try:
        payload, declared, why = container.fine.unpack(chunk.payload)
    except container.ContainerError as err:
        raise StreamError(str(err)) from None
    y_shape, z_shape = layout.latent_shapes(chunk.a, chunk.b, parts.m, parts.z_channels)
    if why:
        notes.append(f"{chunk.label} stops early ({why}): decoding {len(payload.segments)} of {declared} segments")
    try:
        # Planes use the hyperprior's parameters, with a context model or not (section 8).
        mean, index = parts.hyper_synthesis.parameters(_hyper(parts, payload.z_stream, z_shape))
        _check_prior(mean, index, payload.prior_checksum, chunk.label)
        y = decode_planes(payload.head, list(payload.segments), list(payload.trits), index, parts.y_tables,
                          container.fine.reconstruction_shift(chunk.flags))
    except CodingError as err:
        raise StreamError(f"{chunk.label} does not decode: {err}") from None
    return y.reshape(y_shape) + mean  # both in units of 1/256 (MEAN_FRAC_BITS)
