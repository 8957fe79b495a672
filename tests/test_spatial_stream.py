"""Spatially scalable streams end to end: real files, real `scc` processes,
every size a receiver can ask for, and exact truncation."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import PHOTO, scc
from scalecodec import container
from scalecodec.exact.downscale import reference_downscale
from scalecodec.codecs.geometry import layer_sizes
from scalecodec.eval.metrics import psnr
from scalecodec.nn.liff import nearest_source as torch_nearest_source
from scalecodec.exact.liff import bicubic, nearest_source

SCALES3 = [1.0, 1.6, 2.4]


@pytest.fixture(scope="module")
def spatial_encoder():
    from scalecodec.api import open_encoder
    from scalecodec.model.file import default_model_path

    return open_encoder(str(default_model_path(kind="spatial")), "cpu")


@pytest.fixture(scope="module")
def spatial_decoder():
    from scalecodec.api import open_decoder
    from scalecodec.model.file import default_model_path

    return open_decoder(str(default_model_path(kind="spatial")))


@pytest.fixture(scope="module")
def stream3(spatial_encoder, photo) -> bytes:
    return spatial_encoder.encode_spatial(photo, SCALES3, 4.0)


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_round_trip_through_files_gives_every_layer(tmp_path, photo):
    out = tmp_path / "photo.scc"
    scc("encode", PHOTO, out, "--scales", "1,1.6,2.4", "-q", "4", check=True)
    chunks = container.parse(out.read_bytes()).chunks
    sizes = layer_sizes(120, 88, SCALES3)
    assert [(c.kind, c.a, c.b) for c in chunks] == [(container.ChunkKind.BASE, *sizes[0])] + [
        (container.ChunkKind.SPATIAL, *s) for s in sizes[1:]]
    info = scc("info", out, check=True).stdout.decode()
    assert "spatial layer 2 (120x88)" in info
    for k, scale in enumerate(SCALES3):
        png = tmp_path / f"layer{k}.png"
        result = scc("decode", out, png, "--scale", scale, check=True)
        assert f"(layer {k})" in result.stderr.decode()
        pixels = png_pixels(png.read_bytes())
        assert pixels.shape[1::-1] == sizes[k]
        reference = reference_downscale(photo, *sizes[k])
        assert psnr(reference, pixels) > 24, k
    top = png_pixels(scc("decode", out, "-", check=True).stdout)
    assert np.array_equal(top, pixels)


def test_enhancement_layers_add_to_their_prediction(spatial_decoder, stream3, photo):
    """The top layer is better than LIFF's prediction from the layer below alone."""
    decoded = spatial_decoder.decode(stream3).pixels
    middle = spatial_decoder.decode(stream3, scale=1.6).pixels
    predicted = spatial_decoder.model.enhancement.liff.predict(middle, 120, 88)
    prediction = np.clip(np.rint(predicted), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert psnr(photo, decoded) > psnr(photo, prediction) + 0.5


def test_every_scale_from_the_base_up_gives_its_size(spatial_decoder, stream3):
    sizes = layer_sizes(120, 88, SCALES3)
    bw, bh = sizes[0]
    for scale in np.arange(1.0, 4.85, 0.1):
        decoded = spatial_decoder.decode(stream3, scale=float(scale))
        h, w = decoded.pixels.shape[:2]
        want = (round(bw * scale), round(bh * scale))
        if decoded.plan.how == "exact":
            assert (w, h) in sizes and abs(w - want[0]) <= 1 and abs(h - want[1]) <= 1, scale
        else:
            assert (w, h) == want, scale
            assert decoded.plan.how == ("predict" if w > 120 else "downscale"), scale


def test_a_target_width_keeps_the_aspect(spatial_decoder, stream3):
    assert spatial_decoder.decode(stream3, width=90).pixels.shape[:2] == (66, 90)
    assert spatial_decoder.decode(stream3, height=44).pixels.shape[:2] == (44, 60)
    assert spatial_decoder.decode(stream3, width=81, height=50).pixels.shape[:2] == (50, 81)


@pytest.mark.parametrize("scale", ["1", "1.3", "1.6", "2", "2.4", "3.5"])
def test_truncating_to_a_scale_decodes_exactly_as_the_full_stream(tmp_path, stream3, scale):
    full = tmp_path / "full.scc"
    full.write_bytes(stream3)
    cut = tmp_path / "cut.scc"
    scc("truncate", full, cut, "--scale", scale, check=True)
    assert cut.stat().st_size <= full.stat().st_size
    if float(scale) <= 1.6:  # no need for the top layer
        assert cut.stat().st_size < full.stat().st_size
    from_full = scc("decode", full, "-", "--scale", scale, check=True).stdout
    from_cut = scc("decode", cut, "-", "--scale", scale, check=True).stdout
    assert from_full == from_cut


def test_a_stream_cut_inside_a_layer_decodes_the_layers_before_it(spatial_decoder, stream3):
    parsed = container.parse(stream3)
    cut_at = len(stream3) - len(parsed.chunks[-1].payload) // 2
    decoded = spatial_decoder.decode(stream3[:cut_at])
    assert decoded.pixels.shape[:2] == (59, 80)  # layer 1 of 120x88 at 1.6/2.4
    assert any("truncated" in w for w in decoded.warnings)
    assert np.array_equal(decoded.pixels, spatial_decoder.decode(stream3, scale=1.6).pixels)


@pytest.mark.parametrize("args, message", [
    (["--scales", "1,5"], "1.1x to 4x"),
    (["--scales", "1,1.05"], "1.1x to 4x"),
    (["--scales", "1,2,1.5"], "must increase"),
    (["--scales", "2,3"], "the first is 1"),
    (["--scales", "1"], "2 to 4 layers"),
    (["--scales", "1,2,3,4,5"], "2 to 4 layers"),
    (["--scales", "1,4,8"], "at least 16 pixels"),
    (["--scales", "1,x"], "comma-separated numbers"),
])
def test_bad_scale_factors_are_refused(tmp_path, args, message):
    result = scc("encode", PHOTO, tmp_path / "o.scc", *args)
    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert not (tmp_path / "o.scc").exists()


@pytest.mark.parametrize("args, message", [
    (["--scale", "0"], "above 0"),
    (["--scale", "-1.5"], "above 0"),
    (["--scale", "20"], "at most 4x"),
    (["--width", "0"], "at least 1"),
    (["--scale", "2", "--width", "10"], "not both"),
])
def test_bad_output_sizes_are_refused(tmp_path, stream3, args, message):
    path = tmp_path / "s.scc"
    path.write_bytes(stream3)
    for command in (["decode", path, tmp_path / "o.png"], ["truncate", path, tmp_path / "o.scc"]):
        result = scc(*command, *args)
        assert result.returncode == 2, (command, result.stderr)
        assert message in result.stderr.decode()


def test_a_model_without_an_enhancement_layer_cannot_encode_layers(tmp_path):
    from scalecodec.model.file import default_model_path

    result = scc("encode", PHOTO, tmp_path / "o.scc", "--scales", "1,2", "--model", default_model_path())
    assert result.returncode == 5
    assert "no enhancement layer" in result.stderr.decode()


def test_single_layer_streams_decode_at_other_sizes_too(stream, decoder):
    smaller = decoder.decode(stream, scale=0.5)
    assert smaller.pixels.shape[:2] == (44, 60) and smaller.plan.how == "downscale"


def test_integer_bicubic_is_torch_bicubic():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, 13, 17)).astype(np.float64)
    ours = bicubic(pixels, 40, 29) * 2.0**-28
    ref = F.interpolate(torch.from_numpy(pixels)[None], size=(29, 40), mode="bicubic",
                        align_corners=False)[0].numpy()
    assert np.abs(ours - ref).max() < 0.05


def test_integer_nearest_source_is_the_float_one():
    for src, dst in [(13, 40), (200, 321), (37, 59), (64, 256)]:
        index, offset = nearest_source(src, dst)
        t_index, t_offset = torch_nearest_source(src, dst, "cpu")
        assert np.array_equal(index, t_index.numpy())
        assert np.allclose(offset, t_offset.numpy(), atol=1e-4)  # torch works in float32
