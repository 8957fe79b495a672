"""The BASE chunk payload (bitstream_spec.md, section 5), shared by encoder
and decoder: latent geometry, the prior checksum, and the payload layout."""

import math
import struct
import zlib

import numpy as np

from ..errors import StreamError
from ..exact.prior import MEAN_FRAC_BITS

PAD = 64  # the analysis and hyper analysis downsample by 64 in all
CONTEXT_SINCE = 5  # the minor version from which a model's context model codes BASE chunks (5.6)
_HEAD = struct.Struct("<IIII")  # prior crc, z symbols, z bytes, y symbols


def latent_shapes(width: int, height: int, m: int, n: int) -> tuple[tuple, tuple]:
    """Shapes (C, h, w) of y and z for an image of width x height."""
    hp, wp = math.ceil(height / PAD) * PAD, math.ceil(width / PAD) * PAD
    return (m, hp // 16, wp // 16), (n, hp // 64, wp // 64)


def prior_checksum(mean: np.ndarray, index: np.ndarray) -> int:
    crc = zlib.crc32(index.astype(np.uint8).tobytes())
    return zlib.crc32(mean.astype("<i4").tobytes(), crc)


def pack(checksum: int, z_count: int, z_bytes: bytes, y_count: int, y_bytes: bytes) -> bytes:
    return _HEAD.pack(checksum, z_count, len(z_bytes), y_count) + z_bytes + y_bytes


def unpack(payload: bytes, y_shape: tuple, z_shape: tuple) -> tuple[int, bytes, bytes]:
    """(prior checksum, z stream, y stream), checked against the geometry."""
    if len(payload) < _HEAD.size:
        raise StreamError("base layer chunk is too short")
    crc, nz, zlen, ny = _HEAD.unpack_from(payload)
    if nz != math.prod(z_shape) or ny != math.prod(y_shape):
        raise StreamError("base layer symbol counts do not match the image geometry")
    z_end = _HEAD.size + zlen
    if z_end > len(payload):
        raise StreamError("base layer z stream overruns its chunk")
    return crc, payload[_HEAD.size : z_end], payload[z_end:]


def code_latent(parts, hyper: np.ndarray, code) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole-symbol layer's y_hat (1/256 units, int64) and its entropy
    parameters (mean, index) from the hyper synthesis's outputs, with
    code(k, mean, index) giving the symbols of run k (encoder: chosen;
    decoder: read). Without a context model y is one run under the
    hyperprior's parameters; with one, a run per slice (section 5.3)."""
    if parts.context is None:
        mean, index = parts.hyper_synthesis.parameters(hyper)
        return np.asarray(code(0, mean, index), np.int64) * 2**MEAN_FRAC_BITS + mean, mean, index
    return parts.context.code_slices(hyper, parts.hyper_synthesis.scale_bounds, code)


def y_runs(parts) -> list[tuple[int, int]] | None:
    """The channel runs y's symbols are coded in (None: one)."""
    return parts.context.bounds if parts.context is not None else None


def z_table_ids(z_shape: tuple) -> np.ndarray:
    """z symbols use the table of their channel."""
    return np.broadcast_to(np.arange(z_shape[0])[:, None, None], z_shape)
