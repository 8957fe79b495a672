"""Decoding: stream bytes -> 8-bit pixels, with numpy and constriction only.

Every step after entropy decoding is exact integer arithmetic
(scalecodec.fixedpoint), so the output is the same bytes on any machine.
"""

from dataclasses import dataclass, field

import numpy as np

from . import base_layer, container
from .container import ChunkKind, ColourFormat
from .entropy import CodingError, decode_symbols
from .errors import ModelError, StreamError
from .model_file import DecoderModel
from .prior import MEAN_FRAC_BITS


@dataclass
class Decoded:
    pixels: np.ndarray  # (H, W, 3) or (H, W) uint8
    colour: ColourFormat
    warnings: list[str] = field(default_factory=list)


class Decoder:
    def __init__(self, model: DecoderModel):
        self.model = model

    def decode(self, data: bytes) -> Decoded:
        stream = container.parse(data)
        notes = []
        if isinstance(stream, container.TruncatedStream):
            notes.append("input is truncated; decoding its complete chunks only (missing: "
                         + "; ".join(stream.missing) + ")")
        header = stream.header
        if header.model_id != self.model.model_id:
            raise ModelError(
                f"stream was made by model {header.model_id.hex()}, "
                f"but the loaded model is {self.model.model_id.hex()}"
            )
        base = [c for c in stream.chunks if c.kind == ChunkKind.BASE]
        if not base:
            raise StreamError("no complete base layer chunk: nothing can be decoded")
        if len(stream.chunks) > 1:
            notes.append("this decoder reads the base layer only; later chunks were skipped")
        quality_fixed = round(header.quality * 256) - 256
        if not 0 <= quality_fixed <= (self.model.levels - 1) * 256:
            raise StreamError(f"the stream's quality {header.quality:g} is outside the model's "
                              f"range 1..{self.model.levels}")
        y_fixed = self._entropy_decode(header, base[0].payload)
        pixels = self.model.synthesis(y_fixed, quality_fixed)[: header.height, : header.width]
        if header.colour == ColourFormat.GRAY:
            pixels = np.ascontiguousarray(pixels[:, :, 0])
        return Decoded(pixels, header.colour, notes)

    def _entropy_decode(self, header, payload: bytes) -> np.ndarray:
        """y_hat in units of 2**-MEAN_FRAC_BITS, as exact int64."""
        m = self.model
        y_shape, z_shape = base_layer.latent_shapes(header.width, header.height, m.m, m.n)
        crc, z_bytes, y_bytes = base_layer.unpack(payload, y_shape, z_shape)
        try:
            z_hat = decode_symbols(z_bytes, base_layer.z_table_ids(z_shape), m.z_tables).reshape(z_shape)
            mean, index = m.hyper_synthesis(z_hat)
            if base_layer.prior_checksum(mean, index) != crc:
                raise StreamError(
                    "entropy parameters differ from the encoder's (prior checksum mismatch): "
                    "the stream or the model's prior path does not match"
                )
            y = decode_symbols(y_bytes, index, m.y_tables).reshape(y_shape)
        except CodingError as err:
            raise StreamError(f"base layer does not decode: {err}") from None
        return y * 2**MEAN_FRAC_BITS + mean
