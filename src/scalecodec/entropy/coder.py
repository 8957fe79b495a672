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


def encode_symbols(values: np.ndarray, table_ids: np.ndarray, tables: PmfTables) -> bytes:
    values = np.asarray(values, np.int64).ravel()
    table_ids = np.asarray(table_ids, np.int64).ravel()
    idx = values - tables.offsets[table_ids]
    lengths = tables.lengths[table_ids]
    escaped = (idx < 0) | (idx >= lengths)
    idx[escaped] = lengths[escaped]
    escapes = values[escaped]
    if escapes.size and np.abs(escapes).max() >= 2**31:
        raise CodingError("latent value out of the 32-bit range")

    enc = constriction.stream.queue.RangeEncoder()
    order, groups = _groups(table_ids)
    symbols = idx[order].astype(np.int32)
    for t, s, e in groups:
        enc.encode(symbols[s:e], _model(tables, t))
    words = enc.get_compressed().astype("<u4").tobytes()
    head = np.array([escapes.size], "<u4").tobytes() + escapes.astype("<i4").tobytes()
    return head + words


def decode_symbols(data: bytes, table_ids: np.ndarray, tables: PmfTables) -> np.ndarray:
    table_ids = np.asarray(table_ids, np.int64).ravel()
    if len(data) < 4:
        raise CodingError("symbol stream shorter than its header")
    (n_esc,) = np.frombuffer(data[:4], "<u4")
    words_at = 4 + 4 * int(n_esc)
    if words_at > len(data) or (len(data) - words_at) % 4:
        raise CodingError("symbol stream has an inconsistent length")
    escapes = np.frombuffer(data[4:words_at], "<i4")
    words = np.frombuffer(data[words_at:], "<u4").astype(np.uint32)

    dec = constriction.stream.queue.RangeDecoder(words)
    order, groups = _groups(table_ids)
    idx = np.empty(table_ids.size, np.int64)
    try:
        for t, s, e in groups:
            idx[order[s:e]] = dec.decode(_model(tables, t), e - s)
    except (AssertionError, ValueError, KeyError) as err:
        raise CodingError(f"range decoder failed: {err}") from None
    lengths = tables.lengths[table_ids]
    escaped = idx == lengths
    if int(escaped.sum()) != escapes.size:
        raise CodingError(f"stream declares {escapes.size} escapes but decodes {int(escaped.sum())}")
    values = idx + tables.offsets[table_ids]
    values[escaped] = escapes
    return values
