"""The benchmark harness: BD-rate maths, JPEG 2000 prefixes, the reference
downscaler, and whole `scc bench` runs on a tiny folder through real tools."""

import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTO, scc
from scalecodec.eval.benchmark import codecs as codecs_mod
from scalecodec.eval.benchmark import jpeg2000, runner
from scalecodec.eval.benchmark.runner import Cache, measure, prepare_sources
from scalecodec.eval.benchmark.suite import run_benchmark
from scalecodec.exact.downscale import reference_downscale
from scalecodec.eval.metrics import bd_rate, ms_ssim_db, pchip

CURVE = [(0.1, 27.0), (0.25, 30.1), (0.5, 32.9), (0.75, 34.6), (1.0, 36.2), (1.5, 38.7)]
needs_opj = pytest.mark.skipif(shutil.which("opj_compress") is None or shutil.which("opj_decompress") is None,
                               reason="OpenJPEG tools not installed (scripts/install-peers.sh)")
needs_cjpeg = pytest.mark.skipif(shutil.which("cjpeg") is None, reason="libjpeg-turbo tools not installed")


def test_bd_rate_identical_curves_is_zero():
    assert bd_rate(CURVE, CURVE) == pytest.approx(0, abs=1e-9)


def test_bd_rate_of_rate_scaled_by_0_9_is_minus_10_percent():
    assert bd_rate(CURVE, [(r * 0.9, q) for r, q in CURVE]) == pytest.approx(-10, abs=1e-9)
    assert bd_rate(CURVE, [(r * 1.25, q) for r, q in CURVE]) == pytest.approx(25, abs=1e-9)


def test_bd_rate_uses_only_the_overlapping_range():
    # Both curves lie on one line (log rate linear in PSNR) over 30-34 dB,
    # where the test curve lives; beyond 35 dB the anchor turns much worse.
    # Only 30-34 dB may count.
    line = lambda q: math.exp(-6 + 0.2 * q)  # noqa: E731
    anchor = [(line(q), q) for q in range(27, 36)] + [(line(q) * 3, q) for q in (36, 37)]
    test = [(line(q), q) for q in range(30, 35)]
    assert bd_rate(anchor, test) == pytest.approx(0, abs=1e-9)
    assert bd_rate(anchor, [(r * 0.5, q) for r, q in test]) == pytest.approx(-50, abs=1e-9)


def test_bd_rate_rejects_curves_that_do_not_overlap_or_are_too_short():
    with pytest.raises(ValueError):
        bd_rate(CURVE[:2], [(r, q + 20) for r, q in CURVE])
    with pytest.raises(ValueError):
        bd_rate(CURVE, CURVE[:1])


def test_bd_rate_works_on_ms_ssim_in_db():
    curve = [(r, ms_ssim_db(s)) for r, s in [(0.1, 0.88), (0.25, 0.93), (0.5, 0.96), (1.0, 0.98)]]
    assert bd_rate(curve, [(r * 0.8, q) for r, q in curve]) == pytest.approx(-20, abs=1e-9)


def test_pchip_passes_through_points_and_does_not_overshoot():
    x, y = np.array([0.0, 1, 2, 3, 4]), np.array([0.0, 0, 1, 1, 1])
    assert np.allclose(pchip(x, y, x), y)
    t = np.linspace(0, 4, 401)
    v = pchip(x, y, t)
    assert v.min() >= 0 and v.max() <= 1 and np.all(np.diff(v) >= -1e-12)


def test_reference_downscale_gives_pinned_pixels_and_rejects_upscaling(photo):
    """Its bytes are normative (spatial layers' targets, sizes between layers):
    a change of filter or of Pillow's arithmetic fails here."""
    import hashlib

    pinned = {(60, 44): "349327e18544f65f754ac9845819f637593439cd674c6065dd0dacf606020097",
              (37, 29): "29049bb92b0f1753298c180c559c1103090b03a793b9c2581d9a4a7df2c6622e"}
    for (w, h), digest in pinned.items():
        small = reference_downscale(photo, w, h)
        assert small.shape == (h, w, 3) and small.dtype == np.uint8
        assert hashlib.sha256(small.tobytes()).hexdigest() == digest
    assert np.array_equal(reference_downscale(photo, 120, 88), photo)
    with pytest.raises(ValueError):
        reference_downscale(photo, 121, 88)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    shutil.copy(PHOTO, d / "a.png")
    Image.open(PHOTO).convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(d / "b.png")
    (d / "notes.txt").write_text("not an image: ignored")
    return d


@needs_opj
def test_jpeg2000_prefixes_are_real_files_that_decode_exactly(folder, tmp_path):
    src = prepare_sources(folder, tmp_path / "src")[0]
    res = jpeg2000.resolution_point(0.5, src, tmp_path)
    sizes = [res["levels"][k] for k in ("0", "1", "2")]
    assert [(p["width"], p["height"]) for p in sizes] == [(120, 88), (60, 44), (30, 22)]
    assert sizes[0]["bytes"] > sizes[1]["bytes"] > sizes[2]["bytes"]
    assert all(p["prefix_equals_reduced_decode"] for p in sizes)
    layers = jpeg2000.layers_point(src, tmp_path)["layers"]
    assert len(layers) == len(jpeg2000.LAYER_BPP)
    assert all(layers[str(k)]["prefix_equals_reduced_decode"] for k in range(1, 9))
    sizes = [layers[str(k)]["bytes"] for k in range(1, 9)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 8


@needs_opj
def test_jpeg2000_serves_its_first_layers_at_a_lower_size_as_a_file_of_their_own(folder, tmp_path):
    """The first k layers of a lower resolution are no prefix of an LRCP
    file: the cut keeps their packets and empties the higher resolutions'."""
    src = prepare_sources(folder, tmp_path / "src")[0]
    whole = tmp_path / "lrcp.j2k"
    jpeg2000.run_measured(["opj_compress", "-i", src.ppm, "-o", whole, "-I", "-r", "96,48,24,12", "-PLT"])
    cs = jpeg2000.parse(whole.read_bytes())
    reference = np.asarray(Image.fromarray(src.pixels).resize((30, 22)))
    points = [jpeg2000.reduced_layers_point(cs, n, 2, reference, whole, tmp_path) for n in (1, 2, 4)]
    assert all(p["prefix_equals_reduced_decode"] and (p["width"], p["height"]) == (30, 22) for p in points)
    sizes = [p["bytes"] for p in points]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    # Far smaller than the prefix of the same layers at every size.
    per_layer = cs.components * cs.resolutions
    assert sizes[1] < 0.8 * len(cs.prefix(2 * per_layer))
    # Not the whole layers' packets: leaving the higher resolutions whole would
    # not be a lower resolution's cut.
    full = jpeg2000.reduced_layers_point(cs, 2, 0, src.pixels, whole, tmp_path)
    assert full["prefix_equals_reduced_decode"] and full["bytes"] > sizes[1]


@needs_opj
def test_jpeg2000_parse_rejects_a_codestream_without_packet_lengths(folder, tmp_path):
    src = prepare_sources(folder, tmp_path / "src")[0]
    out = tmp_path / "plain.j2k"
    jpeg2000.run_measured(["opj_compress", "-i", src.ppm, "-o", out, "-I", "-r", "48"])
    with pytest.raises(jpeg2000.ToolError):
        jpeg2000.parse(out.read_bytes())


def test_scalecodec_runs_as_a_benchmark_codec_through_real_files(folder, tmp_path):
    src = prepare_sources(folder, tmp_path / "src")[0]
    point = measure(codecs_mod.scalecodec(), 4, src, tmp_path)
    assert point["bytes"] == (tmp_path / "coded.scc").stat().st_size
    assert point["bpp"] == pytest.approx(8 * point["bytes"] / (120 * 88))
    assert 27.0 < point["psnr"] < 29.0 and point["encode_s"] > 0 and point["decode_s"] > 0
    # Every level of the model unless told (a quick check of a model in training measures a few).
    assert codecs_mod.scalecodec().settings == tuple(range(1, 11))
    assert codecs_mod.scalecodec(qualities=(2, 7.5)).settings == (2, 7.5)


@needs_cjpeg
@pytest.mark.skipif(not runner.os.access(runner.GNU_TIME, runner.os.X_OK), reason="GNU time not installed")
def test_peak_memory_is_the_tools_own_not_the_forking_pythons(folder, tmp_path):
    import torch  # noqa: F401  (makes this process large, as in a real bench run)

    src = prepare_sources(folder, tmp_path / "src")[0]
    seconds, peak = runner.run_measured(["cjpeg", "-outfile", tmp_path / "a.jpg", src.ppm])
    assert seconds > 0 and 0 < peak < 50  # cjpeg needs a few MiB; this process holds hundreds


def test_cache_key_changes_with_the_command_line_or_version():
    cache = Cache(None)
    jpeg = next(c for c in codecs_mod.PEERS if c.name == "jpeg")
    assert cache.tag(jpeg, "v1") == cache.tag(jpeg, "v1")
    assert cache.tag(jpeg, "v1") != cache.tag(jpeg, "v2")
    other = codecs_mod.Codec(**{**jpeg.__dict__, "encode": lambda q, png, ppm, out: ["cjpeg", "-baseline", out]})
    assert cache.tag(other, "v1") != cache.tag(jpeg, "v1")


@needs_opj
@needs_cjpeg
def test_bench_writes_tables_plots_json_and_resumes_from_cache(folder, tmp_path, capsys):
    out = tmp_path / "results"
    first = run_benchmark(folder, out, ["jpeg", "jpeg2000"], force=False)
    for name in ("results.md", "results.json", "rd-psnr.png", "rd-ms-ssim.png"):
        assert (out / name).stat().st_size > 0
    log = capsys.readouterr().err
    assert "[1/" in log and "min left" in log
    rows = first["summary"]["rows"]
    assert set(rows) == {"jpeg", "jpeg2000"}
    assert rows["jpeg2000"]["bd_rate_vs_jpeg2000_pct"]["psnr"] == pytest.approx(0, abs=1e-9)
    points = json.loads((out / "results.json").read_text())["points"]
    assert len(points["jpeg"]) == 2 * len(codecs_mod.PEERS[0].settings)
    for p in points["jpeg"]:  # bpp is the file's bytes less JFIF; grey b.png was benchmarked as RGB
        assert p["bpp"] == pytest.approx(8 * p["bytes"] / (p["width"] * p["height"]))
        assert p["metadata_bytes"] == 18
    md = (out / "results.md").read_text()
    assert "| JPEG 2000" in md and "Quality layers" in md and "Pillow bicubic" in md
    assert "JPEG 18 B" in md and "JPEG 2000 39 B" in md  # what was left out, per codec
    assert "Generated by `" in md and "load average" in md
    assert "effort.png" not in md and not (out / "effort.png").exists()  # no efforts measured

    # Replacing results needs --force; a resumed run measures nothing again.
    with pytest.raises(Exception, match="--force"):
        run_benchmark(folder, out, ["jpeg", "jpeg2000"])
    again = run_benchmark(folder, out, ["jpeg", "jpeg2000"], force=True)
    assert "min left" not in capsys.readouterr().err
    assert again["summary"] == first["summary"]

    # A fresh cache re-measures everything: the bytes agree exactly, PSNR too.
    fresh = run_benchmark(folder, tmp_path / "fresh", ["jpeg", "jpeg2000"], cache_dir=tmp_path / "c2")
    for name in ("jpeg", "jpeg2000"):
        a, b = first["points"][name], fresh["points"][name]
        assert [p["bytes"] for p in a] == [p["bytes"] for p in b]
        assert all(math.isclose(p["psnr"], q["psnr"], abs_tol=0.01) for p, q in zip(a, b))


def test_bench_skips_a_missing_codec_and_says_so(folder, tmp_path, monkeypatch):
    ghost = codecs_mod.Codec(**{**codecs_mod.PEERS[0].__dict__, "tools": ("no-such-codec-tool",)})
    monkeypatch.setattr("scalecodec.eval.benchmark.suite.PEERS", (ghost,))
    result = run_benchmark(folder, tmp_path / "r", ["jpeg"], scalable=False)
    assert "no-such-codec-tool not found" in result["skipped"]["jpeg"]
    assert "skipped jpeg" in (tmp_path / "r" / "results.md").read_text()


@needs_cjpeg  # the broken codec is JPEG's entry with its encoder replaced; the rest still runs libjpeg-turbo
def test_bench_reports_a_failing_tool_and_leaves_its_points_out(folder, tmp_path, monkeypatch):
    broken = codecs_mod.Codec(**{**codecs_mod.PEERS[0].__dict__, "tools": ("false",),
                                 "encode": lambda q, png, ppm, out: ["false"]})
    monkeypatch.setattr("scalecodec.eval.benchmark.suite.PEERS", (broken,))
    result = run_benchmark(folder, tmp_path / "r", ["jpeg"], scalable=False)
    assert len(result["failures"]) == 2 * len(broken.settings)
    assert "false exited 1" in result["failures"][0]
    assert result["points"]["jpeg"] == [] and "jpeg" not in result["summary"]["rows"]
    assert "failed: jpeg quality=3 a.png" in (tmp_path / "r" / "results.md").read_text()


def test_scc_bench_rejects_an_unknown_codec_and_an_empty_folder(tmp_path):
    proc = scc("bench", PHOTO.parent, "--codecs", "jpeg,gif", "-o", tmp_path / "r")
    assert proc.returncode == 2 and b"unknown codec(s) gif" in proc.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = scc("bench", empty, "--codecs", "jpeg", "-o", tmp_path / "r")
    assert proc.returncode == 3 and b"no images found" in proc.stderr


def test_scalecodec_library_and_container_speeds_are_measured(folder, tmp_path):
    from scalecodec.eval.benchmark.inprocess import container_speed, library_speed

    sources = prepare_sources(folder, tmp_path / "src")
    lib = library_speed(sources, None)
    assert lib["cpu"]["encode"]["median_s"] > 0 and lib["cpu"]["decode"]["megapixels_per_s"] > 0
    procs = container_speed(sources[:1], None)
    assert 0 < procs["info"]["median_s"] <= procs["info"]["max_s"]
    assert procs["truncate"]["median_s"] > 0
