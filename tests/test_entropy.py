import math

import numpy as np
import pytest

from scalecodec.entropy import PROB_BITS, CodingError, PmfTables, SymbolDecoder, decode_symbols, encode_symbols


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


def test_runs_decode_one_after_another_with_tables_learned_from_the_runs_before(tables):
    """A context model's slices: each run's tables depend on the values of
    the runs before it, and escapes of every run come back in order."""
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(0, 3, (6, 5, 7))).astype(np.int64)
    values[0, 1, 2], values[4, 0, 0], values[4, 3, 3] = 5000, -7000, 9000  # escapes in runs 0 and 2
    runs = [(0, 2), (2, 3), (3, 6)]

    def ids_after(decoded):  # the next run's tables, from what came before
        seen = np.abs(np.concatenate(decoded)).sum() if decoded else 0
        return (np.arange(5 * 7).reshape(5, 7) + seen) % 4

    ids = np.concatenate([np.broadcast_to(ids_after([values[:a]] if a else []), (b - a, 5, 7)) for a, b in runs])
    data = encode_symbols(values, ids, tables, runs)
    decoder, decoded = SymbolDecoder(data, tables), []
    for a, b in runs:
        decoded.append(decoder(np.broadcast_to(ids_after([np.concatenate(decoded)] if decoded else []),
                                               (b - a, 5, 7))))
    decoder.close()
    assert np.array_equal(np.concatenate(decoded), values)
    # Coded in runs, the same values make other words than in one run.
    assert data != encode_symbols(values, ids, tables)
    # A decoder that stops before the last run has escapes left over.
    early = SymbolDecoder(data, tables)
    early(ids[:2])
    with pytest.raises(CodingError, match="escapes more than it decodes"):
        early.close()


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


def test_planes_cut_anywhere_bound_every_symbol_and_whole_are_exact(tables):
    from scalecodec.entropy import decode_planes, encode_planes, encode_symbols

    rng = np.random.default_rng(2)
    ids = rng.integers(0, 4, (6, 40, 30))
    values = np.round(rng.normal(0, np.array([0.2, 1.0, 3.0, 20.0])[ids])).astype(np.int64)
    values[5, 7, 3] = 5000  # an escape
    head, segments, trits = encode_planes(values, ids, tables)
    assert trits[0] == 0 and len(segments) > 10
    # The planes cost what the symbols do in one stream.
    assert sum(map(len, segments)) < 1.01 * len(encode_symbols(values, ids, tables))
    assert np.array_equal(decode_planes(head, segments, trits, ids, tables), values * 256)
    errors = []
    for k in range(1, len(segments)):
        got = decode_planes(head, segments[:k], trits[:k], ids, tables)
        assert got[5, 7, 3] == 5000 * 256  # escapes are in the basic part
        errors.append(float(((got / 256 - values) ** 2).mean()))
    assert errors == sorted(errors, reverse=True) and errors[0] > 10 * errors[-1]
    # What follows a cut does not matter: garbage after segment k decodes as the cut.
    garbage = [bytes(rng.integers(0, 256, len(s), dtype=np.uint8)) for s in segments[4:]]
    assert np.array_equal(decode_planes(head, segments[:4] + garbage, trits[:4], ids, tables),
                          decode_planes(head, segments[:4], trits[:4], ids, tables))


def test_planes_refuse_more_trits_than_they_hold(tables):
    from scalecodec.entropy import decode_planes, encode_planes

    ids = np.zeros((2, 5, 5), np.int64) + 3
    values = np.arange(50).reshape(2, 5, 5) - 25
    head, segments, trits = encode_planes(values, ids, tables)
    with pytest.raises(CodingError, match="more than the planes hold"):
        decode_planes(head, segments, trits[:-1] + [trits[-1] + 1], ids, tables)


def test_trit_counts_sum_to_one_and_are_positive_exactly_where_mass_is():
    from scalecodec.entropy.planes import trit_counts

    masses = np.array([[0, 5, 0], [1, 65535 * 3, 1], [7, 7, 7], [0, 1, 2**40], [3, 0, 9]])
    counts = trit_counts(masses)
    assert (counts.sum(1) == 1 << PROB_BITS).all()
    assert ((counts > 0) == (masses > 0)).all()
    assert counts[2].tolist() == [21845, 21846 - 1 + 1, 21845] or counts[2].max() - counts[2].min() <= 1
