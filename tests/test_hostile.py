"""Hostile input, tried as an attacker would: every case ends in a clear
error with its documented exit code (or a valid partial result), never a
traceback, garbage, or a half-written file; what is cheap is checked first."""

import dataclasses
import os
import time

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTO, scc
from scalecodec import container
from scalecodec.codecs import layout
from scalecodec.container import Chunk, ChunkKind


def _claim(stream: bytes, sizes: list[tuple[int, int]], m: int = 96, n: int = 64) -> bytes:
    """A stream whose container and payload layouts are all consistent (every
    CRC right, symbol counts matching) for layers of the given sizes, with
    empty entropy-coded streams: it passes every check up to decoding."""
    s = container.parse(stream)
    chunks = []
    for k, (w, h) in enumerate(sizes):
        y_shape, z_shape = layout.latent_shapes(w, h, m, n)
        payload = layout.pack(0, int(np.prod(z_shape)), b"", int(np.prod(y_shape)), b"")
        chunks.append(Chunk(ChunkKind.BASE if k == 0 else ChunkKind.SPATIAL, k, w, h, payload))
    header = dataclasses.replace(s.header, width=sizes[-1][0], height=sizes[-1][1],
                                 base_width=sizes[0][0], base_height=sizes[0][1])
    return container.serialize(container.Stream(header, tuple(chunks)))


def test_a_small_stream_claiming_a_huge_image_is_refused_from_its_header(tmp_path, stream):
    big = tmp_path / "big.scc"
    big.write_bytes(_claim(stream, [(16384, 16384)]))
    assert big.stat().st_size < 200
    t = time.perf_counter()
    r = scc("decode", big, tmp_path / "out.png")
    assert r.returncode == 3 and time.perf_counter() - t < 20
    err = r.stderr.decode()
    assert "16384x16384 (268.4 MP), over the limit of 100 MP" in err and "--max-pixels" in err
    assert "Traceback" not in err and not (tmp_path / "out.png").exists()
    # Raised, the limit lets it through to the checks that follow: it does not decode (4).
    r = scc("decode", big, tmp_path / "out.png", "--max-pixels", 300_000_000)
    assert r.returncode == 4 and not (tmp_path / "out.png").exists(), r.stderr.decode()


def test_the_limit_counts_what_a_request_makes_not_only_the_stream(tmp_path, stream):
    f = tmp_path / "s.scc"
    f.write_bytes(stream)  # 120x88; LIFF may predict up to 4x: 480x352
    r = scc("decode", f, tmp_path / "o.png", "--width", 480, "--max-pixels", 100_000)
    assert r.returncode == 3 and "480x352" in r.stderr.decode()
    assert scc("decode", f, tmp_path / "o.png", "--max-pixels", 120 * 88).returncode == 0


def test_a_tiny_base_under_a_huge_layer_is_invalid(tmp_path, stream):
    f = tmp_path / "steep.scc"
    f.write_bytes(_claim(stream, [(16, 16), (16384, 16384)]))
    r = scc("decode", f, tmp_path / "o.png", "--max-pixels", 300_000_000)
    assert r.returncode == 4 and "more than 4x the layer below" in r.stderr.decode()
    # The rounding of layer sizes from the top may add up to 2 pixels to 4x: still valid.
    ok = container.parse(_claim(stream, [(16, 16), (66, 66)]))
    assert container.spatial_layers(ok) == [(16, 16), (66, 66)]
    with pytest.raises(container.ContainerError, match="more than 4x"):
        container.spatial_layers(container.parse(_claim(stream, [(16, 16), (67, 66)])))


def test_a_png_bomb_is_refused_from_its_header_with_exit_3(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("L", (12000, 12000)).save(bomb, optimize=True)
    assert bomb.stat().st_size < 1_000_000
    r = scc("encode", bomb, tmp_path / "b.scc")
    err = r.stderr.decode()
    assert r.returncode == 3 and "144.0 MP" in err and "--max-pixels" in err
    assert "DecompressionBomb" not in err and "Warning" not in err and not (tmp_path / "b.scc").exists()


def test_a_non_image_says_so_without_python_internals(tmp_path):
    f = tmp_path / "notes.png"
    f.write_text("hello")
    r = scc("encode", f, tmp_path / "n.scc")
    err = r.stderr.decode()
    assert r.returncode == 3 and "notes.png: not a readable image" in err and "BytesIO" not in err


def test_bad_options_are_refused_before_torch_loads(tmp_path):
    # A torch that cannot be imported: the refusals must not need it.
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('torch was imported')")
    env = {"PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])}
    r = scc("encode", PHOTO, tmp_path / "o.scc", "-q", 99, env=env)
    assert r.returncode == 2 and "quality must be between 1 and 10, got 99" in r.stderr.decode()
    r = scc("encode", PHOTO, tmp_path / "o.scc", "--mode", "fgs", "--scales", "1,2", env=env)
    assert r.returncode == 2


def test_cuda_without_cuda_is_a_usage_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = scc("encode", PHOTO, tmp_path / "o.scc", "--device", "cuda")
    assert r.returncode == 2 and "CUDA is not available" in r.stderr.decode()
    r = scc("decode", PHOTO, tmp_path / "o.png", "--device", "cuda")
    assert r.returncode in (2, 4)  # not a stream either; never a model error


def test_out_of_memory_is_exit_7_with_advice(monkeypatch, tmp_path, stream_file):
    from click.testing import CliRunner

    from scalecodec import api, cli

    def exhausted(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(api, "decode_file", exhausted)
    r = CliRunner().invoke(cli.main, ["decode", str(stream_file), str(tmp_path / "o.png")])
    assert r.exit_code == 7 and "out of memory" in r.output and "--max-pixels" in r.output
    assert not (tmp_path / "o.png").exists()


def test_a_damaged_fine_grained_stream_is_reported_and_refused_whole(tmp_path):
    fine = (PHOTO.parent.parent / "vectors" / "fgs-q10.scc").read_bytes()
    damaged = bytearray(fine)
    damaged[-300] ^= 0xFF
    f = tmp_path / "damaged.scc"
    f.write_bytes(bytes(damaged))
    r = scc("info", f)
    out = r.stdout.decode()
    assert r.returncode == 0 and "damaged    scalable segment" in out and "CRC mismatch" in out
    with pytest.raises(container.ContainerError, match="damaged"):
        container.parse(bytes(damaged), allow_truncated=False)
    with pytest.raises(container.ContainerError, match="cut short"):
        container.parse(fine[:-100], allow_truncated=False)
    assert not container.parse(bytes(damaged)).chunks[0].intact  # the default still decodes a prefix


def test_truncate_never_writes_a_stream_without_its_base_layer(tmp_path, stream):
    s = container.parse(stream)
    orphan = dataclasses.replace(s.chunks[0], kind=ChunkKind.SPATIAL, layer=1)
    f = tmp_path / "orphan.scc"
    f.write_bytes(container.serialize(container.Stream(s.header, (orphan,))))
    r = scc("truncate", f, tmp_path / "cut.scc", "--bytes", 100_000)
    assert r.returncode == 4 and "out of order" in r.stderr.decode()
    assert not (tmp_path / "cut.scc").exists()


def test_truncate_of_a_file_cut_inside_its_base_layer_is_a_usage_error(tmp_path, stream):
    f = tmp_path / "cut.scc"
    f.write_bytes(stream[:300])
    r = scc("truncate", f, tmp_path / "o.scc", "--bytes", 100_000)
    assert r.returncode == 2 and "cut inside its base layer" in r.stderr.decode()
    assert "can hold the base layer" in r.stderr.decode() and not (tmp_path / "o.scc").exists()


def test_truncate_to_a_scale_on_a_one_layer_fine_grained_stream_keeps_it_and_cuts_it(tmp_path):
    # Its one layer is what any smaller size decodes from, as for a
    # single-layer stream; with --bytes too, that layer is cut to fit.
    f = PHOTO.parent.parent / "vectors" / "fgs-q10.scc"
    scc("truncate", f, tmp_path / "o.scc", "--scale", 0.5, check=True)
    assert (tmp_path / "o.scc").read_bytes() == f.read_bytes()
    scc("truncate", f, tmp_path / "c.scc", "--scale", 0.5, "--bytes", 2000, check=True)
    assert 1000 < (tmp_path / "c.scc").stat().st_size <= 2000


def test_an_output_that_appears_meanwhile_is_never_replaced(monkeypatch, tmp_path):
    """Two writers racing to one new path: the existence check and the
    rename used to be separate steps, so both could succeed."""
    from scalecodec.errors import OutputError
    from scalecodec.io import files

    target = tmp_path / "o.scc"
    monkeypatch.setattr(files, "check_output", lambda *a, **k: target.write_bytes(b"the other writer's"))
    with pytest.raises(OutputError, match="already exists"):
        files.write_output(str(target), b"mine", force=False)
    assert target.read_bytes() == b"the other writer's"
    assert [p.name for p in tmp_path.iterdir()] == ["o.scc"]  # no .part left behind
    files.write_output(str(target), b"mine", force=True)
    assert target.read_bytes() == b"mine"


@pytest.mark.parametrize("member, change, message", [
    ("weight", lambda a: a * 0 + 2**20, "integers within"),
    ("weight", lambda a: a + 0.5, "integers within"),
    ("bias", lambda a: a[:-1], "shape"),
])
def test_a_model_file_with_integers_out_of_range_is_refused(tmp_path, stream_file, member, change, message):
    from scalecodec.model.file import default_model_path, read_model, write_model

    tree, _ = read_model(default_model_path())
    layer = tree["synthesis"]["layers"][0]
    layer[member] = change(np.asarray(layer[member], np.float64))
    bad = tmp_path / "bad.npz"
    write_model(bad, tree)
    r = scc("decode", stream_file, tmp_path / "o.png", "--model", bad)
    assert r.returncode == 5 and message in r.stderr.decode(), r.stderr.decode()


def test_a_model_file_with_a_broken_probability_table_is_refused(tmp_path, stream_file):
    from scalecodec.model.file import default_model_path, read_model, write_model

    tree, _ = read_model(default_model_path())
    counts = np.array(tree["y_tables"]["counts"])
    counts[0, 0] += 1  # no longer sums to 2**16
    tree["y_tables"]["counts"] = counts
    bad = tmp_path / "bad.npz"
    write_model(bad, tree)
    r = scc("decode", stream_file, tmp_path / "o.png", "--model", bad)
    assert r.returncode == 5 and "summing to 2**16" in r.stderr.decode()


def _rewrite(data: bytes, **header) -> bytes:
    s = container.parse(data)
    return container.serialize(dataclasses.replace(s, header=dataclasses.replace(s.header, **header)))


def test_a_quality_outside_the_models_range_is_an_invalid_stream(tmp_path, stream):
    f = tmp_path / "q.scc"
    f.write_bytes(_rewrite(stream, quality=20.0))  # every CRC right; the model has 10 levels
    r = scc("decode", f, tmp_path / "o.png")
    assert r.returncode == 4 and "quality 20 is outside the model's range 1..10" in r.stderr.decode()


def test_layers_out_of_order_are_an_invalid_stream(tmp_path):
    s = container.parse((PHOTO.parent.parent / "vectors" / "spatial-1-2-q4.scc").read_bytes())
    swapped = container.Stream(s.header, (dataclasses.replace(s.chunks[0], layer=1), s.chunks[1]))
    f = tmp_path / "swapped.scc"
    f.write_bytes(container.serialize(swapped))
    for cmd in (("decode", f, tmp_path / "o.png"), ("truncate", f, tmp_path / "o.scc", "--bytes", 10**6)):
        r = scc(*cmd)
        assert r.returncode == 4 and "out of order" in r.stderr.decode(), cmd


def test_a_corrupt_segment_table_is_an_invalid_stream(tmp_path):
    from scalecodec.container import fine

    data = (PHOTO.parent.parent / "vectors" / "fgs-q10.scc").read_bytes()
    s = container.parse(data)
    payload = bytearray(s.chunks[0].payload)
    payload[fine._FIXED.size] ^= 0x01  # the first segment's length, inside the table's CRC-16
    f = tmp_path / "table.scc"
    f.write_bytes(container.serialize(container.Stream(
        s.header, (dataclasses.replace(s.chunks[0], payload=bytes(payload)),))))
    for cmd in (("decode", f, tmp_path / "o.png"), ("info", f), ("truncate", f, tmp_path / "o.scc", "--bytes", 2000)):
        r = scc(*cmd)
        assert r.returncode == 4 and "segment table is corrupt" in r.stderr.decode(), cmd


@pytest.mark.parametrize("name, rule", [("no-base-layer", "out of order"),
                                        ("base-16-under-16384", "more than 4x the layer below")])
def test_info_on_a_stream_that_breaks_the_layer_rules_says_so(name, rule):
    from pathlib import Path

    r = scc("info", Path(__file__).parent / "fuzz-regressions" / f"{name}.scc")
    assert r.returncode == 4 and rule in r.stderr.decode() and not r.stdout
