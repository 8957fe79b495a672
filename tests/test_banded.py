"""The exact synthesis in bands of rows is bit-identical to one pass."""

import numpy as np
import pytest

from scalecodec.exact import fixedpoint, synthesis
from scalecodec.exact.fixedpoint import FixedPointLayer, band_rows
from scalecodec.model.file import default_model_path, load_model


@pytest.mark.parametrize("kind", ["single", "spatial"])
def test_bands_of_any_height_give_the_same_values(kind):
    model = load_model(default_model_path(kind))
    rng = np.random.default_rng(7)
    parts = [model] + ([model.enhancement] if model.enhancement else [])
    for part in parts:
        y = rng.integers(-6 * 256, 6 * 256, size=(part.synthesis.inverse_gain.shape[1], 9, 5)).astype(np.int64)
        whole = part.synthesis.values(y, 3 * 256 + 40, band_rows=9)
        for rows in (1, 2, 4):
            assert np.array_equal(part.synthesis.values(y, 3 * 256 + 40, band_rows=rows), whole)


def test_a_band_reads_two_latent_rows_each_side_and_no_fewer_will_do(monkeypatch):
    model = load_model()
    net = model.synthesis.network
    assert net.rows_for(16 * 3, 16 * 5, 8)[:2] == (1, 7)  # two latent rows each side
    assert net.rows_for(0, 16 * 2, 8)[:2] == (0, 4)  # clipped to the image
    y = np.random.default_rng(3).integers(-6 * 256, 6 * 256, size=(model.m, 8, 4)).astype(np.int64)
    whole = model.synthesis.values(y, 512, band_rows=8)
    reads = FixedPointLayer.input_rows
    monkeypatch.setattr(FixedPointLayer, "input_rows", lambda self, o0, o1: (
        lambda a, b: (a + 1, b - 1) if self.kind == "deconv" else (a, b))(*reads(self, o0, o1)))
    assert not np.array_equal(model.synthesis.values(y, 512, band_rows=2), whole)


@pytest.mark.parametrize("workers", [1, 3])
def test_bands_made_at_once_give_the_same_values(monkeypatch, workers):
    model = load_model()
    y = np.random.default_rng(5).integers(-6 * 256, 6 * 256, size=(model.m, 11, 6)).astype(np.int64)
    whole = model.synthesis.values(y, 700, band_rows=11)
    monkeypatch.setattr(fixedpoint, "WORKERS", workers)
    assert np.array_equal(model.synthesis.values(y, 700, band_rows=2), whole)
    assert np.array_equal(model.synthesis.values(y, 700), whole)  # split between the workers


def test_band_height_follows_the_width():
    net = load_model().synthesis.network
    assert band_rows(net, 8, synthesis.BAND_ELEMENTS) > band_rows(net, 256, synthesis.BAND_ELEMENTS) >= 1


def test_banded_analysis_follows_one_pass(monkeypatch):
    import torch

    from scalecodec.codecs import encoder
    from scalecodec.api import open_encoder

    net = open_encoder(None, "cpu").net
    x = torch.rand(1, 3, 16 * 12, 16 * 5)
    whole = net.g_a(x)
    monkeypatch.setattr(encoder, "ANALYSIS_BAND_ELEMENTS", 64 * 64 * 5 * 2)  # two latent rows a band
    banded = encoder.analysis_in_bands(net.g_a, x)
    assert banded.shape == whole.shape
    assert torch.allclose(banded, whole, atol=1e-4)  # float: equal up to summation order
    monkeypatch.setattr(encoder, "ANALYSIS_HALO", 1)
    assert not torch.allclose(encoder.analysis_in_bands(net.g_a, x), whole, atol=1e-4)


def test_the_analysis_of_a_residual_made_in_bands_is_that_of_the_whole_input(monkeypatch):
    import torch

    from scalecodec.codecs import encoder
    from scalecodec.api import open_encoder

    net = open_encoder(default_model_path("spatial"), "cpu").el_net
    rng = np.random.default_rng(9)
    prediction = rng.uniform(0, 255, (3, 180, 70))
    side = encoder.ResidualInput(rng.integers(0, 256, (180, 70, 3), dtype=np.uint8),
                                 lambda a, b: prediction[:, a:b], "cpu")
    monkeypatch.setattr(encoder, "ANALYSIS_BAND_ELEMENTS", 64 * 64 * 5 * 2)  # two latent rows a band
    whole = side.rows(0, side.shape[2])
    assert torch.equal(encoder.analysis_in_bands(net.g_a, side), encoder.analysis_in_bands(net.g_a, whole))


@pytest.mark.parametrize("size", [(240, 176), (173, 101), (300, 300)])
def test_liff_in_bands_of_target_rows_gives_the_same_prediction(monkeypatch, size):
    from scalecodec.exact import liff

    el = load_model(default_model_path("spatial")).enhancement.liff
    lower = np.random.default_rng(5).integers(0, 256, (60, 88, 3), dtype=np.uint8)
    lower[20:40, 30:60] = 255  # edges, so neighbouring rows matter
    whole = el.predict(lower, *size)  # one band: the default holds 2^19 target pixels
    for band_pixels in (size[0], 3 * size[0], 17 * size[0]):  # 1, 3 and 17 rows a band
        monkeypatch.setattr(liff, "BAND_PIXELS", band_pixels)
        assert np.array_equal(el.predict(lower, *size), whole), band_pixels
        # Rows asked for alone (as the top layer's analysis asks) are the same rows.
        assert np.array_equal(el.predict(lower, *size, rows=(7, size[1] - 5)), whole[:, 7 : size[1] - 5])


def test_a_shallower_liff_halo_is_not_exact(monkeypatch):
    from scalecodec.exact import liff

    el = load_model(default_model_path("spatial")).enhancement.liff
    lower = np.random.default_rng(6).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    whole = el.predict(lower, 100, 80)
    monkeypatch.setattr(liff, "BAND_PIXELS", 100 * 4)
    monkeypatch.setattr(type(el), "halo", property(lambda self: 1))
    assert not np.array_equal(el.predict(lower, 100, 80), whole)


def test_the_analysis_inputs_in_bands_are_the_whole_image_formula(monkeypatch):
    import torch
    import torch.nn.functional as F

    from scalecodec.codecs import encoder

    rng = np.random.default_rng(8)
    target = rng.integers(0, 256, (70, 45, 3), dtype=np.uint8)
    prediction = rng.uniform(-20, 280, (3, 70, 45))
    t = torch.from_numpy(target).permute(2, 0, 1)[None].float().div(255)
    p = torch.from_numpy(prediction / 255).float()[None]
    want = F.pad(torch.cat([t - p, p], 1), (0, 64 - 45, 0, 128 - 70), mode="replicate")[0].numpy()
    side = encoder.ResidualInput(target, lambda a, b: prediction[:, a:b], "cpu")
    assert side.shape == (1, *want.shape)
    assert np.array_equal(side.rows(0, 128)[0].numpy(), want)
    assert np.array_equal(side.rows(48, 80)[0].numpy(), want[:, 48:80])  # a band across the padding
    monkeypatch.setattr(encoder, "INPUT_BAND_PIXELS", 45 * 3)  # three rows a band
    want = F.pad(t, (0, 64 - 45, 0, 128 - 70), mode="replicate")[0].numpy()
    assert np.array_equal(encoder._image_input(target), want)


@pytest.mark.parametrize("kind", ["single", "spatial"])
def test_the_prior_in_bands_gives_the_same_parameters(monkeypatch, kind):
    from scalecodec.exact import prior

    model = load_model(default_model_path(kind))
    for part in [model] + ([model.enhancement] if model.enhancement else []):
        z = np.random.default_rng(11).integers(-8, 9, size=(part.z_channels, 7, 5))
        monkeypatch.setattr(fixedpoint, "WORKERS", 1)
        whole = part.hyper_synthesis(z)  # one pass
        monkeypatch.undo()
        monkeypatch.setattr(prior, "BAND_ELEMENTS", 1)  # one row of z a band, in threads
        banded = part.hyper_synthesis(z)
        monkeypatch.undo()
        assert all(np.array_equal(a, b) for a, b in zip(banded, whole))
