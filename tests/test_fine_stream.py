"""Fine-grained streams (trit-planes) end to end: one encode, every cut
decodes, quality never falls as bytes grow, the whole stream is the
single-layer image, truncation without the model, and damage."""

import io
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTO, scc
from scalecodec import container
from scalecodec.container import fine
from scalecodec.container.format import VERSION_MAJOR, VERSION_MINOR
from scalecodec.codecs.encoder import SHIFT
from scalecodec.eval.metrics import psnr


@pytest.fixture(scope="module")
def fgs_model() -> str:
    from scalecodec.model.file import default_model_path

    return str(default_model_path("fine"))


@pytest.fixture(scope="module")
def fgs_encoder(fgs_model):
    from scalecodec.api import open_encoder

    return open_encoder(fgs_model, "cpu")


@pytest.fixture(scope="module")
def fgs_stream(fgs_encoder, photo) -> bytes:
    return fgs_encoder.encode(photo, 8.0, planes=True)


@pytest.fixture(scope="module")
def fgs_decoder(fgs_model):
    from scalecodec.api import open_decoder

    return open_decoder(fgs_model)


def segments_of(data: bytes) -> fine.FinePayload:
    payload, declared, why = fine.unpack(container.parse(data).chunks[0].payload)
    assert why is None and declared == len(payload.segments)
    return payload


def cut_at_segments(data: bytes, k: int) -> bytes:
    stream = container.parse(data)
    payload = segments_of(data).cut(k)
    return container.serialize(container.Stream(stream.header, (replace(stream.chunks[0], payload=fine.pack(payload)),)))


def with_shift(data: bytes, shift: int) -> bytes:
    """data with its chunk in planes carrying reconstruction shift `shift`."""
    stream = container.parse(data)
    return container.serialize(replace(stream, chunks=(replace(stream.chunks[0], flags=shift),)))


def segments_end(data: bytes, k: int) -> int:
    """Offset in data just after its segment k-1 (segments 0..k-1 complete)."""
    return len(data) - sum(map(len, segments_of(data).segments[k:]))


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_file_round_trip_and_info(tmp_path, photo, fgs_stream, fgs_decoder):
    out = tmp_path / "photo.scc"
    scc("encode", PHOTO, out, "--mode", "fgs", "-q", "8", check=True)
    assert out.read_bytes() == fgs_stream
    info = scc("info", out, check=True).stdout.decode()
    payload = segments_of(fgs_stream)
    assert "fine-grained base layer (120x88)" in info and f"v{VERSION_MAJOR}.{VERSION_MINOR}" in info
    assert (f"{len(payload.segments)} of {len(payload.segments)} usable ({sum(payload.trits)} trits, "
            f"reconstruction shift {SHIFT[container.ChunkKind.FINE]})") in info
    png = tmp_path / "photo.png"
    scc("decode", out, png, check=True)
    decoded = png_pixels(png.read_bytes())
    assert np.array_equal(decoded, fgs_decoder.decode(fgs_stream).pixels)
    assert psnr(photo, decoded) > 30


def test_the_whole_stream_is_the_single_layer_image(photo, fgs_encoder, fgs_stream, fgs_decoder):
    single = fgs_encoder.encode(photo, 8.0)
    assert np.array_equal(fgs_decoder.decode(fgs_stream).pixels, fgs_decoder.decode(single).pixels)
    # The planes cost what the symbols cost; the segment table (about 1%
    # on a Kodak image, more on this tiny one) is the overhead.
    payload = segments_of(fgs_stream)
    table = len(fine.pack(payload)) - len(payload.z_stream) - len(payload.head) - sum(map(len, payload.segments))
    assert len(fgs_stream) - table < 1.01 * len(single)


def test_every_segment_cut_decodes_and_quality_never_falls(photo, fgs_stream, fgs_decoder):
    payload = segments_of(fgs_stream)
    assert len(payload.segments) >= 20 and payload.trits[0] == 0 and min(payload.trits[1:]) > 0
    full = fgs_decoder.decode(fgs_stream).pixels
    scores, sizes = [], []
    for k in range(1, len(payload.segments) + 1):
        cut = cut_at_segments(fgs_stream, k)
        decoded = fgs_decoder.decode(cut)
        assert decoded.warnings == []
        scores.append(psnr(photo, decoded.pixels))
        sizes.append(len(cut))
    assert np.array_equal(decoded.pixels, full)
    assert sizes == sorted(sizes) and sizes[-1] == len(fgs_stream)
    falls = [(k, a, b) for k, (a, b) in enumerate(zip(scores, scores[1:]), 2) if b < a]
    assert not falls, f"PSNR falls when segment k is added: {falls}"
    assert scores[-1] - scores[len(scores) // 2] < 3 and scores[-1] - scores[0] > 10


def test_a_cut_refines_no_more_elements_than_it_has_trits(fgs_stream, fgs_decoder):
    """Each trit narrows one element; an element whose trit lies past the cut
    (mid-plane: issue 17's reference decoder caught this) stays as it was."""
    from scalecodec.codecs.decoder import fine_decode

    payload = segments_of(fgs_stream)
    before = None
    for k in range(1, len(payload.segments) + 1):
        chunk = container.parse(cut_at_segments(fgs_stream, k)).chunks[0]
        y = fine_decode(fgs_decoder.model, chunk, [])
        if before is not None:
            assert 0 < int((y != before).sum()) <= payload.trits[k - 1], k
        before = y


def test_the_reconstruction_shift_moves_partly_known_elements_outward_and_no_others(fgs_stream, fgs_decoder):
    """Section 8.5: under a wider table a block's estimate lies further from
    the mean (beside the mean a narrow table holds more of a block's mass near
    its inner edge); a block around the mean stays about it; an element known
    exactly, and so the whole stream, decodes the same whatever the shift
    (the reference decoder checks the rule itself, tests/test_reference_entropy.py)."""
    from scalecodec.codecs import layout
    from scalecodec.codecs.decoder import _hyper, fine_decode

    chunk = container.parse(fgs_stream).chunks[0]
    assert chunk.flags == SHIFT[container.ChunkKind.FINE] > 0
    model = fgs_decoder.model
    _, z_shape = layout.latent_shapes(chunk.a, chunk.b, model.m, model.z_channels)
    mean, _ = model.hyper_synthesis.parameters(_hyper(model, segments_of(fgs_stream).z_stream, z_shape))
    moved = 0
    n = len(segments_of(fgs_stream).segments)
    for k in (3, n // 2, 3 * n // 4):
        cut = cut_at_segments(fgs_stream, k)
        narrow = fine_decode(model, container.parse(with_shift(cut, 0)).chunks[0], []) - mean
        wide = fine_decode(model, container.parse(cut).chunks[0], []) - mean
        assert np.all(np.abs(wide) >= np.abs(narrow) - 1)  # 1/256: each is rounded
        moved += int((np.abs(wide) > np.abs(narrow) + 8).sum())  # by more than 1/32 of a step
    assert moved > 100
    for shift in (0, 3, 255):
        assert np.array_equal(fgs_decoder.decode(with_shift(fgs_stream, shift)).pixels,
                              fgs_decoder.decode(fgs_stream).pixels)


def test_truncate_bytes_writes_the_largest_valid_stream(tmp_path, fgs_stream):
    src = tmp_path / "photo.scc"
    src.write_bytes(fgs_stream)
    sizes = [len(cut_at_segments(fgs_stream, k)) for k in range(1, len(segments_of(fgs_stream).segments) + 1)]
    for budget in (sizes[0], sizes[0] + 1, sizes[3] - 1, sizes[len(sizes) // 2], len(fgs_stream) - 1,
                   len(fgs_stream) + 100):
        out = tmp_path / f"cut{budget}.scc"
        scc("truncate", src, out, "--bytes", budget, check=True)
        data = out.read_bytes()
        assert len(data) == max(s for s in sizes if s <= budget)
        assert container.parse(data).chunks[0].intact
        assert container.parse(data).chunks[0].flags == SHIFT[container.ChunkKind.FINE]  # the cut keeps its shift
        png = tmp_path / f"cut{budget}.png"
        result = scc("decode", out, png, check=True)
        assert b"warning" not in result.stderr


def test_truncate_below_the_basic_part_says_the_minimum(tmp_path, fgs_stream):
    src = tmp_path / "photo.scc"
    src.write_bytes(fgs_stream)
    minimum = len(cut_at_segments(fgs_stream, 1))
    result = scc("truncate", src, tmp_path / "x.scc", "--bytes", minimum - 1)
    assert result.returncode == 2
    assert f"the minimum is {minimum} bytes" in result.stderr.decode()
    assert not (tmp_path / "x.scc").exists()


def test_truncate_needs_neither_torch_nor_numpy(tmp_path, fgs_stream):
    src = tmp_path / "photo.scc"
    src.write_bytes(fgs_stream)
    code = ("import sys; from scalecodec.cli import main\n"
            f"sys.argv = ['scc', 'truncate', {str(src)!r}, {str(tmp_path / 'o.scc')!r}, '--bytes', '2000']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_a_file_cut_at_any_byte_decodes_its_complete_segments(fgs_stream, fgs_decoder):
    payload = segments_of(fgs_stream)
    basic_end = segments_end(fgs_stream, 1)
    for n in (basic_end, basic_end + 5, (basic_end + len(fgs_stream)) // 2, len(fgs_stream) - 1):
        decoded = fgs_decoder.decode(fgs_stream[:n])
        kept = max(k for k in range(1, len(payload.segments) + 1) if segments_end(fgs_stream, k) <= n)
        assert np.array_equal(decoded.pixels, fgs_decoder.decode(cut_at_segments(fgs_stream, kept)).pixels)
        assert any("stops early" in w for w in decoded.warnings)


def test_a_file_cut_inside_the_basic_part_is_refused(tmp_path, fgs_stream):
    cut = tmp_path / "cut.scc"
    cut.write_bytes(fgs_stream[: segments_end(fgs_stream, 1) - 3])
    result = scc("decode", cut, tmp_path / "x.png")
    assert result.returncode == 4
    assert "basic part" in result.stderr.decode()


def test_a_corrupt_scalable_segment_gives_the_prefix_before_it(tmp_path, fgs_stream, fgs_decoder):
    k = 10
    start = segments_end(fgs_stream, k)  # segment k begins here
    damaged = bytearray(fgs_stream)
    damaged[start + 1] ^= 0x40
    src = tmp_path / "damaged.scc"
    src.write_bytes(bytes(damaged))
    png = tmp_path / "damaged.png"
    result = scc("decode", src, png, check=True)
    assert f"scalable segment {k} is corrupt" in result.stderr.decode()
    expected = fgs_decoder.decode(cut_at_segments(fgs_stream, k)).pixels
    assert np.array_equal(png_pixels(png.read_bytes()), expected)


def test_a_corrupt_basic_part_is_an_error(tmp_path, fgs_stream):
    stream = container.parse(fgs_stream)
    payload = segments_of(fgs_stream)
    table = len(fine.pack(payload)) - len(payload.z_stream) - len(payload.head) - sum(map(len, payload.segments))
    damaged = bytearray(fgs_stream)
    damaged[len(fgs_stream) - len(stream.chunks[0].payload) + table + 2] ^= 1  # inside z
    src = tmp_path / "damaged.scc"
    src.write_bytes(bytes(damaged))
    result = scc("decode", src, tmp_path / "x.png")
    assert result.returncode == 4
    assert "basic part is corrupt" in result.stderr.decode()


def test_segments_waste_least_or_are_one_percent_and_the_table_is_small(fgs_stream):
    from scalecodec.entropy.planes import ENTRY_BYTES, MAX_LEAST_WORDS

    payload = segments_of(fgs_stream)
    sizes = [len(s) for s in payload.segments[1:-1]]
    total = sum(map(len, payload.segments))
    # sqrt(2 e N) bytes, at most 256 or 1%; the run notes the encoder cuts
    # at make most segments a little shorter.
    longest = max(0.01 * total, min((2 * ENTRY_BYTES * total) ** 0.5, 4 * MAX_LEAST_WORDS))
    assert max(sizes) <= longest and sum(sizes) / len(sizes) >= 0.6 * longest, (sizes, longest)
    table = len(fine.pack(payload)) - len(payload.z_stream) - len(payload.head) - total
    assert table <= 16 + 8 * len(payload.segments)


def test_an_old_channel_segment_stream_is_refused_with_what_to_do(tmp_path):
    old = PHOTO.parent.parent / "vectors" / "1.3" / "fgs-q6.scc"
    for cmd in (("decode", old, tmp_path / "o.png"), ("truncate", old, tmp_path / "o.scc", "--bytes", 2000),
                ("info", old)):
        r = scc(*cmd)
        assert r.returncode == 4 and "encode the image again with --mode fgs" in r.stderr.decode(), cmd


def test_random_budgets_and_random_file_cuts_decode_as_their_segments(fgs_stream, fgs_decoder):
    from scalecodec.api import truncate_file

    payload = segments_of(fgs_stream)
    sizes = [len(cut_at_segments(fgs_stream, k)) for k in range(1, len(payload.segments) + 1)]
    rng = np.random.default_rng(28)
    for budget in rng.integers(sizes[0], len(fgs_stream), 6):
        cut = truncate_file(fgs_stream, max_bytes=int(budget)).stream
        k = max(k for k, n in enumerate(sizes, 1) if n <= budget)
        assert cut == cut_at_segments(fgs_stream, k)
    for n in rng.integers(segments_end(fgs_stream, 1), len(fgs_stream), 6):
        kept = max(k for k in range(1, len(payload.segments) + 1) if segments_end(fgs_stream, k) <= n)
        got = fgs_decoder.decode(fgs_stream[:n])
        assert np.array_equal(got.pixels, fgs_decoder.decode(cut_at_segments(fgs_stream, kept)).pixels)
