"""Symbol streams coded with constriction's range coder.

A symbol stream is: u32 escape count E, E x i32 escaped values, then the range
coder's 32-bit words, all little-endian (bitstream_spec.md, "Symbol stream").
Symbols are coded grouped by table in ascending table order; inside a group
they keep their raster order. The decoder knows the table of every symbol
(from the hyperprior), so it regroups identically.
"""

import numpy as np
import constriction

from .tables import PmfTables


class CodingError(ValueError):
    """A symbol stream is malformed or does not decode under its tables."""


def _model(tables: PmfTables, t: int):
    m = tables._models.get(t)
    if m is None:
        m = constriction.stream.model.Categorical(tables.probabilities(t), perfect=False)
        tables._models[t] = m
    return m


def _groups(table_ids: np.ndarray):
    order = np.argsort(table_ids, kind="stable")
    ids = table_ids[order]
    bounds = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [len(ids)]))
    return order, [(int(ids[s]), s, e) for s, e in zip(starts, ends) if e > s]


def _indices(values: np.ndarray, table_ids: np.ndarray, tables: PmfTables) -> tuple[np.ndarray, bytes]:
    """Table indices (escaped values get the escape index) and the stream's
    head: the escape count and the escaped values in raster order."""
    idx = values - tables.offsets[table_ids]
    lengths = tables.lengths[table_ids]
    escaped = (idx < 0) | (idx >= lengths)
    idx[escaped] = lengths[escaped]
    escapes = values[escaped]
    if escapes.size and np.abs(escapes).max() >= 2**31:
        raise CodingError("latent value out of the 32-bit range")
    return idx, np.array([escapes.size], "<u4").tobytes() + escapes.astype("<i4").tobytes()


def _encode_run(enc, idx: np.ndarray, table_ids: np.ndarray, tables: PmfTables) -> None:
    order, groups = _groups(table_ids)
    symbols = idx[order].astype(np.int32)
    for t, s, e in groups:
        enc.encode(symbols[s:e], _model(tables, t))


def _split_head(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(escaped values, the range coder's words) of a symbol stream."""
    if len(data) < 4:
        raise CodingError("symbol stream shorter than its header")
    (n_esc,) = np.frombuffer(data[:4], "<u4")
    words_at = 4 + 4 * int(n_esc)
    if words_at > len(data) or (len(data) - words_at) % 4:
        raise CodingError("symbol stream has an inconsistent length")
    return (np.frombuffer(data[4:words_at], "<i4"),
            np.frombuffer(data[words_at:], "<u4").astype(np.uint32))


def _decode_run(dec, table_ids: np.ndarray, tables: PmfTables) -> np.ndarray:
    order, groups = _groups(table_ids)
    idx = np.empty(table_ids.size, np.int64)
    try:
        for t, s, e in groups:
            idx[order[s:e]] = dec.decode(_model(tables, t), e - s)
    except (AssertionError, ValueError, KeyError) as err:
        raise CodingError(f"range decoder failed: {err}") from None
    return idx


def _values(idx: np.ndarray, table_ids: np.ndarray, tables: PmfTables, escapes: np.ndarray) -> np.ndarray:
    """Symbols back to values; escapes must hold exactly the escaped ones."""
    escaped = idx == tables.lengths[table_ids]
    if int(escaped.sum()) != escapes.size:
        raise CodingError(f"stream declares {escapes.size} escapes but decodes {int(escaped.sum())}")
    values = idx + tables.offsets[table_ids]
    values[escaped] = escapes
    return values


def encode_symbols(values: np.ndarray, table_ids: np.ndarray, tables: PmfTables) -> bytes:
    values = np.asarray(values, np.int64).ravel()
    table_ids = np.asarray(table_ids, np.int64).ravel()
    idx, head = _indices(values, table_ids, tables)
    enc = constriction.stream.queue.RangeEncoder()
    _encode_run(enc, idx, table_ids, tables)
    return head + enc.get_compressed().astype("<u4").tobytes()


def decode_symbols(data: bytes, table_ids: np.ndarray, tables: PmfTables) -> np.ndarray:
    table_ids = np.asarray(table_ids, np.int64).ravel()
    escapes, words = _split_head(data)
    idx = _decode_run(constriction.stream.queue.RangeDecoder(words), table_ids, tables)
    return _values(idx, table_ids, tables, escapes)


# A range coder's state is 64 bits: once the words emitted so far and the
# next two are known, every symbol coded so far is determined (the final
# value lies inside every interval the coder passed through, and zeroing
# the bits after those two words keeps it there). Fine-grained segments
# (planes.py) end there.
SEGMENT_SLACK_WORDS = 2
