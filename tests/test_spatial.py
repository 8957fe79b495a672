"""Spatial scalability: layer geometry, the LIFF predictor, and the
enhancement layer's shapes (its training is in test_training)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scalecodec.codecs.geometry import ScaleError, layer_sizes
from scalecodec.nn import liff
from scalecodec.nn.enhancement import EnhancementLayer
from scalecodec.training.spatial import sample_chain


def test_layer_sizes_follow_the_scales_from_the_top():
    assert layer_sizes(768, 512, [1, 1.6, 2.4]) == [(320, 213), (512, 341), (768, 512)]
    assert layer_sizes(768, 512, [1, 2]) == [(384, 256), (768, 512)]
    assert layer_sizes(100, 100, [1, 1.1, 1.21, 1.331])[-1] == (100, 100)


@pytest.mark.parametrize("scales, message", [
    ([1], "2 to 4 layers"),
    ([1, 1.2, 1.5, 2, 2.5], "2 to 4 layers"),
    ([1.2, 2], "first is 1"),
    ([1, 2, 2], "must increase"),
    ([1, 3, 2], "must increase"),
    ([1, 1.05], "1.1x to 4x"),
    ([1, 4.5], "1.1x to 4x"),
])
def test_bad_scales_are_refused_with_a_reason(scales, message):
    with pytest.raises(ScaleError, match=message):
        layer_sizes(768, 512, scales)


def test_a_base_layer_below_the_minimum_side_is_refused():
    with pytest.raises(ScaleError, match="at least 16 pixels"):
        layer_sizes(60, 40, [1, 4])


def test_training_chains_are_legal_stream_geometries():
    rng = np.random.default_rng(1)
    for _ in range(500):
        scales = sample_chain(rng)
        assert len(scales) in (2, 3)
        layer_sizes(4000, 4000, scales)  # raises if any step is out of range


def test_nearest_source_offsets_stay_within_half_a_pixel():
    for src, dst in ((10, 12), (10, 40), (7, 8), (100, 333)):
        index, offset = liff.nearest_source(src, dst, "cpu")
        assert index.min() >= 0 and index.max() <= src - 1
        assert offset.abs().max() <= 0.5 + 1e-6 or src == 1


def test_liff_starts_as_bicubic_and_predicts_any_size():
    torch.manual_seed(0)
    f = liff.LocalImplicitFilter()
    lower = torch.rand(2, 3, 37, 53)
    with torch.no_grad():
        out = f(lower, (50, 90))
    assert out.shape == (2, 3, 50, 90)
    bicubic = F.interpolate(lower, size=(50, 90), mode="bicubic", align_corners=False)
    assert torch.equal(out, bicubic)


def test_liff_in_chunks_equals_liff_at_once(monkeypatch):
    torch.manual_seed(0)
    f = liff.LocalImplicitFilter()
    for p in f.mlp[-1].parameters():
        torch.nn.init.normal_(p, std=0.01)
    lower = torch.rand(1, 3, 20, 30)
    with torch.no_grad():
        whole = f(lower, (33, 47))
        monkeypatch.setattr(liff, "QUERY_CHUNK", 100)
        chunked = f(lower, (33, 47))
    assert torch.allclose(whole, chunked, atol=1e-6)


def test_enhancement_layer_codes_any_size_and_starts_at_the_prediction():
    torch.manual_seed(0)
    el = EnhancementLayer(8, 12, [0.01, 0.05])
    lower, target = torch.rand(2, 3, 30, 41), torch.rand(2, 3, 50, 70)
    out = el(lower, target, torch.tensor([0.0, 1.0]))
    assert out["x_hat"].shape == target.shape
    assert torch.equal(out["x_hat"], out["prediction"])
    assert all(torch.all(lik > 0) for lik in out["likelihoods"])
