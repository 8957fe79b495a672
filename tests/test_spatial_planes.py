"""Spatial streams in trit-planes (issue 29): one stream cut to any size,
then any byte. Every layer is written whole; each enhancement layer is coded
over the first LOWER_PLANES of the segments of the layer below (FINE_PREFIX),
and a cut at a layer keeps each layer below it that far."""

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import PHOTO, scc
from scalecodec import container
from scalecodec.api import decode_file, encode_file, truncate_file
from scalecodec.codecs.encoder import SHIFT
from scalecodec.eval.metrics import psnr
from scalecodec.exact.downscale import reference_downscale


@pytest.fixture(scope="module")
def planes() -> bytes:
    return encode_file(PHOTO.read_bytes(), 6.0, device="cpu", scales=[1.0, 2.0], mode="fgs").stream


def sizes_of(stream: bytes, layer: int) -> list[int]:
    """The stream sizes layer can be cut to, the layers below whole (scc info --json)."""
    return [c for c in json.loads(scc("info", "-", "--json", input=stream, check=True).stdout)["chunks"]
            if c.get("layer") == layer and "cut_points" in c][0]["cut_points"]


def test_layers_are_whole_and_each_layer_is_coded_over_a_prefix_of_the_one_below(photo, planes):
    """The base chunk is the single-layer stream in planes of the base image,
    whole; the layer above was coded over exactly what its first
    LOWER_PLANES of segments decode to (no drift), and decodes to the top
    layer the encoder made."""
    from scalecodec.api import open_encoder
    from scalecodec.codecs.encoder import LOWER_PLANES
    from scalecodec.model.file import default_model_path

    encoder = open_encoder(str(default_model_path(kind="spatial")), "cpu")
    stream, layers = encoder.code_spatial(photo, [1.0, 2.0], 6.0, for_benchmark=True, planes=True)
    assert stream == planes
    s = container.parse(planes)
    assert [c.kind for c in s.chunks] == [container.ChunkKind.FINE, container.ChunkKind.FINE_PREFIX]
    alone = encoder.encode(reference_downscale(photo, 60, 44), 6.0, planes=True)
    assert s.chunks[0].payload == container.parse(alone).chunks[0].payload
    declared = container.fine.unpack(s.chunks[0].payload)[1]
    over = container.fine.coded_over(s.chunks[1])
    assert 0 < LOWER_PLANES < 1 and declared > 4 and over == round(declared * LOWER_PLANES)
    # Each layer's reconstruction shift (section 8.5): the encoder's per kind.
    assert [container.fine.reconstruction_shift(c.flags) for c in s.chunks] == [SHIFT[c.kind] for c in s.chunks]
    assert SHIFT[s.chunks[1].kind] > 0
    # The base layer's own receivers get all of it; the top layer's, the prefix it was coded over.
    assert np.array_equal(decode_file(planes, scale=1.0).pixels, decode_file(alone).pixels)
    top = truncate_file(planes, scale=2.0).stream
    base = container.fine.unpack(container.parse(top).chunks[0].payload)[0]
    assert len(base.segments) == over
    assert np.array_equal(decode_file(top, scale=1.0).pixels, layers[0].pixels)
    assert np.array_equal(decode_file(top).pixels, layers[1].pixels)
    assert np.array_equal(decode_file(planes).pixels, layers[1].pixels)
    # The top layer costs fewer bytes than over a whole base, at about its PSNR.
    whole_symbols = encode_file(PHOTO.read_bytes(), 6.0, device="cpu", scales=[1.0, 2.0]).stream
    assert len(top) < len(whole_symbols)
    assert psnr(photo, decode_file(top).pixels) > psnr(photo, decode_file(whole_symbols).pixels) - 0.3


@pytest.mark.parametrize("layer, scale", [(0, 1.0), (1, 2.0)])
def test_each_layer_cut_at_every_point_decodes_and_never_falls(photo, planes, layer, scale):
    target = photo if layer else reference_downscale(photo, 60, 44)
    prefix = decode_file(truncate_file(planes, scale=2.0).stream, scale=1.0).pixels
    scores = []
    for n in sizes_of(planes, layer):
        cut = truncate_file(planes, max_bytes=n, scale=scale).stream
        assert len(cut) == n
        stream = container.parse(cut)
        assert len(stream.chunks) == layer + 1 and all(c.intact for c in stream.chunks)
        if layer:  # the layer below as far as this one was coded over it
            assert np.array_equal(decode_file(cut, scale=1.0).pixels, prefix)
        scores.append(psnr(target, decode_file(cut).pixels))
    assert len(scores) >= 5 and scores == sorted(scores) and scores[-1] - scores[0] > 5
    if not layer:  # all of the base: its top quality
        assert np.array_equal(decode_file(cut).pixels, decode_file(planes, scale=1.0).pixels)


def test_bytes_alone_keep_the_highest_layer_that_fits(planes):
    layer0, layer1 = sizes_of(planes, 0), sizes_of(planes, 1)
    assert layer1[0] < layer0[-1]  # the top layer's smallest cut holds less of the base than the base has
    for budget in (layer0[0], layer0[2] + 3, layer1[0] - 1, layer1[0], layer0[-1] + 1, layer1[5] + 2,
                   len(planes) - 1):
        cut = truncate_file(planes, max_bytes=budget).stream
        layer = 1 if budget >= layer1[0] else 0
        assert len(container.parse(cut).chunks) == layer + 1, budget
        assert cut == truncate_file(planes, max_bytes=budget, scale=(1.0, 2.0)[layer]).stream
        assert len(cut) == max(n for n in (layer1 if layer else layer0) if n <= budget)
    assert truncate_file(planes, max_bytes=len(planes)).stream == planes


def test_a_budget_that_cannot_hold_the_layers_below_says_the_minimum(tmp_path, planes):
    src = tmp_path / "p.scc"
    src.write_bytes(planes)
    minimum = sizes_of(planes, 1)[0]
    r = scc("truncate", src, tmp_path / "o.scc", "--scale", 2, "--bytes", minimum - 1)
    assert r.returncode == 2 and f"the minimum is {minimum} bytes" in r.stderr.decode()
    assert not (tmp_path / "o.scc").exists()
    r = scc("truncate", src, tmp_path / "o.scc", "--scale", 2, "--bytes", minimum, check=True)
    assert "the top one with 1 of" in r.stderr.decode()


def test_decode_at_any_size_works_on_a_cut(planes):
    cut = truncate_file(planes, max_bytes=(sizes_of(planes, 1)[0] + len(planes)) // 2).stream
    for scale, size in ((1.0, (44, 60)), (1.5, (66, 90)), (2.0, (88, 120)), (3.0, (132, 180))):
        assert decode_file(cut, scale=scale).pixels.shape[:2] == size


def test_a_file_cut_inside_the_top_layer_decodes_the_segments_it_has(planes):
    interrupted = planes[: len(planes) * 3 // 4]
    got = decode_file(interrupted)
    assert any("stops early" in w for w in got.notes)
    kept = truncate_file(interrupted, max_bytes=len(planes)).stream  # its complete segments
    top = container.parse(kept).chunks[1]
    assert 1 < len(container.fine.unpack(top.payload)[0].segments) < len(sizes_of(planes, 1))
    assert np.array_equal(got.pixels, decode_file(kept).pixels)


def test_a_damaged_base_segment_drops_the_layer_above_with_a_warning(planes):
    """Damage inside the segments the layer above was coded over: that layer
    cannot be decoded, and the base decodes from the segments before it."""
    s = container.parse(planes)
    payload, _, _ = container.fine.unpack(s.chunks[0].payload)
    assert container.fine.coded_over(s.chunks[1]) > 1
    offset = len(planes) - len(s.chunks[1].payload) - sum(len(x) for x in payload.segments[1:]) + 1
    damaged = bytearray(planes)
    damaged[offset] ^= 0x20
    parsed = container.parse(bytes(damaged))
    assert len(parsed.chunks) == 1 and not parsed.chunks[0].intact
    assert "above chunk 0" in parsed.missing[0]
    got = decode_file(bytes(damaged))
    assert got.pixels.shape[:2] == (44, 60) and any("segment 1 is corrupt" in w for w in got.notes)


def test_a_layer_coded_over_more_segments_than_the_layer_below_holds_is_refused(planes):
    """A stream whose layer below holds fewer segments than the layer above was
    coded over cannot make that layer's prediction: it is invalid."""
    s = container.parse(planes)
    payload, _, _ = container.fine.unpack(s.chunks[0].payload)
    over = container.fine.coded_over(s.chunks[1])
    short = replace(s.chunks[0], payload=container.fine.pack(payload.cut(over - 1)))
    bad = container.serialize(container.format.with_chunks(s, [short, s.chunks[1]]))
    with pytest.raises(container.ContainerError, match=f"coded over {over} segments"):
        decode_file(bad)
    r = scc("info", "-", input=bad)
    assert r.returncode == 4 and f"coded over {over} segments" in r.stderr.decode()
