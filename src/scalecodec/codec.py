"""The single-layer learned codec: images to base-layer chunks and back.

Analysis and synthesis run on the chosen device (CPU or CUDA, any precision
policy of torch). The prior path (z_hat -> entropy parameters) always runs in
exact fixed point on the CPU, so a stream encoded on a GPU decodes on a CPU.
"""

import math
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import container
from .container import Chunk, ChunkKind, ColourFormat, Header, Stream
from .entropy import CodingError, decode_symbols, encode_symbols
from .errors import ModelError, QualityError, StreamError
from .model_file import LoadedModel
from .prior import MEAN_FRAC_BITS

PAD = 64  # g_a and h_a downsample by 64 in all


@dataclass
class Decoded:
    pixels: np.ndarray  # (H, W, 3) or (H, W) uint8
    colour: ColourFormat
    warnings: list[str] = field(default_factory=list)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda requested but CUDA is not available")
    return torch.device(name)


def _latent_shapes(width: int, height: int, m: int, n: int):
    hp, wp = math.ceil(height / PAD) * PAD, math.ceil(width / PAD) * PAD
    return (1, m, hp // 16, wp // 16), (1, n, hp // 64, wp // 64)


def _prior_checksum(mean: torch.Tensor, index: torch.Tensor) -> int:
    crc = zlib.crc32(index.numpy().astype(np.uint8).tobytes())
    return zlib.crc32(mean.numpy().astype("<i4").tobytes(), crc)


_BASE_HEAD = struct.Struct("<IIII")  # prior crc, z symbols, z bytes, y symbols


class Codec:
    """A loaded model bound to a device; encode() and decode() are bytes-level."""

    def __init__(self, model: LoadedModel, device: str = "auto"):
        self.model = model
        self.device = pick_device(device)
        self.net = model.network.to(self.device)

    @property
    def quality_range(self) -> tuple[float, float]:
        return 1.0, float(self.net.levels)

    def _gains(self, quality: float):
        lo, hi = self.quality_range
        if not lo <= quality <= hi:  # also refuses NaN
            raise QualityError(f"quality must be between {lo:g} and {hi:g}, got {quality:g}")
        return self.net.gains(torch.tensor([quality - 1.0], device=self.device))

    @torch.no_grad()
    def encode(self, pixels: np.ndarray, quality: float, colour: ColourFormat = ColourFormat.RGB) -> bytes:
        """pixels: (H, W, 3) uint8. Returns a complete container stream."""
        h, w = pixels.shape[:2]
        self._gains(quality)
        quality = round(quality * 256) / 256  # what the header can carry
        gain, _ = self._gains(quality)
        x = torch.from_numpy(np.array(pixels, np.uint8)).to(self.device)
        x = x.permute(2, 0, 1)[None].float().div(255)
        hp, wp = math.ceil(h / PAD) * PAD, math.ceil(w / PAD) * PAD
        x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
        y = self.net.g_a(x) * gain
        z_hat = torch.round(self.net.h_a(y)).cpu()
        mean, index = self.model.hyper_synthesis(z_hat)
        y = y.cpu().double()
        symbols = torch.round(y - mean.double() / 2**MEAN_FRAC_BITS).to(torch.int64)

        z_ids = np.broadcast_to(np.arange(z_hat.shape[1])[None, :, None, None], z_hat.shape)
        z_bytes = encode_symbols(z_hat.numpy().astype(np.int64), z_ids, self.model.z_tables)
        y_bytes = encode_symbols(symbols.numpy(), index.numpy(), self.model.y_tables)
        payload = _BASE_HEAD.pack(_prior_checksum(mean, index), z_hat.numel(), len(z_bytes), symbols.numel())
        payload += z_bytes + y_bytes
        header = Header(self.model.model_id, w, h, colour, 8, quality)
        return container.serialize(Stream(header, (Chunk(ChunkKind.BASE, 0, w, h, payload),)))

    @torch.no_grad()
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
        try:
            _, inverse_gain = self._gains(header.quality)
        except QualityError as err:
            raise StreamError(f"the stream's {err}") from None
        y_hat = self._decode_base(header, base[0])
        x = self.net.g_s(y_hat.to(self.device) * inverse_gain)
        x = x[0, :, : header.height, : header.width].clamp(0, 1)
        pixels = torch.round(x * 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        if header.colour == ColourFormat.GRAY:
            pixels = np.ascontiguousarray(pixels[:, :, 0])
        return Decoded(pixels, header.colour, notes)

    def _decode_base(self, header: Header, chunk: Chunk) -> torch.Tensor:
        y_shape, z_shape = _latent_shapes(header.width, header.height, self.net.m, self.net.n)
        p = chunk.payload
        if len(p) < _BASE_HEAD.size:
            raise StreamError("base layer chunk is too short")
        crc, nz, zlen, ny = _BASE_HEAD.unpack_from(p)
        if nz != math.prod(z_shape) or ny != math.prod(y_shape):
            raise StreamError("base layer symbol counts do not match the image geometry")
        z_end = _BASE_HEAD.size + zlen
        if z_end > len(p):
            raise StreamError("base layer z stream overruns its chunk")
        z_ids = np.broadcast_to(np.arange(z_shape[1])[None, :, None, None], z_shape)
        try:
            z = decode_symbols(p[_BASE_HEAD.size : z_end], z_ids, self.model.z_tables)
            z_hat = torch.from_numpy(z.reshape(z_shape)).double()
            mean, index = self.model.hyper_synthesis(z_hat)
            if _prior_checksum(mean, index) != crc:
                raise StreamError(
                    "entropy parameters differ from the encoder's (prior checksum mismatch): "
                    "the stream or the model's prior path does not match"
                )
            y = decode_symbols(p[z_end:], index.numpy(), self.model.y_tables)
        except CodingError as err:
            raise StreamError(f"base layer does not decode: {err}") from None
        y_hat = torch.from_numpy(y.reshape(y_shape)).double() + mean.double() / 2**MEAN_FRAC_BITS
        return y_hat.float()
