"""Spatial streams in trit-planes (issue 29): one stream cut to any size,
then any byte. Its lower layers end early (LOWER_PLANES of their segments)
and each layer is coded over what the one below holds; a cut keeps the
layers below the one it cuts whole."""

import json

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


def test_lower_layers_end_early_and_each_layer_decodes_to_what_the_one_above_predicts_from(photo, planes):
    """The encoder writes LOWER_PLANES of the base layer's segments: its chunk
    is the single-layer stream in planes of the base image, cut there; the
    layer above was coded over exactly what that cut decodes to (no drift),
    and whole it is the top layer the encoder made."""
    from scalecodec.api import open_encoder
    from scalecodec.codecs.encoder import LOWER_PLANES
    from scalecodec.model.file import default_model_path

    encoder = open_encoder(str(default_model_path(kind="spatial")), "cpu")
    stream, layers = encoder.code_spatial(photo, [1.0, 2.0], 6.0, for_benchmark=True, planes=True)
    assert stream == planes
    s = container.parse(planes)
    assert [c.kind for c in s.chunks] == [container.ChunkKind.FINE, container.ChunkKind.FINE_SPATIAL]
    # Each layer's reconstruction shift (section 8.5): the encoder's per kind.
    assert [c.flags for c in s.chunks] == [SHIFT[c.kind] for c in s.chunks] and SHIFT[s.chunks[1].kind] > 0
    alone = container.parse(encoder.encode(reference_downscale(photo, 60, 44), 6.0, planes=True)).chunks[0]
    whole, declared, _ = container.fine.unpack(alone.payload)
    assert 0 < LOWER_PLANES < 1 and declared > 4
    assert s.chunks[0].payload == container.fine.pack(whole.cut(round(declared * LOWER_PLANES)))
    for scale, layer in ((1.0, layers[0]), (2.0, layers[1])):
        assert np.array_equal(decode_file(planes, scale=scale).pixels, layer.pixels)
    # The top layer costs fewer bytes than over a whole base, at about its PSNR.
    whole_symbols = encode_file(PHOTO.read_bytes(), 6.0, device="cpu", scales=[1.0, 2.0]).stream
    assert len(planes) < len(whole_symbols)
    assert psnr(photo, decode_file(planes).pixels) > psnr(photo, decode_file(whole_symbols).pixels) - 0.3


@pytest.mark.parametrize("layer, scale", [(0, 1.0), (1, 2.0)])
def test_each_layer_cut_at_every_point_decodes_and_never_falls(photo, planes, layer, scale):
    target = photo if layer else reference_downscale(photo, 60, 44)
    base = decode_file(truncate_file(planes, scale=1.0).stream).pixels
    scores = []
    for n in sizes_of(planes, layer):
        cut = truncate_file(planes, max_bytes=n, scale=scale).stream
        assert len(cut) == n
        stream = container.parse(cut)
        assert len(stream.chunks) == layer + 1 and all(c.intact for c in stream.chunks)
        if layer:  # the layer below stays whole
            assert np.array_equal(decode_file(truncate_file(cut, scale=1.0).stream).pixels, base)
        scores.append(psnr(target, decode_file(cut).pixels))
    # The base layer holds LOWER_PLANES of its segments: on this 60x44 layer, 3.
    assert len(scores) >= (5 if layer else 3) and scores == sorted(scores) and scores[-1] - scores[0] > 5


def test_bytes_alone_keep_layers_whole_while_they_fit_then_cut_the_next(planes):
    layer0 = sizes_of(planes, 0)
    layer1 = sizes_of(planes, 1)
    for budget, kept in ((layer0[2] + 3, 1), (layer0[-1] + 1, 1), (layer1[0], 2), (layer1[5] + 2, 2)):
        cut = container.parse(truncate_file(planes, max_bytes=budget).stream)
        assert len(cut.chunks) == kept, budget
        assert container.serialize(cut) == truncate_file(planes, max_bytes=max(
            n for n in layer0 + layer1 if n <= budget)).stream


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
    s = container.parse(planes)
    payload, _, _ = container.fine.unpack(s.chunks[0].payload)
    offset = len(planes) - len(s.chunks[1].payload) - len(payload.segments[-1]) + 1
    damaged = bytearray(planes)
    damaged[offset] ^= 0x20
    parsed = container.parse(bytes(damaged))
    assert len(parsed.chunks) == 1 and not parsed.chunks[0].intact
    assert "above chunk 0" in parsed.missing[0]
    got = decode_file(bytes(damaged))
    assert got.pixels.shape[:2] == (44, 60) and any("corrupt" in w for w in got.notes)
