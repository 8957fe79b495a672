"""The ALPHA payload (bitstream_spec.md section 3.2): an alpha channel coded
losslessly, beside the image's layers.

Each value is predicted from its left, upper and upper-left neighbours
(a + b - c, the plane's 2-D difference, modulo 256), so the decoder undoes
it with two cumulative sums: no pixel-by-pixel loop, which a 12 MP mask
could not afford in Python. The residuals are coded with one table made
from their own histogram, stored in the payload.
"""

import struct

import numpy as np

from ..entropy import CodingError, PmfTables, decode_symbols, encode_symbols
from ..entropy.tables import PROB_BITS, quantize_pmf
from ..errors import StreamError

_HEAD = struct.Struct("<IIH")  # width, height, listed bins K
_BIN = struct.Struct("<BH")  # symbol, count
SYMBOLS = 256


def residuals(alpha: np.ndarray) -> np.ndarray:
    """The 2-D difference of alpha modulo 256 (neighbours outside are 0)."""
    a = alpha.astype(np.int32)
    d = np.diff(np.diff(a, axis=0, prepend=0), axis=1, prepend=0)
    return np.mod(d, SYMBOLS)


def reconstruct(res: np.ndarray) -> np.ndarray:
    """Inverse of residuals(): cumulative sums along both axes, modulo 256."""
    a = np.cumsum(np.cumsum(res.astype(np.int64), axis=0), axis=1)
    return np.mod(a, SYMBOLS).astype(np.uint8)


def _table(counts: np.ndarray) -> PmfTables:
    return PmfTables(counts[None, :], np.array([0]), np.array([SYMBOLS]))


def encode(alpha: np.ndarray) -> bytes:
    h, w = alpha.shape
    res = residuals(alpha).ravel()
    histogram = np.bincount(res, minlength=SYMBOLS).astype(np.float64)
    counts = quantize_pmf(histogram / histogram.sum())  # SYMBOLS + 1 bins, the last the unused escape
    listed = [(s, int(c)) for s, c in enumerate(counts[:SYMBOLS]) if c > 1]
    head = _HEAD.pack(w, h, len(listed)) + b"".join(_BIN.pack(s, c) for s, c in listed)
    return head + encode_symbols(res.astype(np.int64), np.zeros(res.size, np.int64), _table(counts))


def decode(payload: bytes, width: int, height: int) -> np.ndarray:
    """The (height, width) alpha plane; StreamError for any payload that
    does not describe one of the image's size."""
    if len(payload) < _HEAD.size:
        raise StreamError("alpha chunk is too short")
    w, h, k = _HEAD.unpack_from(payload)
    if (w, h) != (width, height):
        raise StreamError(f"alpha chunk is {w}x{h}, the image {width}x{height}")
    end = _HEAD.size + k * _BIN.size
    if k > SYMBOLS or len(payload) < end:
        raise StreamError("alpha chunk's table is malformed")
    counts = np.ones(SYMBOLS + 1, np.int32)
    seen = set()
    for i in range(k):
        s, c = _BIN.unpack_from(payload, _HEAD.size + i * _BIN.size)
        if s in seen or c < 2:
            raise StreamError("alpha chunk's table is malformed")
        seen.add(s)
        counts[s] = c
    if int(counts.sum()) != 1 << PROB_BITS:
        raise StreamError(f"alpha chunk's counts do not sum to 2**{PROB_BITS}")
    symbols = payload[end:]
    # Every residual is in the table: a stream that escapes any is invalid.
    if len(symbols) >= 4 and int.from_bytes(symbols[:4], "little"):
        raise StreamError("alpha chunk escapes a value (every residual is 0..255)")
    try:
        res = decode_symbols(symbols, np.zeros(w * h, np.int64), _table(counts))
    except CodingError as err:
        raise StreamError(f"alpha chunk does not decode: {err}") from None
    return reconstruct(res.reshape(h, w))


def resize(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """alpha at another size: each pixel takes the nearest source pixel,
    centres aligned (source index floor((2i + 1) * N / (2n)))."""
    h, w = alpha.shape
    if (w, h) == (width, height):
        return alpha
    rows = (2 * np.arange(height) + 1) * h // (2 * height)
    cols = (2 * np.arange(width) + 1) * w // (2 * width)
    return alpha[rows[:, None], cols[None, :]]
