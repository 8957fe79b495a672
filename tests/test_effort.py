"""scc encode --effort: the encoder searches for cheaper symbols; the stream
stays an ordinary stream that the unchanged decoder decodes exactly."""

import numpy as np
import pytest
import torch

from conftest import PHOTO, scc
from scalecodec.api import decode_file, encode_file
from scalecodec.eval.metrics import psnr
from scalecodec.model.file import default_model_path, load_model
from scalecodec.codecs.effort import ITERATIONS
from scalecodec.codecs.refine import FloatSynthesis, inverse_gain, lambda_at


def rd_cost(stream: bytes, photo: np.ndarray, quality: float) -> float:
    """What the search minimises, measured on the real file and the real
    decode: bits per pixel + lambda * MSE in 8-bit levels."""
    model = load_model()
    decoded = decode_file(stream).pixels.astype(np.float64)
    mse = np.mean((decoded - photo) ** 2)
    return 8 * len(stream) / photo[..., 0].size + lambda_at(list(model.tree["architecture"]["lambdas"]), quality) * mse


def test_higher_effort_gives_a_cheaper_stream_that_decodes_as_usual(photo):
    data = PHOTO.read_bytes()
    plain = encode_file(data, 4.0, device="cpu").stream
    refined = encode_file(data, 4.0, device="cpu", effort=3).stream
    assert refined != plain
    # Same format: the header and table layout are those of an ordinary stream.
    assert refined[:6] == plain[:6]
    assert rd_cost(refined, photo, 4.0) < rd_cost(plain, photo, 4.0)
    assert psnr(photo, decode_file(refined).pixels) > 27.0  # the default (base v3): 27.90 dB at q4


def test_effort_is_deterministic(photo):
    data = PHOTO.read_bytes()
    assert encode_file(data, 2.5, device="cpu", effort=2).stream == encode_file(data, 2.5, device="cpu", effort=2).stream


def test_effort_refines_every_layer_of_a_spatial_stream(photo):
    data = PHOTO.read_bytes()
    seen = set()
    plain = encode_file(data, 3.0, device="cpu", scales=[1.0, 2.0]).stream
    refined = encode_file(data, 3.0, device="cpu", scales=[1.0, 2.0], effort=2,
                          report=lambda layer, it, n, bpp, mse: seen.add(layer)).stream
    assert seen == {0, 1} and refined != plain
    for scale in (1.0, 2.0):
        assert decode_file(refined, scale=scale).pixels.shape == decode_file(plain, scale=scale).pixels.shape


def test_float_synthesis_follows_the_exact_decoder():
    model = load_model()
    rng = np.random.default_rng(1)
    # Within +-2 in every channel at once: base v3's fixed-point ranges were
    # calibrated on real latents (most channels near 0), and +-4 everywhere
    # drives its activations to their 16-bit clamp, which the float network lacks.
    y_fixed = rng.integers(-2 * 256, 2 * 256, size=(model.m, 3, 4)).astype(np.int64)
    quality_fixed = 2 * 256 + 77
    exact = model.synthesis.values(y_fixed, quality_fixed)
    y = torch.from_numpy(y_fixed / 256 * inverse_gain(model.synthesis, quality_fixed)[:, None, None]).float()
    approx = FloatSynthesis(model.synthesis)(y[None])[0].detach().numpy()
    assert np.abs(approx - exact).max() < 1.0  # within the exact network's roundings


def test_effort_serves_fine_grained_streams_whole_they_are_the_refined_single_layer_image(photo):
    data = PHOTO.read_bytes()
    fine = encode_file(data, 4.0, device="cpu", effort=2, mode="fgs").stream
    single = encode_file(data, 4.0, device="cpu", effort=2, model_path=default_model_path("fine")).stream
    assert fine != encode_file(data, 4.0, device="cpu", mode="fgs").stream
    assert np.array_equal(decode_file(fine).pixels, decode_file(single).pixels)


def test_cli_effort_verbose_and_refusals(tmp_path):
    out = tmp_path / "e.scc"
    r = scc("encode", PHOTO, out, "--effort", 2, "-v", check=True)
    # The default model has a context model: a search per slice.
    slices = len(load_model().context.sizes)
    assert r.stderr.count(b"iteration") == ITERATIONS[1] * slices and b"dB" in r.stderr
    assert scc("decode", out, tmp_path / "e.png").returncode == 0
    assert scc("encode", PHOTO, tmp_path / "x.scc", "--effort", 0).returncode == 2
    assert "~" in scc("encode", "--help").stdout.decode()  # the levels' cost is in the help


def test_bench_measures_an_effort_as_a_codec_of_its_own(tmp_path):
    import shutil

    from scalecodec.eval.benchmark import suite

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "a.png")
    # With the large-photo row of the speed table, at a size a test can afford.
    r = suite.run_benchmark(folder, tmp_path / "out", ["scalecodec"], scalable=False, efforts=(2,),
                            large_photo=(320, 256), qualities=(2, 4, 6))
    rows = r["summary"]["rows"]
    assert set(rows) == {"scalecodec", "scalecodec-e2"}
    assert rows["scalecodec-e2"]["bd_rate_vs_scalecodec_pct"]["psnr"] is not None
    a, b = r["points"]["scalecodec"], r["points"]["scalecodec-e2"]
    assert [p["bytes"] for p in a] != [p["bytes"] for p in b]
    report = (tmp_path / "out" / "results.md").read_text()
    assert "scalecodec (effort 2)" in report
    # The ladder plot is drawn, and a later run without efforts does not leave it behind.
    assert r["efforts"] == {"scalecodec": 1, "scalecodec-e2": 2}
    assert "(effort.png)" in report and (tmp_path / "out" / "effort.png").stat().st_size > 0
    suite.report.plots({**r, "efforts": {"scalecodec": 1}}, tmp_path / "out")
    assert not (tmp_path / "out" / "effort.png").exists()
    large = r["scalecodec_library"]["large_photo"]
    assert (large["width"], large["height"]) == (320, 256) and large["decode"]["seconds"] > 0
    assert "| scalecodec, 320x256 photo (a.png enlarged) |" in report
    assert scc("bench", folder, "--effort", "1,12", "-o", tmp_path / "x").returncode == 2
    assert scc("bench", folder, "--large", "12mp", "-o", tmp_path / "y").returncode == 2
