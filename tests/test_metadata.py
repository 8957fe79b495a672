"""Photos as people have them: ICC profile, EXIF and XMP kept through
encode, every kind of cut and decode; EXIF orientation applied; --strip; and
hostile metadata refused (bitstream_spec.md section 3.1)."""

import functools
import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

import scalecodec.pillow  # noqa: F401  (registers the format)
from conftest import PHOTO, scc
from fuzz import fix_crcs
from scalecodec import container
from scalecodec.api import decode_file, encode_file, truncate_file
from scalecodec.container.format import _ENTRY, _HEADER, ContainerError
from scalecodec.errors import UsageError

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>')
MAKE, DATE = 0x010F, 0x0132


@functools.cache
def icc_profile() -> bytes:
    # Made once: a profile records when it was made.
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def phone_jpeg(tmp_path_factory) -> bytes:
    """A JPEG as a phone writes it: sideways pixels with orientation 6, an
    ICC profile, EXIF (camera, date) and XMP."""
    exif = Image.Exif()
    exif[0x0112], exif[MAKE], exif[DATE] = 6, "TestCam", "2026:12:06 10:00:00"
    buf = io.BytesIO()
    Image.open(PHOTO).convert("RGB").save(buf, "JPEG", quality=95, exif=exif, icc_profile=icc_profile(), xmp=XMP)
    return buf.getvalue()


@pytest.fixture(scope="module")
def phone_stream(phone_jpeg) -> bytes:
    return encode_file(phone_jpeg, 4.0, device="cpu").stream


def _check_carried(png: bytes, size: tuple[int, int]):
    im = Image.open(io.BytesIO(png))
    assert im.size == size
    assert im.info["icc_profile"] == icc_profile()
    exif = im.getexif()
    assert (exif[MAKE], exif[DATE]) == ("TestCam", "2026:12:06 10:00:00")
    assert exif.get(0x0112, 1) == 1  # nothing left to turn it twice
    assert im.info["xmp"] == XMP


def test_a_phone_photo_decodes_upright_with_its_profile_exif_and_xmp(phone_jpeg, phone_stream, tmp_path):
    source = ImageOps.exif_transpose(Image.open(io.BytesIO(phone_jpeg)))
    (tmp_path / "in.jpg").write_bytes(phone_jpeg)
    r = scc("encode", tmp_path / "in.jpg", tmp_path / "p.scc", check=True)
    assert b"turned upright as its EXIF orientation (6) says" in r.stderr
    scc("decode", tmp_path / "p.scc", tmp_path / "p.png", check=True)
    png = (tmp_path / "p.png").read_bytes()
    _check_carried(png, (88, 120))
    decoded = np.asarray(Image.open(io.BytesIO(png)), dtype=float)
    mse = np.mean((decoded - np.asarray(source, dtype=float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 25  # the rotated photo, not the sideways one


def test_every_cut_keeps_the_metadata(phone_jpeg, phone_stream):
    whole = container.parse(phone_stream)
    assert [c.kind.name for c in whole.metadata] == ["ICC", "EXIF", "XMP"]
    spatial = encode_file(phone_jpeg, 4.0, device="cpu", scales=[1.0, 2.0]).stream
    fine = encode_file(phone_jpeg, 6.0, device="cpu", mode="fgs").stream
    cuts = [truncate_file(spatial, scale=1.0).stream,
            truncate_file(spatial, max_bytes=len(spatial) - 1).stream,
            truncate_file(fine, max_bytes=len(fine) * 2 // 3).stream]
    for cut in cuts:
        assert container.parse(cut).metadata == whole.metadata
        d = decode_file(cut)
        _check_carried(d.image, (d.width, d.height))
    # A budget that cannot hold the base layer and the metadata says what it needs.
    need = len(truncate_file(spatial, scale=1.0).stream)
    with pytest.raises(UsageError, match=f"the base layer and its metadata and alpha; the minimum is {need} bytes"):
        truncate_file(spatial, max_bytes=need - 1)


def test_strip_leaves_metadata_out_and_says_so(phone_jpeg, tmp_path):
    (tmp_path / "in.jpg").write_bytes(phone_jpeg)
    r = scc("encode", tmp_path / "in.jpg", tmp_path / "s.scc", "--strip", "exif,xmp", check=True)
    assert b"left out its EXIF, XMP (--strip)" in r.stderr
    assert [c.kind.name for c in container.parse((tmp_path / "s.scc").read_bytes()).metadata] == ["ICC"]
    scc("encode", tmp_path / "in.jpg", tmp_path / "a.scc", "--strip", "all", check=True)
    stripped = (tmp_path / "a.scc").read_bytes()
    assert container.parse(stripped).metadata == ()
    # Orientation is still applied: the pixels are upright either way.
    assert decode_file(stripped).pixels.shape[:2] == (120, 88)
    r = scc("encode", tmp_path / "in.jpg", tmp_path / "b.scc", "--strip", "gps")
    assert r.returncode == 2 and b"--strip" in r.stderr


def test_a_plain_photo_gets_no_metadata_bytes(stream):
    # The sample PNG has none: the stream is the image chunk alone.
    parsed = container.parse(stream)
    assert parsed.metadata == () and len(parsed.chunks) == 1


def test_info_lists_the_metadata_with_sizes(phone_stream, tmp_path):
    (tmp_path / "p.scc").write_bytes(phone_stream)
    import json

    d = json.loads(scc("info", tmp_path / "p.scc", "--json", check=True).stdout)
    assert d["metadata"] == {"icc": len(icc_profile()), "exif": d["metadata"]["exif"], "xmp": len(XMP)}
    assert [c["kind"] for c in d["chunks"]] == ["base", "icc", "exif", "xmp"]
    assert b"ICC profile" in scc("info", tmp_path / "p.scc", check=True).stdout


def test_formats_that_cannot_hold_metadata_say_so(phone_stream):
    d = decode_file(phone_stream, fmt="PPM")
    assert any("cannot hold its ICC profile, EXIF, XMP" in n for n in d.notes)
    tiff = Image.open(io.BytesIO(decode_file(phone_stream, fmt="TIFF").image))
    assert tiff.info["icc_profile"] == icc_profile() and tiff.getexif()[MAKE] == "TestCam"
    assert tiff.info["xmp"] == XMP


def test_the_pillow_plugin_reads_and_writes_metadata_through_info(phone_stream, tmp_path):
    im = Image.open(io.BytesIO(phone_stream))
    assert im.info["icc_profile"] == icc_profile() and im.info["xmp"] == XMP
    assert im.getexif()[MAKE] == "TestCam"
    im.load()
    im.save(tmp_path / "again.scc", quality=3)
    again = Image.open(tmp_path / "again.scc")
    assert again.info["icc_profile"] == icc_profile() and again.getexif()[MAKE] == "TestCam"
    im.save(tmp_path / "other.scc", xmp=b"<x:xmpmeta/>", strip=("icc",))
    other = Image.open(tmp_path / "other.scc")
    assert "icc_profile" not in other.info and other.info["xmp"] == b"<x:xmpmeta/>"


def _patched(data: bytes, index: int, **fields) -> bytes:
    """data with chunk table entry index changed, its CRCs made right."""
    out = bytearray(data)
    at = _HEADER.size + index * _ENTRY.size
    names = ("kind", "layer", "flags", "a", "b", "length", "crc")
    entry = dict(zip(names, _ENTRY.unpack_from(out, at)))
    entry.update(fields)
    _ENTRY.pack_into(out, at, *(entry[n] for n in names))
    return fix_crcs(bytes(out))


@pytest.mark.parametrize("case, message", [
    ("huge-icc", "claims 4294967280 bytes, over the 16777216-byte limit"),
    ("exif-not-tiff", "EXIF chunk is not a TIFF structure"),
    ("icc-size-wrong", "is not an ICC profile"),
    ("metadata-out-of-place", "out of place: metadata and alpha chunks follow chunk 0"),
    ("metadata-in-1.2", "unknown kind 4"),
])
def test_hostile_metadata_is_an_invalid_stream(phone_stream, tmp_path, case, message):
    data = phone_stream
    icc_at = len(data) - sum(len(c.payload) for c in container.parse(data).metadata)
    if case == "huge-icc":
        data = _patched(data, 1, length=0xFFFFFFF0)
    elif case == "exif-not-tiff":
        exif_at = icc_at + len(icc_profile())
        data = fix_crcs(data[:exif_at] + b"XX" + data[exif_at + 2:])
    elif case == "icc-size-wrong":
        data = fix_crcs(data[:icc_at] + b"\xff" + data[icc_at + 1:])
    elif case == "metadata-out-of-place":
        # The ICC profile before the base layer.
        s = container.parse(data)
        data = _swap_first_two(container.serialize(container.Stream(s.header, s.chunks, metadata=s.metadata[:1])))
    elif case == "metadata-in-1.2":
        data = bytearray(data)
        data[5] = 2
        data = _patched(bytes(data), 1)
    with pytest.raises(ContainerError, match=message):
        container.parse(data)
    (tmp_path / "bad.scc").write_bytes(data)
    for args in (("info",), ("decode",), ("truncate", "--bytes", "100000")):
        out = {"info": (), "decode": (tmp_path / "o.png",), "truncate": (tmp_path / "o.scc",)}[args[0]]
        r = scc(*args[:1], tmp_path / "bad.scc", *out, *args[1:])
        assert r.returncode == 4, (args, r.stderr)


def _swap_first_two(data: bytes) -> bytes:
    """The stream with its first two chunks (entries and payloads) swapped."""
    count = _HEADER.unpack_from(data)[-1]
    start = _HEADER.size + count * _ENTRY.size + 4
    e0 = _ENTRY.unpack_from(data, _HEADER.size)
    e1 = _ENTRY.unpack_from(data, _HEADER.size + _ENTRY.size)
    p0, p1 = data[start:start + e0[5]], data[start + e0[5]:start + e0[5] + e1[5]]
    out = bytearray(data[:start] + p1 + p0 + data[start + e0[5] + e1[5]:])
    _ENTRY.pack_into(out, _HEADER.size, *e1)
    _ENTRY.pack_into(out, _HEADER.size + _ENTRY.size, *e0)
    return fix_crcs(bytes(out))


def test_an_alpha_chunk_of_the_wrong_size_or_too_long_is_refused(tmp_path):
    from scalecodec.codecs import alpha

    rgba = np.dstack([np.asarray(Image.open(PHOTO).convert("RGB")), np.full((88, 120), 7, np.uint8)])
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG")
    data = encode_file(buf.getvalue(), 4.0, device="cpu").stream
    s = container.parse(data)
    wrong = container.Chunk(container.ChunkKind.ALPHA, 0, 0, 0, alpha.encode(np.zeros((10, 10), np.uint8)))
    (tmp_path / "wrong.scc").write_bytes(container.serialize(container.Stream(s.header, s.chunks, alpha=wrong)))
    r = scc("decode", tmp_path / "wrong.scc", tmp_path / "o.png")
    assert r.returncode == 4 and b"alpha chunk is 10x10, the image 120x88" in r.stderr
    # An escaped residual (the table covers 0..255, so an encoder never needs one) is invalid.
    from scalecodec.entropy import encode_symbols

    payload = wrong.payload
    head = payload[:10 + 3 * int.from_bytes(payload[8:10], "little")]
    residuals = np.zeros(120 * 88, np.int64)
    residuals[5] = 300
    escaping = container.Chunk(container.ChunkKind.ALPHA, 0, 0, 0, (120).to_bytes(4, "little")
                               + (88).to_bytes(4, "little") + head[8:]
                               + encode_symbols(residuals, np.zeros_like(residuals), alpha._table(_counts(head))))
    (tmp_path / "esc.scc").write_bytes(container.serialize(container.Stream(s.header, s.chunks, alpha=escaping)))
    r = scc("decode", tmp_path / "esc.scc", tmp_path / "o.png")
    assert r.returncode == 4 and b"escapes a value" in r.stderr
    long = _patched(data, 1, length=1 << 30)
    with pytest.raises(ContainerError, match="alpha channel.*over the"):
        container.parse(long)


def _counts(head: bytes) -> np.ndarray:
    """The table an ALPHA payload's head lists (bitstream_spec.md 3.2)."""
    counts = np.ones(257, np.int32)
    for i in range(int.from_bytes(head[8:10], "little")):
        counts[head[10 + 3 * i]] = int.from_bytes(head[11 + 3 * i:13 + 3 * i], "little")
    return counts


def test_a_profile_for_other_pixels_is_left_out_with_a_note():
    # As a CMYK photo's profile would misdescribe the RGB pixels scc codes, a
    # profile of any colour space but the pixels' is left out.
    lab_png = io.BytesIO()
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    Image.open(PHOTO).convert("RGB").save(lab_png, "PNG", icc_profile=lab)
    result = encode_file(lab_png.getvalue(), 4.0, device="cpu")
    assert container.parse(result.stream).metadata == ()
    assert any("left out its ICC profile: a Lab profile" in n for n in result.notes)
    grey = io.BytesIO()
    Image.open(PHOTO).convert("L").save(grey, "PNG", icc_profile=icc_profile())  # an RGB profile on grey
    assert container.parse(encode_file(grey.getvalue(), 4.0, device="cpu").stream).metadata == ()
