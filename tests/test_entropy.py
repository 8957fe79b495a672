import math

import numpy as np
import pytest

from scalecodec.entropy import PROB_BITS, CodingError, PmfTables, decode_symbols, encode_symbols


def gaussian_tables(scales):
    pmfs, offsets = [], []
    for s in scales:
        r = math.ceil(6 * s) + 1
        v = np.arange(-r, r + 1)
        cdf = np.vectorize(lambda x: 0.5 * math.erfc(-x / (s * math.sqrt(2))))
        pmfs.append(cdf(v + 0.5) - cdf(v - 0.5))
        offsets.append(-r)
    return PmfTables.from_pmfs(pmfs, offsets)


@pytest.fixture(scope="module")
def tables():
    return gaussian_tables([0.2, 1.0, 3.0, 20.0])


def test_counts_are_positive_and_sum_to_the_precision(tables):
    for t in range(len(tables)):
        c = tables.counts[t, : tables.lengths[t] + 1]
        assert c.min() >= 1 and c.sum() == 1 << PROB_BITS


def test_round_trip_with_escapes_and_near_ideal_size(tables):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, 50_000)
    values = np.round(rng.normal(0, np.array([0.2, 1.0, 3.0, 20.0])[ids])).astype(np.int64)
    values[[3, 99, 1234]] = [10_000, -2**31 + 1, 77]
    data = encode_symbols(values, ids, tables)
    assert np.array_equal(decode_symbols(data, ids, tables), values)
    idx = np.clip(values - tables.offsets[ids], 0, tables.lengths[ids])
    ideal_bits = -np.log2(tables.counts[ids, idx] / (1 << PROB_BITS)).sum()
    assert len(data) * 8 < ideal_bits * 1.01 + 32 * 8


def test_damaged_streams_raise_or_decode_without_crashing(tables):
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 4, 2000)
    values = np.round(rng.normal(0, 3, 2000)).astype(np.int64)
    data = encode_symbols(values, ids, tables)
    with pytest.raises(CodingError):
        decode_symbols(data[:2], ids, tables)
    with pytest.raises(CodingError):
        decode_symbols(data[:-1], ids, tables)
    for _ in range(50):  # random damage: a clean error or some symbols, never a crash
        bad = bytearray(data)
        bad[rng.integers(4, len(bad))] ^= 0xFF
        try:
            decode_symbols(bytes(bad), ids, tables)
        except CodingError:
            pass


def test_segments_cut_anywhere_decode_their_channels_exactly(tables):
    from scalecodec.entropy import decode_segments, encode_segments

    rng = np.random.default_rng(2)
    channels, per = 12, 300
    ids = rng.integers(0, 4, (channels, per))
    values = np.round(rng.normal(0, np.array([0.2, 1.0, 3.0, 20.0])[ids])).astype(np.int64)
    values[5, 7] = 5000  # an escape in a later channel
    ends = [3, *range(4, channels + 1)]
    head, segments = encode_segments(values, ids, tables, ends)
    assert len(segments) == len(ends)
    for k in range(1, len(ends) + 1):
        got = decode_segments(head, segments[:k], ids[: ends[k - 1]], tables, ends[:k])
        assert np.array_equal(got, values[: ends[k - 1]]), k
    # What follows a cut does not matter: garbage after segment k leaves runs 0..k exact.
    garbage = [bytes(rng.integers(0, 256, len(s), dtype=np.uint8)) for s in segments[3:]]
    got = decode_segments(head, segments[:3] + garbage, ids, tables, ends)
    assert np.array_equal(got[: ends[2]], values[: ends[2]])
    # The escapes are channel-major: a prefix without channel 5 needs none of them.
    assert np.array_equal(decode_segments(head, segments[:2], ids[:4], tables, ends[:2]), values[:4])
