"""The Pillow plugin: .scc files open, draft, reduce and save as any image does."""

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import scalecodec.pillow  # noqa: F401  (registers the format)
from conftest import PHOTO
from scalecodec import container
from scalecodec.api import decode_file, encode_file


@pytest.fixture(scope="module")
def spatial_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("pil") / "layers.scc"
    p.write_bytes(encode_file(PHOTO.read_bytes(), 4.0, device="cpu", scales=[1.0, 2.0]).stream)
    return p


def test_open_reads_the_header_only_and_load_decodes_the_same_pixels(stream_file, tmp_path):
    im = Image.open(stream_file)
    assert (im.format, im.mode, im.size) == ("SCC", "RGB", (120, 88))
    assert np.array_equal(np.asarray(im), decode_file(stream_file.read_bytes()).pixels)
    # Opening needs no model; decoding does, and says which is missing.
    stream = container.parse(stream_file.read_bytes())
    other = tmp_path / "other-model.scc"
    other.write_bytes(container.serialize(dataclasses.replace(
        stream, header=dataclasses.replace(stream.header, model_id=bytes(16)))))
    im = Image.open(other)
    assert im.size == (120, 88)
    with pytest.raises(OSError, match="not installed"):
        im.load()


def test_save_encodes_and_options_reach_the_encoder(tmp_path, photo):
    out = tmp_path / "saved.scc"
    Image.fromarray(photo).save(out, quality=5)
    assert Image.open(out).info["quality"] == 5
    assert out.read_bytes() == encode_file(PHOTO.read_bytes(), 5.0, device="cpu").stream
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="SCC", scales=[1.0, 2.0], quality=2)
    assert Image.open(io.BytesIO(buf.getvalue())).info["layers"] == [(60, 44), (120, 88)]
    grey = tmp_path / "grey.scc"
    Image.fromarray(photo).convert("L").save(grey)
    assert Image.open(grey).mode == "L" and np.asarray(Image.open(grey)).shape == (88, 120)


def test_draft_and_thumbnail_decode_only_the_layer_they_need(spatial_file):
    im = Image.open(spatial_file)
    assert im.draft("RGB", (50, 40)) is not None and im.size == (60, 44)
    base = decode_file(spatial_file.read_bytes(), scale=1.0).pixels
    assert np.array_equal(np.asarray(im), base)  # the base layer, exactly
    thumb = Image.open(spatial_file)
    thumb.thumbnail((50, 50))
    assert max(thumb.size) == 50
    reduced = Image.open(spatial_file)
    reduced.reduce = 1
    assert reduced.load() is not None and reduced.size == (60, 44)
    assert np.array_equal(np.asarray(reduced), base)
    # As a method, reduce still works on a loaded image.
    assert Image.open(spatial_file).reduce(2).size == (60, 44)


def test_errors_are_the_ones_pillow_users_expect(tmp_path, photo, stream_file):
    bad = tmp_path / "bad.scc"
    bad.write_bytes(b"\x89SCC" + b"\0" * 10)
    with pytest.raises(UnidentifiedImageError):
        Image.open(bad)
    broken = tmp_path / "broken.scc"
    data = bytearray(stream_file.read_bytes())
    data[-20] ^= 0xFF
    broken.write_bytes(bytes(data))
    with pytest.raises(OSError):
        Image.open(broken).load()
    with pytest.raises(ValueError, match="quality"):
        Image.fromarray(photo).save(tmp_path / "q.scc", quality=99)
    with pytest.raises(ValueError, match="--strip"):
        Image.fromarray(photo).save(tmp_path / "s.scc", strip="gps")


def test_alpha_round_trips_through_the_plugin(tmp_path):
    im = Image.new("RGBA", (40, 30), (200, 120, 40, 255))
    im.putalpha(Image.linear_gradient("L").resize((40, 30)))
    im.save(tmp_path / "a.scc")
    back = Image.open(tmp_path / "a.scc")
    assert back.mode == "RGBA"
    assert np.array_equal(np.asarray(back)[:, :, 3], np.asarray(im)[:, :, 3])
