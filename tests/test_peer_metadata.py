"""Bytes that are not image data are found in the peers' real files and left
out of the benchmark's rates (benchmark.metadata)."""

import shutil
import struct
import subprocess

import pytest
from PIL import Image

from conftest import PHOTO
from scalecodec.eval.benchmark import codecs as codecs_mod
from scalecodec.eval.benchmark.metadata import MetadataError, metadata_bytes
from scalecodec.eval.benchmark.runner import measure, prepare_sources


def needs(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(bool(missing), reason=f"not installed: {' '.join(missing)}")


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(PHOTO, d / "a.png")
    return prepare_sources(d, tmp_path / "src")[0]


def run(*cmd):
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)


@needs("cjpeg", "djpeg")
def test_jpeg_jfif_segment_is_found_and_not_counted(src, tmp_path):
    point = measure(next(c for c in codecs_mod.PEERS if c.name == "jpeg"), 50, src, tmp_path)
    assert point["metadata_bytes"] == 18  # APP0 JFIF: marker 2 + length 16
    assert point["bytes"] == (tmp_path / "coded.jpg").stat().st_size - 18
    assert point["bpp"] == pytest.approx(8 * point["bytes"] / (120 * 88))


@needs("opj_compress")
def test_openjpeg_comment_is_found(src, tmp_path):
    out = tmp_path / "a.j2k"
    run("opj_compress", "-i", src.ppm, "-o", out, "-I", "-r", "24")
    data = out.read_bytes()
    i = data.index(b"\xff\x64")
    length = struct.unpack(">H", data[i + 2 : i + 4])[0]
    assert b"OpenJPEG" in data[i : i + 2 + length]
    assert metadata_bytes(out) == 2 + length


@needs("ffmpeg")
def test_x265_settings_sei_is_found_and_info0_removes_it(src, tmp_path):
    def encode(params, out):
        run("ffmpeg", "-loglevel", "error", "-y", "-i", src.png, "-vf", codecs_mod._TO_YUV,
            "-c:v", "libx265", "-crf", "40", "-x265-params", params, "-frames:v", "1", "-f", "hevc", out)
        return out

    default = encode("keyint=1:log-level=error", tmp_path / "a.hevc")
    stripped = encode("keyint=1:log-level=error:info=0", tmp_path / "b.hevc")
    assert b"x265" in default.read_bytes() and metadata_bytes(default) > 1000
    assert metadata_bytes(stripped) == 0
    # What is left is what info=0 writes: the same image data, give or take nothing.
    assert default.stat().st_size - metadata_bytes(default) == stripped.stat().st_size
    assert "info=0" in " ".join(map(str, next(c for c in codecs_mod.PEERS if c.name == "hevc")
                                    .encode(30, src.png, src.ppm, tmp_path / "x.hevc")))


@needs("avifenc")
def test_avif_exif_item_is_found(src, tmp_path):
    exif = tmp_path / "exif.bin"
    exif.write_bytes(b"Exif\0\0MM\0*\0\0\0\x08\0\0" + bytes(range(200)))
    plain, tagged = tmp_path / "a.avif", tmp_path / "b.avif"
    run("avifenc", "-s", "8", "--min", "30", "--max", "30", src.png, plain)
    run("avifenc", "-s", "8", "--min", "30", "--max", "30", "--exif", exif, src.png, tagged)
    assert metadata_bytes(plain) == 0
    # The payload, plus its item entry.
    assert exif.stat().st_size <= metadata_bytes(tagged) <= exif.stat().st_size + 64


@needs("cwebp", "cjxl")
def test_webp_and_jpegxl_of_plain_pixels_carry_none_and_metadata_chunks_are_found(src, tmp_path):
    webp, jxl = tmp_path / "a.webp", tmp_path / "a.jxl"
    run("cwebp", "-quiet", "-q", "50", src.png, "-o", webp)
    run("cjxl", src.png, jxl, "-d", "2", "--quiet")
    assert metadata_bytes(webp) == 0 and metadata_bytes(jxl) == 0
    # The same WebP with an EXIF chunk (odd size: padded) and an XMP chunk appended.
    data = webp.read_bytes()
    extra = b"EXIF" + struct.pack("<I", 5) + b"abcde\0" + b"XMP " + struct.pack("<I", 4) + b"<x/>"
    body = data[8:] + extra
    tagged = tmp_path / "b.webp"
    tagged.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert metadata_bytes(tagged) == len(extra)


def test_a_file_that_is_not_what_its_suffix_says_is_refused(tmp_path):
    for suffix in (".jpg", ".j2k", ".webp", ".jxl", ".hevc"):
        bad = tmp_path / f"bad{suffix}"
        bad.write_bytes(b"not an image at all")
        with pytest.raises(MetadataError):
            metadata_bytes(bad)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(b"\xff\xd8\xff\xe0\x00")
    with pytest.raises(MetadataError):
        metadata_bytes(cut)
