"""The codec through the library API, with the shipped model."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from scalecodec import container
from scalecodec.api import decode_file, encode_file, open_codec
from scalecodec.errors import ImageInputError, ModelError, StreamError
from scalecodec.metrics import psnr


def png(array_or_image, **save) -> bytes:
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buf = io.BytesIO()
    im.save(buf, "PNG", **save)
    return buf.getvalue()


def test_round_trip_geometry_and_quality(codec, photo, stream):
    decoded = codec.decode(stream)
    assert decoded.pixels.shape == photo.shape and decoded.pixels.dtype == np.uint8
    assert psnr(photo, decoded.pixels) > 15
    assert decoded.warnings == []


def test_decoding_is_repeatable(codec, stream):
    assert np.array_equal(codec.decode(stream).pixels, codec.decode(stream).pixels)


def test_quality_knob_is_monotonic_in_rate(codec, photo):
    sizes = [len(codec.encode(photo, q)) for q in (1, 2.5, 4, 5.5, 7)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def test_quality_out_of_range_is_refused(codec, photo):
    for q in (0.5, 7.5, float("nan")):
        with pytest.raises(ValueError, match="quality"):
            codec.encode(photo, q)


@pytest.mark.parametrize("shape", [(1, 1), (3, 65), (64, 64), (70, 129)])
def test_any_size_round_trips(codec, shape):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert codec.decode(codec.encode(img, 2)).pixels.shape == (*shape, 3)


def test_grayscale_is_coded_and_returned_as_grayscale(photo):
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    enc = encode_file(png(gray), 3)
    dec = decode_file(enc.stream)
    assert dec.pixels.shape == gray.shape
    assert Image.open(io.BytesIO(dec.image)).mode == "L"


def test_opaque_alpha_is_dropped_with_a_note(photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    assert any("alpha" in n for n in encode_file(png(rgba), 3).notes)


def test_palette_is_converted_with_a_note(photo):
    pal = Image.fromarray(photo).convert("P", palette=Image.Palette.ADAPTIVE)
    assert any("converted P" in n for n in encode_file(png(pal), 3).notes)


def test_transparency_is_refused(photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])
    with pytest.raises(ImageInputError, match="transparency"):
        encode_file(png(rgba), 3)


def test_16_bit_is_refused():
    deep = Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20)
    with pytest.raises(ImageInputError, match="8 bits"):
        encode_file(png(deep), 3)


def test_not_an_image_is_refused():
    with pytest.raises(ImageInputError, match="not a readable image"):
        encode_file(b"hello, world", 3)


def test_wrong_model_id_is_refused(codec, stream):
    s = container.parse(stream)
    forged = container.Stream(
        container.Header(bytes(16), s.header.width, s.header.height, s.header.colour, 8, s.header.quality),
        s.chunks,
    )
    with pytest.raises(ModelError, match="model"):
        codec.decode(container.serialize(forged))
    with pytest.raises(ModelError, match="not installed"):
        decode_file(container.serialize(forged))


class _OffByOne:
    """The prior path of a decoder whose maths differ in one scale index."""

    def __init__(self, exact):
        self.exact = exact

    def __call__(self, z_hat):
        mean, index = self.exact(z_hat)
        index = index.clone()
        index.view(-1)[index.numel() // 2] += 1
        return mean, index


class _Float32Prior:
    """The prior path as a naive decoder computes it: float32, no fixed point."""

    def __init__(self, exact, h_s):
        self.bounds, self.m, self.h_s = exact.scale_bounds, exact.m, h_s

    @torch.no_grad()
    def __call__(self, z_hat):
        mean, scale = self.h_s(z_hat.float()).chunk(2, 1)
        index = torch.bucketize(scale.double().contiguous(), self.bounds).to(torch.int32)
        return torch.round(mean * 256).to(torch.int32), index


@pytest.mark.parametrize("perturbation", ["off-by-one", "float32"])
def test_perturbed_prior_path_is_detected(codec, stream, monkeypatch, perturbation):
    """Negative control: a prior path that differs at all is reported, not decoded."""
    exact = codec.model.hyper_synthesis
    fake = _OffByOne(exact) if perturbation == "off-by-one" else _Float32Prior(exact, codec.net.h_s)
    monkeypatch.setattr(codec.model, "hyper_synthesis", fake)
    with pytest.raises(StreamError, match="prior checksum"):
        codec.decode(stream)


def _nudge_floats(module: torch.nn.Module, ulps: int = 1):
    """Move every float weight by a few ULPs, as another device's maths would."""
    saved = {k: v.clone() for k, v in module.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            direction = torch.where(torch.rand(p.shape, generator=g) < 0.5, -torch.inf, torch.inf)
            for _ in range(ulps):
                p.copy_(torch.nextafter(p, direction))
    return saved


def test_perturbed_float_maths_do_not_break_decoding(codec, photo, stream):
    """Encoder-side float noise (a GPU encode) and decoder-side float noise (a
    different CPU) change pixels by at most rounding, never the symbols."""
    clean = codec.decode(stream).pixels
    net = codec.net
    saved = _nudge_floats(net, ulps=4)
    try:
        perturbed_stream = codec.encode(photo, 3.0)
        perturbed_decode = codec.decode(stream).pixels
    finally:
        net.load_state_dict(saved)
    assert np.abs(perturbed_decode.astype(int) - clean.astype(int)).max() <= 1
    assert codec.decode(perturbed_stream).pixels.shape == photo.shape


def test_encode_file_bpp_is_from_stream_bytes(photo):
    enc = encode_file(png(photo), 2)
    assert enc.bpp == pytest.approx(8 * len(enc.stream) / photo.shape[0] / photo.shape[1])


def test_truncated_stream_decodes_its_base_layer_with_a_warning(codec, stream):
    s = container.parse(stream)
    extra = container.Chunk(container.ChunkKind.FINE, 0, 0, 8, b"x" * 64)
    longer = container.serialize(container.Stream(s.header, s.chunks + (extra,)))
    decoded = codec.decode(longer[:-10])
    assert np.array_equal(decoded.pixels, codec.decode(stream).pixels)
    assert any("truncated" in w for w in decoded.warnings)


def test_stream_cut_inside_the_base_layer_says_why(codec, stream):
    with pytest.raises(StreamError, match="no complete base layer"):
        codec.decode(stream[:-5])


def test_damaged_payload_behind_a_valid_crc_never_crashes(codec, stream):
    """Bypass the CRC (as a buggy encoder would): errors stay StreamErrors."""
    import random

    s = container.parse(stream)
    base = s.chunks[0]
    rng = random.Random(0)
    for _ in range(60):
        p = bytearray(base.payload)
        if rng.random() < 0.5:
            p[rng.randrange(len(p))] ^= 1 << rng.randrange(8)
        else:
            del p[rng.randrange(len(p)):]
        damaged = container.Chunk(base.kind, 0, base.a, base.b, bytes(p))
        data = container.serialize(container.Stream(s.header, (damaged,)))
        try:
            assert codec.decode(data).pixels.shape == (base.b, base.a, 3)
        except StreamError:
            pass
