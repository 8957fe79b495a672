"""The entropy layer against a second implementation written from the spec
alone (tests/reference_entropy.py, no constriction): on every symbol stream
of every golden vector it decodes the same values, and re-encoding them gives
the same words, byte for byte, and for the fine-grained stream the same
planes, estimates and segment cuts (sections 8.2 to 8.5)."""

import numpy as np
import pytest

import reference_entropy as ref
from scalecodec import container
from scalecodec.api import open_decoder
from scalecodec.codecs import decoder as codec_decoder
from scalecodec.codecs import layout
from scalecodec.entropy import decode_planes, decode_symbols
from scalecodec.entropy.planes import plane_tables
from scalecodec.model.file import find_model

from test_golden_vectors import VECTORS


def ref_tables(tables) -> dict:
    return {t: (ref.frequencies([int(c) for c in tables.counts[t, : int(tables.lengths[t]) + 1]]),
                int(tables.offsets[t]), int(tables.lengths[t]))
            for t in range(len(tables))}


def words_of(data: bytes) -> list[int]:
    return ref.split_head(data)[1]


def layer_chunks(planes: bool):
    """(label, parts, chunk) of every chunk of whole symbols (BASE, SPATIAL)
    or, with planes, in trit-planes (FINE, FINE_SPATIAL, FINE_PREFIX)."""
    for f in sorted(VECTORS.glob("*.scc")):
        stream = container.parse(f.read_bytes())
        model = open_decoder(str(find_model(stream.header.model_id))).model
        for c in stream.chunks:
            if (c.kind in container.format.PLANE_KINDS) == planes:
                yield f"{f.stem}/{c.label}", (model if c.layer == 0 else model.enhancement), c


CHUNKS = list(layer_chunks(planes=False))
PLANE_CHUNKS = list(layer_chunks(planes=True))


@pytest.mark.parametrize("label, parts, chunk", CHUNKS, ids=[c[0] for c in CHUNKS])
def test_reference_decodes_and_reencodes_every_layer_identically(label, parts, chunk):
    """z in one run; y in one run, or with a context model in one run per
    slice (5.4, 5.6), each run's tables from the project's exact path fed
    with what the reference decoded of the runs before it."""
    y_shape, z_shape = layout.latent_shapes(chunk.a, chunk.b, parts.m, parts.z_channels)
    crc, z_bytes, y_bytes = layout.unpack(chunk.payload, y_shape, z_shape)
    zt, yt = ref_tables(parts.z_tables), ref_tables(parts.y_tables)
    z_ids = np.asarray(layout.z_table_ids(z_shape)).ravel().tolist()
    z = ref.decode_symbols(z_bytes, z_ids, zt)
    assert z == decode_symbols(z_bytes, np.array(z_ids), parts.z_tables).tolist()
    encoder = ref.RangeEncoder()
    ref.encode_run(encoder, z, z_ids, zt)
    assert encoder.sealed() == words_of(z_bytes)

    escapes, words = ref.split_head(y_bytes)
    decoder, runs, escaped = ref.RangeDecoder(words), [], []

    def code(k, mean, index):
        ids = index.ravel().tolist()
        bins = ref.decode_run(decoder, ids, yt)
        runs.append((ref.values(bins, ids, yt, escapes[len(escaped):]), ids))
        escaped.extend(b for b, t in zip(bins, ids) if b == yt[t][2])
        return np.array(runs[-1][0]).reshape(index.shape)

    hyper = parts.hyper_synthesis.values(np.array(z).reshape(z_shape))
    y_fixed, _, _ = layout.code_latent(parts, hyper, code)
    assert len(escaped) == len(escapes)
    assert np.array_equal(y_fixed, codec_decoder.entropy_decode(parts, chunk))
    assert len(runs) == (len(parts.context.sizes) if parts.context else 1)
    encoder = ref.RangeEncoder()
    for values, ids in runs:
        ref.encode_run(encoder, values, ids, yt)
    assert encoder.sealed() == words_of(y_bytes)
    ids = [t for _, run_ids in runs for t in run_ids]
    assert len(set(ids)) > 1 and any(v != 0 for values, _ in runs for v in values)  # a test that can tell


def test_reference_decodes_and_reencodes_the_alpha_plane_from_the_spec_alone():
    """Section 3.2 read by hand: the listed bins, the table they make, the
    symbol stream, and the two cumulative sums."""
    import struct

    stream = container.parse((VECTORS / "single-q4-alpha.scc").read_bytes())
    payload = stream.alpha.payload
    w, h, k = struct.unpack_from("<IIH", payload)
    counts = [1] * 257
    for i in range(k):
        symbol, count = struct.unpack_from("<BH", payload, 10 + 3 * i)
        counts[symbol] = count
    assert sum(counts) == 1 << 16
    data = payload[10 + 3 * k:]
    rt = {0: (ref.frequencies(counts), 0, 256)}
    got = ref.decode_symbols(data, [0] * (w * h), rt)
    planes = np.cumsum(np.cumsum(np.array(got).reshape(h, w), axis=0), axis=1) % 256
    from scalecodec.api import decode_file

    assert np.array_equal(planes, decode_file(container.serialize(stream)).pixels[:, :, 3])
    encoder = ref.RangeEncoder()
    ref.encode_run(encoder, got, [0] * (w * h), rt)
    assert encoder.sealed() == words_of(data)
    assert len(set(got)) > 2  # a plane with edges, not a constant


@pytest.mark.parametrize("label, parts, chunk", PLANE_CHUNKS, ids=[c[0] for c in PLANE_CHUNKS])
def test_reference_decodes_every_cut_of_every_layer_in_planes_and_makes_its_cuts(label, parts, chunk):
    payload, _, _ = container.fine.unpack(chunk.payload)
    y_shape, z_shape = layout.latent_shapes(chunk.a, chunk.b, parts.m, parts.z_channels)
    _, index = parts.hyper_synthesis.parameters(codec_decoder._hyper(parts, payload.z_stream, z_shape))
    ids = index.ravel().tolist()
    tables = parts.y_tables
    pt = ref.PlaneTables([[int(c) for c in tables.counts[t]] for t in range(len(tables))],
                         tables.offsets.tolist(), tables.lengths.tolist())
    assert pt.planes == plane_tables(tables).planes
    escapes, _ = ref.split_head(payload.head)
    segments = list(payload.segments)
    sums = np.cumsum(payload.trits).tolist()
    shift = chunk.flags & 0xFF  # section 3: the reconstruction shift D of 8.5
    assert shift > 0  # this version's vectors use it
    # Every prefix of segments: the reference decodes what the codec decodes.
    for k in range(1, len(segments) + 1):
        words = ref.split_head(payload.head + b"".join(segments[:k]))[1]
        got, complete = ref.decode_planes(words, escapes, ids, pt, sums[k - 1], shift)
        want = decode_planes(payload.head, segments[:k], list(payload.trits[:k]), index, tables, shift)
        assert got == want.ravel().tolist(), f"{k} segments"
        # From 1.7 scc writes every layer whole (a layer above says how much of it it is coded over).
        assert complete == (k == len(segments))
    assert len(set(sums)) == len(sums) > 2  # several cuts, each a different one

    # Re-encoding the whole: the same words, and the segments end where 8.4 says.
    values = [v // 256 for v in got]
    words, ends = ref.encode_planes(values, ids, pt, sums[1:-1])
    assert words == ref.split_head(payload.head + b"".join(segments))[1]
    ends_in_words = np.cumsum([len(s) // 4 for s in segments]).tolist()
    assert ends_in_words == [min(e, len(words)) for e in ends] + [len(words)]


def test_long_random_streams_take_every_path_and_match_the_codec():
    """The golden vectors are short: here held-back words, carries and both
    seal forms all occur, and the words are still the codec's."""
    from scalecodec.entropy.coder import encode_symbols
    from scalecodec.entropy.tables import PmfTables

    rng = np.random.default_rng(7)
    pmfs = [rng.dirichlet(np.full(n, a)) * 0.999 for n, a in ((3, 0.3), (9, 1.0), (30, 0.1), (2, 5.0))]
    tables = PmfTables.from_pmfs(pmfs, [-1, -4, 0, 2])
    ids = rng.integers(0, 4, 60_000)
    vals = np.array([rng.choice(len(pmfs[t]) + 1, p=np.append(pmfs[t], 0.001)) for t in ids])
    vals = vals + np.array([-1, -4, 0, 2])[ids]
    vals[vals == np.array([2, 5, 30, 4])[ids]] = 99  # the escape bin holds an escaped value
    data = encode_symbols(vals, ids, tables)
    rt = ref_tables(tables)
    encoder = ref.RangeEncoder()
    ref.encode_run(encoder, vals.tolist(), ids.tolist(), rt)
    assert encoder.sealed() == words_of(data)
    assert encoder.events["pending"] > 10 and encoder.events["carried"] > 0, encoder.events
    assert ref.decode_symbols(data, ids.tolist(), rt) == vals.tolist()


def test_the_reference_is_not_the_codec_by_accident():
    """Mutations of the spec's rules make the reference disagree."""
    counts = [1] * 15 + [2**16 - 15]
    edges = ref.frequencies(counts)
    assert edges[1] - edges[0] == 1 + (2**24 - 16) // 2**16 and edges[-1] == 2**24
    enc = ref.RangeEncoder()
    symbols = [15, 15, 3, 15, 0, 15, 15, 7] * 50
    for s in symbols:
        enc.encode(s, edges)
    words = enc.sealed()
    dec = ref.RangeDecoder(words)
    assert [dec.decode(edges) for _ in symbols] == symbols
    wrong = ref.frequencies(counts[::-1])
    dec = ref.RangeDecoder(words)
    assert [dec.decode(wrong) for _ in symbols] != symbols
