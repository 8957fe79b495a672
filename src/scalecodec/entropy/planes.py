"""Trit-planes: a layer's integer symbols coded so that any prefix of the
stream decodes to the best estimate it allows (bitstream_spec.md section 8).

Each symbol v under table t lies in the table's support [lo_t, hi_t] (or
escapes it, and is sent whole). Written in balanced ternary with P digits
(P from the tables: (3^P - 1)/2 covers every support), v is revealed one
digit per plane, coarsest first: after the digits of planes P-1..k the
decoder knows v lies in the block centre +- (3^k - 1)/2, intersected with
the support. A digit is coded only where that block's three thirds are not
all but one empty; its frequencies are the table's counts over each third,
so the trits of one symbol together cost what the symbol costs in a
single-layer stream. Inside a plane, symbols go in decreasing table index
(largest scale, largest expected gain, first), then raster order: the
decoder computes the order from the tables alone.

One range coder codes the escape flags (the basic part), then every trit;
segments of it are cut where the stream can stop (SEGMENT_SLACK_WORDS).
"""

import math
from collections.abc import Callable

import constriction
import numpy as np

from .coder import SEGMENT_SLACK_WORDS, CodingError, _decode_run, _encode_run, _split_head
from .tables import PROB_BITS, PmfTables

_FAMILY = constriction.stream.model.Categorical(perfect=False)
_ONE = 1 << PROB_BITS
# The encoder notes its word count after every run of (symbols /
# RUN_PER_SYMBOLS) trits, at least RUN_MIN: segments are cut at those points,
# 1% of the stream apart (SEGMENT_SHARE) where the runs allow, or more on a
# small layer.
RUN_PER_SYMBOLS, RUN_MIN = 400, 256
SEGMENT_SHARE = 0.01
# On a small layer 1% is a few words, and each segment's table entry costs
# about ENTRY_BYTES. A cut at a budget wastes half a segment on average plus
# the entries before it, S/2 + ENTRY_BYTES * N/S over N bytes, least at
# S = sqrt(2 * ENTRY_BYTES * N): 220 bytes for a 5 KB base layer, whose
# entries took 5% of its bytes at the 128-byte segments of before. Segments
# are that long, but at most MAX_LEAST_WORDS (256 bytes) or 1%, whichever
# is more: layers from 25.6 KB on keep their 1% steps.
ENTRY_BYTES, MAX_LEAST_WORDS = 5, 64


class PlaneTables:
    """What the planes need of a table set: supports, prefix sums of the
    counts (mass) and of count x value (conditional means), the plane count
    and each table's escape-flag counts."""

    def __init__(self, tables: PmfTables):
        t = len(tables)
        self.lo = tables.offsets.astype(np.int64)
        self.hi = self.lo + tables.lengths - 1
        width = int(tables.lengths.max())
        inside = np.arange(width)[None, :] < tables.lengths[:, None]
        counts = np.where(inside, tables.counts[:, :width], 0).astype(np.int64)
        values = self.lo[:, None] + np.arange(width)[None, :]
        self.cum0 = np.zeros((t, width + 1), np.int64)
        self.cum1 = np.zeros((t, width + 1), np.int64)
        self.cum0[:, 1:] = np.cumsum(counts, axis=1)
        self.cum1[:, 1:] = np.cumsum(counts * values, axis=1)
        self.row = np.arange(t, dtype=np.int64) * (width + 1)  # flat index of each table's row
        self.cum0, self.cum1 = self.cum0.ravel(), self.cum1.ravel()
        # Each table's own plane count: above it, its support lies in the
        # middle third, so its symbols' digits there are 0 and cost nothing.
        reach = np.maximum(np.abs(self.lo), np.abs(self.hi))
        self.table_planes = np.zeros(t, np.int64)
        while np.any((3**self.table_planes - 1) // 2 < reach):
            self.table_planes += (3**self.table_planes - 1) // 2 < reach
        self.planes = int(self.table_planes.max())
        self.top, self.key = t - 1, np.uint8 if t <= 256 else np.int64  # sort keys: top - table
        escape = tables.counts[np.arange(t), tables.lengths].astype(np.int64)
        self.flags = PmfTables(np.stack([_ONE - escape, escape], 1), np.zeros(t), np.ones(t))

    def sums(self, t: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sum of counts, sum of count x value) over values a..b of tables t."""
        lo, row = self.lo[t], self.row[t]
        a = np.maximum(a, lo) - lo
        b = np.maximum(a, np.minimum(b, self.hi[t]) - lo + 1)  # an empty range sums to 0
        return self.cum0[row + b] - self.cum0[row + a], self.cum1[row + b] - self.cum1[row + a]


def plane_tables(tables: PmfTables) -> PlaneTables:
    cached = getattr(tables, "_planes", None)
    if cached is None:
        cached = tables._planes = PlaneTables(tables)
    return cached


def trit_counts(masses: np.ndarray) -> np.ndarray:
    """(n, 3) masses of the thirds -> counts summing to 2**16, positive
    exactly where the mass is: floor(m (2^16 - 3) / total) + [m > 0], and
    what is left to the largest mass (the first of equals)."""
    total = masses.sum(1, keepdims=True)
    counts = masses * (_ONE - 3) // total + (masses > 0)
    rows = np.arange(len(masses))
    counts[rows, np.argmax(masses, 1)] += _ONE - counts.sum(1)
    return counts


def _walk(pt: PlaneTables, t: np.ndarray, step: Callable) -> tuple[np.ndarray, np.ndarray]:
    """Runs the planes over symbols of tables t: step(order, counts,
    centre[order], half) -> the digits (0, 1, 2 for -1, 0, +1) of a prefix of
    order. Returns each symbol's block (centre, level): it lies in
    centre +- (3^level - 1)/2. A step that returns fewer digits than asked
    ends the walk (a cut: later symbols of the plane learn nothing).

    Only symbols whose digit in a plane is not known already are looked at:
    a symbol joins at its table's first plane (above it every digit is 0,
    the centre stays 0) and leaves once a single value is left, which
    changes no block's values in the support."""
    centre = np.zeros(t.size, np.int64)
    level = np.full(t.size, pt.planes, np.int64)
    joins = pt.table_planes[t]
    alive = np.zeros(t.size, bool)
    for k in reversed(range(pt.planes)):
        third, half = 3**k, (3**k - 1) // 2
        alive |= joins == k + 1
        idx = np.flatnonzero(alive)
        ti = t[idx]
        lo, row = pt.lo[ti], pt.row[ti]
        span, at = pt.hi[ti] - lo + 1, centre[idx] - lo
        # The mass below each edge of the thirds [c - third - half, c - half),
        # [c - half, c + half], (c + half, c + third + half].
        edges = [pt.cum0[row + np.clip(at + e, 0, span)] for e in (-third - half, -half, half + 1, third + half + 1)]
        masses = np.stack([edges[1] - edges[0], edges[2] - edges[1], edges[3] - edges[2]], 1)
        nonempty = masses > 0
        coded = (nonempty[:, 0].view(np.int8) + nonempty[:, 1] + nonempty[:, 2]) >= 2
        # A block with one non-empty third: its digit is known, nothing is coded.
        known = np.flatnonzero(~coded)
        centre[idx[known]] += (np.argmax(nonempty[known], 1) - 1) * third
        level[idx[known]] = k
        plane = np.flatnonzero(coded)
        # Largest table first; a stable sort of 8-bit keys is a radix sort.
        plane = plane[np.argsort((pt.top - ti[plane]).astype(pt.key), kind="stable")]
        order = idx[plane]
        digits = step(order, trit_counts(masses[plane]), centre[order], half)
        done = order[: len(digits)]
        centre[done] += (digits.astype(np.int64) - 1) * third
        level[done] = k
        if len(digits) < len(order):
            break
        at = centre[idx] - lo
        alive[idx] = np.minimum(at + half, span - 1) > np.maximum(at - half, 0)
    return centre, level


def _cuts(words: int, points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(trits, end word) of each segment, from the noted points: segment 0
    ends at the first; each further one at the last point within 1% of the
    words after the previous end, or the length that wastes least (or the
    next point, where none is); the last segment ends with the stream."""
    least = min(math.sqrt(ENTRY_BYTES * words / 2), MAX_LEAST_WORDS)  # sqrt(2 e N) bytes, in words
    cuts, share = [points[0]], max(least, SEGMENT_SHARE * words)
    for i, (trits, end) in enumerate(points[1:], 1):
        if end >= words:
            break
        after = points[i + 1][1] if i + 1 < len(points) else words
        if after - cuts[-1][1] > share and end > cuts[-1][1]:
            cuts.append((trits, end))
    return cuts + [(points[-1][0], words)] if points[0][1] < words else [(points[-1][0], words)]


def encode_planes(values: np.ndarray, table_ids: np.ndarray,
                  tables: PmfTables) -> tuple[bytes, list[bytes], list[int]]:
    """(the head: escape count and escaped values; the segments' words;
    each segment's trit count). Segment 0 is the escape flags."""
    values = np.asarray(values, np.int64).ravel()
    t = np.asarray(table_ids, np.int64).ravel()
    pt = plane_tables(tables)
    escaped = (values < pt.lo[t]) | (values > pt.hi[t])
    escapes = values[escaped]
    if escapes.size and np.abs(escapes).max() >= 2**31:
        raise CodingError("latent value out of the 32-bit range")
    head = np.array([escapes.size], "<u4").tobytes() + escapes.astype("<i4").tobytes()
    enc = constriction.stream.queue.RangeEncoder()
    _encode_run(enc, escaped.astype(np.int64), t, pt.flags)
    points = [(0, enc.num_words() + SEGMENT_SLACK_WORDS)]
    inside = np.flatnonzero(~escaped)
    v, ti = values[inside], t[inside]
    run = max(RUN_MIN, values.size // RUN_PER_SYMBOLS)

    def step(order, counts, centre, half):
        offset = v[order] - centre
        digits = ((offset >= -half).astype(np.int32) + (offset > half)).astype(np.int32)
        probs = counts / _ONE
        for a in range(0, len(order), run):
            enc.encode(digits[a : a + run], _FAMILY, probs[a : a + run])
            points.append((points[-1][0] + len(digits[a : a + run]), enc.num_words() + SEGMENT_SLACK_WORDS))
        return digits

    _walk(pt, ti, step)
    words = enc.get_compressed().astype("<u4").tobytes()
    cuts = _cuts(len(words) // 4, [points[0]] + points[1:])
    ends = [4 * min(e, len(words) // 4) for _, e in cuts]
    segments = [words[a:b] for a, b in zip([0] + ends, ends)]
    trits = [c - p for (c, _), p in zip(cuts, [0] + [c for c, _ in cuts])]
    return head, segments, trits


def decode_planes(head: bytes, segments: list[bytes], trits: list[int], table_ids: np.ndarray,
                  tables: PmfTables, shift: int = 0) -> np.ndarray:
    """Each symbol's estimate in units of 1/256 (int64, table_ids' shape),
    from the head and the first segments with their trit counts: a symbol
    known exactly is value * 256; one known to lie in [a, b] (within its
    table's support) is the mean over [a, b] of the table `shift` scales
    wider (the widest at most), rounded (half up) to 1/256.

    Why wider: under its own table the estimate is the best one in the
    latent (its squared error is within 1% of the empirical means'), but
    the synthesis renders latents drawn toward the mean flatter than it
    renders their spread; a wider table draws a block's estimate less
    toward the mean, and pixels gain (bitstream_spec.md 8.5)."""
    shape = np.shape(table_ids)
    t = np.asarray(table_ids, np.int64).ravel()
    pt = plane_tables(tables)
    escapes, words = _split_head(head + b"".join(segments))
    dec = constriction.stream.queue.RangeDecoder(words)
    escaped = _decode_run(dec, t, pt.flags) == 1
    if int(escaped.sum()) != escapes.size:
        raise CodingError(f"stream declares {escapes.size} escapes but decodes {int(escaped.sum())}")
    budget = [sum(trits)]

    def step(order, counts, centre, half):
        n = min(len(order), budget[0])
        budget[0] -= n
        if not n:
            return np.zeros(0, np.int64)
        try:
            digits = np.asarray(dec.decode(_FAMILY, counts[:n] / _ONE))
        except (AssertionError, ValueError, KeyError) as err:
            raise CodingError(f"range decoder failed: {err}") from None
        if np.any(counts[np.arange(n), digits] == 0):
            raise CodingError("a trit decodes to a third its table excludes")
        return digits

    inside = np.flatnonzero(~escaped)
    ti = t[inside]
    centre, level = _walk(pt, ti, step)
    if budget[0]:
        raise CodingError(f"segments declare {budget[0]} trits more than the planes hold")
    half = (3**level - 1) // 2
    a, b = np.maximum(centre - half, pt.lo[ti]), np.minimum(centre + half, pt.hi[ti])
    mass, moment = pt.sums(np.minimum(ti + shift, pt.top), a, b)
    if shift and not mass.all():  # a wider table with no count there: the element's own (never in scc's models)
        own = np.flatnonzero(mass == 0)
        mass[own], moment[own] = pt.sums(ti[own], a[own], b[own])
    out = np.empty(t.size, np.int64)
    out[escaped] = escapes.astype(np.int64) * 256
    out[inside] = (512 * moment + mass) // (2 * mass)
    return out.reshape(shape)
