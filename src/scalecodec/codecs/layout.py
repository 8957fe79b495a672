"""The BASE chunk payload (bitstream_spec.md, section 5), shared by encoder
and decoder: latent geometry, the prior checksum, and the payload layout."""

import math
import struct
import zlib

import numpy as np

from ..errors import StreamError

PAD = 64  # the analysis and hyper analysis downsample by 64 in all
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


def z_table_ids(z_shape: tuple) -> np.ndarray:
    """z symbols use the table of their channel."""
    return np.broadcast_to(np.arange(z_shape[0])[:, None, None], z_shape)
