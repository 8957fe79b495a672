"""The container alone: bytes in, bytes out, no model involved."""

import random
import struct
import subprocess
import sys
import zlib

import pytest

from scalecodec import container
from scalecodec.container import Chunk, ChunkKind, ColourFormat, ContainerError, Header, Stream
from scalecodec.container.format import ENTRY_BYTES, HEADER_BYTES

MODEL_ID = bytes(range(16))


def layered_stream() -> Stream:
    """Base + two spatial layers (payloads are opaque here)."""
    chunks = [
        Chunk(ChunkKind.BASE, 0, 320, 240, b"B" * 500),
        Chunk(ChunkKind.SPATIAL, 1, 512, 384, b"S" * 700),
        Chunk(ChunkKind.SPATIAL, 2, 768, 576, b"T" * 900),
    ]
    return Stream(Header(MODEL_ID, 768, 576, ColourFormat.RGB, 8, 2.5, 320, 240), tuple(chunks))


def test_round_trip_preserves_everything():
    s = layered_stream()
    data = container.serialize(s)
    back = container.parse(data)
    assert back.header == s.header
    assert back.chunks == s.chunks
    assert container.serialize(back) == data


@pytest.mark.parametrize("limit", [0, 1, 500, 570, 600, 1300, 1500, 2200, 2300, 10**6])
def test_truncate_keeps_longest_valid_prefix(limit):
    s = layered_stream()
    full = container.serialize(s)
    sizes = [len(container.serialize(Stream(s.header, s.chunks[:k]))) for k in range(1, 4)]
    fitting = [k for k, size in zip(range(1, 4), sizes) if size <= limit]
    if not fitting:
        with pytest.raises(ContainerError, match="minimum is"):
            container.truncate(s, limit)
        return
    cut = container.serialize(container.truncate(s, limit))
    assert len(cut) <= limit and len(cut) <= len(full)
    back = container.parse(cut)
    assert back.chunks == s.chunks[: max(fitting)]
    assert not isinstance(back, container.TruncatedStream)


def test_select_by_layer():
    s = layered_stream()
    assert [c.payload[:1] for c in container.select(s, max_layer=0).chunks] == [b"B"]
    assert [c.payload[:1] for c in container.select(s, max_layer=1).chunks] == [b"B", b"S"]
    container.parse(container.serialize(container.select(s, max_layer=1)))


def test_cut_mid_chunk_keeps_complete_chunks():
    data = container.serialize(layered_stream())
    payload_start = HEADER_BYTES + 3 * ENTRY_BYTES + 4
    cut = data[: payload_start + 500 + 50]  # inside the first spatial layer
    back = container.parse(cut)
    assert isinstance(back, container.TruncatedStream)
    assert len(back.chunks) == 1
    assert len(back.missing) == 2 and "chunk 1" in back.missing[0]
    with pytest.raises(ContainerError, match="truncated"):
        container.parse(cut, allow_truncated=False)


def test_every_flipped_payload_byte_is_caught_and_named():
    s = layered_stream()
    data = bytearray(container.serialize(s))
    start = HEADER_BYTES + 3 * ENTRY_BYTES + 4
    bounds, pos = [], start
    for c in s.chunks:
        bounds.append((pos, pos + len(c.payload)))
        pos += len(c.payload)
    rng = random.Random(1)
    for index, (lo, hi) in enumerate(bounds):
        for at in rng.sample(range(lo, hi), 20):
            bad = bytearray(data)
            bad[at] ^= 1 << rng.randrange(8)
            with pytest.raises(ContainerError, match=f"chunk {index} .*corrupt"):
                container.parse(bytes(bad))


def test_every_flipped_header_byte_is_caught():
    data = container.serialize(layered_stream())
    start = HEADER_BYTES + 3 * ENTRY_BYTES + 4
    for at in range(start):
        bad = bytearray(data)
        bad[at] ^= 0x10
        with pytest.raises(ContainerError):
            container.parse(bytes(bad))


def _with_header_fields(**fields) -> bytes:
    """A stream whose header says what the test wants, with a valid CRC."""
    h = dict(magic=b"\x89SCC", major=1, minor=0, flags=0, model=MODEL_ID, w=64, h=64, colour=1,
             depth=8, q=256, bw=64, bh=64, n=0)
    h.update(fields)
    head = struct.pack("<4sBBH16sIIBBHIIH", *h.values())
    return head + struct.pack("<I", zlib.crc32(head))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (bytes(random.Random(0).randbytes(4000)), "magic"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "magic"),
        (_with_header_fields(major=2), "version 2.0 is not supported"),
        (_with_header_fields(w=10**6, h=10**6, bw=10**6, bh=10**6), "outside"),
        (_with_header_fields(w=60000, h=60000, bw=60000, bh=60000), "pixel limit"),
        (_with_header_fields(w=0), "outside"),
        (_with_header_fields(colour=9), "colour"),
        (_with_header_fields(depth=16), "bit depth"),
        (_with_header_fields()[:20], "truncated header"),
        (_with_header_fields(n=3), "chunk table is incomplete"),
        (_with_header_fields() + b"junk", "unexpected bytes"),
    ],
)
def test_bad_streams_are_refused_with_a_reason(data, message):
    with pytest.raises(ContainerError, match=message):
        container.parse(data)


def test_container_and_cli_import_neither_torch_nor_numpy():
    code = ("import sys, scalecodec.container, scalecodec.cli, scalecodec.container.info;"
            "bad = [m for m in ('torch', 'numpy', 'PIL') if m in sys.modules];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spec_states_the_sizes_the_code_writes():
    from pathlib import Path

    spec = (Path(__file__).parents[1] / "bitstream_spec.md").read_text()
    assert f"## 2. Header ({HEADER_BYTES} bytes)" in spec
    assert f"## 3. Chunk table entry ({ENTRY_BYTES} bytes each)" in spec
    assert f"{HEADER_BYTES + 4} + {ENTRY_BYTES}*chunk_count" in spec
