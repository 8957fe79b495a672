"""`scc` as a user runs it: real processes, real files, pipes, exit codes."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTO, scc

EXIT_USAGE, EXIT_INPUT, EXIT_STREAM, EXIT_MODEL, EXIT_OUTPUT = 2, 3, 4, 5, 6


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".part"]


def test_encode_info_truncate_decode_files(tmp_path):
    out = tmp_path / "a.scc"
    r = scc("encode", PHOTO, out, "-q", "2.5", check=True)
    assert b"bpp" in r.stderr and r.stdout == b""
    info = json.loads(scc("info", out, "--json", check=True).stdout)
    assert info["width"] == 120 and info["height"] == 88 and info["bytes"] == out.stat().st_size
    assert info["chunks"][0]["kind"] == "base"
    assert b"base layer" in scc("info", out, check=True).stdout
    scc("truncate", out, tmp_path / "t.scc", "--bytes", 10**6, check=True)
    assert (tmp_path / "t.scc").read_bytes() == out.read_bytes()
    scc("decode", out, tmp_path / "a.png", check=True)
    assert Image.open(tmp_path / "a.png").size == (120, 88)
    assert leftovers(tmp_path) == []


def test_pipeline_through_stdin_and_stdout(tmp_path):
    cmd = (f"cat {PHOTO} | {sys.executable} -m scalecodec.cli encode - - "
           f"| {sys.executable} -m scalecodec.cli truncate - - --bytes 90000 "
           f"| {sys.executable} -m scalecodec.cli decode - {tmp_path / 'out.png'}")
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)
    assert Image.open(tmp_path / "out.png").size == (120, 88)


def test_decode_to_stdout_is_png(stream_file):
    out = scc("decode", stream_file, "-", check=True).stdout
    assert out.startswith(b"\x89PNG")


def test_existing_output_is_kept_without_force(tmp_path, stream_file):
    target = tmp_path / "keep.png"
    target.write_bytes(b"precious")
    r = scc("decode", stream_file, target)
    assert r.returncode == EXIT_OUTPUT and b"--force" in r.stderr
    assert target.read_bytes() == b"precious"
    scc("decode", stream_file, target, "--force", check=True)
    assert target.read_bytes().startswith(b"\x89PNG")


def test_output_over_input_is_refused(tmp_path, stream_file):
    r = scc("truncate", stream_file, stream_file, "--bytes", 100, "--force")
    assert r.returncode == EXIT_OUTPUT and b"overwrite the input" in r.stderr


@pytest.mark.parametrize("chunk_byte", [0, 40, -1])
def test_flipped_byte_in_chunk_exits_4_naming_the_chunk(tmp_path, stream_file, chunk_byte):
    data = bytearray(stream_file.read_bytes())
    info = json.loads(scc("info", stream_file, "--json", check=True).stdout)
    c = info["chunks"][0]
    data[c["offset"] + (chunk_byte % c["bytes"])] ^= 0x04
    bad = tmp_path / "bad.scc"
    bad.write_bytes(bytes(data))
    r = scc("decode", bad, tmp_path / "x.png")
    assert r.returncode == EXIT_STREAM
    assert b"chunk 0 (base layer" in r.stderr and r.stderr.count(b"\n") == 1
    assert not (tmp_path / "x.png").exists() and leftovers(tmp_path) == []


def test_cut_file_says_why_it_cannot_decode(tmp_path, stream_file):
    cut = tmp_path / "cut.scc"
    cut.write_bytes(stream_file.read_bytes()[:-100])
    r = scc("decode", cut, tmp_path / "x.png")
    assert r.returncode == EXIT_STREAM and b"no complete base layer" in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_truncate_below_the_base_layer_is_a_usage_error(tmp_path, stream_file):
    r = scc("truncate", stream_file, tmp_path / "t.scc", "--bytes", 50)
    assert r.returncode == EXIT_USAGE and b"minimum is" in r.stderr
    assert not (tmp_path / "t.scc").exists()


@pytest.mark.parametrize(
    "content, code, message",
    [
        (b"", EXIT_STREAM, b"empty"),
        (bytes(range(256)) * 10, EXIT_STREAM, b"magic"),
        (b"\x89SCC\x07\x00" + bytes(80), EXIT_STREAM, b"version 7.0"),
    ],
)
def test_bad_streams_exit_with_one_line(tmp_path, content, code, message):
    bad = tmp_path / "bad.scc"
    bad.write_bytes(content)
    for args in (("decode", bad, tmp_path / "x.png"), ("info", bad),
                 ("truncate", bad, tmp_path / "t.scc", "--bytes", 100)):
        r = scc(*args)
        assert r.returncode == code, (args, r.stderr)
        assert message in r.stderr and b"Traceback" not in r.stderr
    assert leftovers(tmp_path) == [] and not (tmp_path / "x.png").exists()


def test_unreadable_and_unsupported_images_exit_3(tmp_path):
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    Image.fromarray(np.zeros((8, 8, 3), np.uint16)[:, :, 0] + 300).save(tmp_path / "deep.png")
    for name, message in [("missing.png", b"no such file"), ("text.png", b"not a readable image"),
                          ("deep.png", b"8 bits")]:
        r = scc("encode", tmp_path / name, tmp_path / "o.scc")
        assert r.returncode == EXIT_INPUT and message in r.stderr, r.stderr
        assert not (tmp_path / "o.scc").exists()


def test_wrong_model_exits_5(tmp_path, stream_file):
    data = bytearray(stream_file.read_bytes())
    from scalecodec import container

    s = container.parse(bytes(data))
    other = container.Stream(
        container.Header(b"\x01" * 16, s.header.width, s.header.height), s.chunks)
    bad = tmp_path / "other.scc"
    bad.write_bytes(container.serialize(other))
    r = scc("decode", bad, tmp_path / "x.png")
    assert r.returncode == EXIT_MODEL and b"not installed" in r.stderr


def test_bad_quality_is_a_usage_error(tmp_path):
    r = scc("encode", PHOTO, tmp_path / "o.scc", "-q", "99")
    assert r.returncode == EXIT_USAGE and b"quality" in r.stderr


def test_compare_prints_psnr(tmp_path, stream_file):
    scc("decode", stream_file, tmp_path / "d.png", check=True)
    out = scc("compare", PHOTO, tmp_path / "d.png", "--json", check=True).stdout
    assert json.loads(out)["psnr"] > 25.6  # the shipped model (base v3): 26.03 dB at q3 on this photo
