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


def encode_symbols(values: np.ndarray, table_ids: np.ndarray, tables: PmfTables,
                   runs: list[tuple[int, int]] | None = None) -> bytes:
    """values (C, ...) under their tables; runs (channel ranges [a, b), in
    order, covering C) code the channels in consecutive runs, each grouped by
    table on its own, for a decoder that learns a run's tables only from the
    runs before it (a channel-conditional context model). One run by default."""
    values = np.asarray(values, np.int64)
    table_ids = np.asarray(table_ids, np.int64)
    idx, head = _indices(values.ravel(), table_ids.ravel(), tables)
    idx = idx.reshape(values.shape)
    enc = constriction.stream.queue.RangeEncoder()
    for a, b in runs or [(0, len(values))]:
        _encode_run(enc, idx[a:b].ravel(), table_ids[a:b].ravel(), tables)
    return head + enc.get_compressed().astype("<u4").tobytes()


class SymbolDecoder:
    """Decodes a symbol stream run by run (encode_symbols' runs): each call
    gets the next run's table ids and returns its values; close() checks that
    the runs used every escaped value."""

    def __init__(self, data: bytes, tables: PmfTables):
        self.escapes, words = _split_head(data)
        self.decoder = constriction.stream.queue.RangeDecoder(words)
        self.tables = tables

    def __call__(self, table_ids: np.ndarray) -> np.ndarray:
        shape = np.shape(table_ids)
        ids = np.asarray(table_ids, np.int64).ravel()
        idx = _decode_run(self.decoder, ids, self.tables)
        escaped = idx == self.tables.lengths[ids]
        n = int(escaped.sum())
        if n > self.escapes.size:
            raise CodingError("stream declares fewer escapes than it decodes")
        values = idx + self.tables.offsets[ids]
        values[escaped] = self.escapes[:n]
        self.escapes = self.escapes[n:]
        return values.reshape(shape)

    def close(self) -> None:
        if self.escapes.size:
            raise CodingError(f"stream declares {self.escapes.size} escapes more than it decodes")


def decode_symbols(data: bytes, table_ids: np.ndarray, tables: PmfTables) -> np.ndarray:
    """The values of a one-run symbol stream, flat."""
    decoder = SymbolDecoder(data, tables)
    values = decoder(np.asarray(table_ids).ravel())
    decoder.close()
    return values


# A range coder's state is 64 bits: once the words emitted so far and the
# next two are known, every symbol coded so far is determined (the final
# value lies inside every interval the coder passed through, and zeroing
# the bits after those two words keeps it there). Fine-grained segments
# (planes.py) end there.
SEGMENT_SLACK_WORDS = 2
