"""Minor versions (bitstream_spec.md section 2): a stream keeps the minor it
declares when rewritten, and a v1 decoder decodes the chunk kinds it knows in
a later minor version, passing over the others."""

import struct
import zlib

import numpy as np
import pytest

from conftest import scc
from scalecodec import container
from scalecodec.api import decode_file
from scalecodec.container.format import ENTRY_BYTES, HEADER_BYTES, VERSION_MINOR
from scalecodec.container.info import describe


def with_minor(data: bytes, minor: int, extra_kind: int | None = None, extra: bytes = b"") -> bytes:
    """data relabelled minor, with a chunk of extra_kind appended, CRCs right."""
    count = struct.unpack_from("<H", data, HEADER_BYTES - 2)[0]
    table_end = HEADER_BYTES + count * ENTRY_BYTES
    head, body = bytearray(data[:table_end]), data[table_end + 4:]
    head[5] = minor
    if extra_kind is not None:
        struct.pack_into("<H", head, HEADER_BYTES - 2, count + 1)
        head += struct.pack("<BBHIIII", extra_kind, 0, 0, 0, 0, len(extra), zlib.crc32(extra))
        body += extra
    return bytes(head) + struct.pack("<I", zlib.crc32(bytes(head))) + body


def test_a_rewritten_stream_keeps_its_minor_version(stream):
    old = with_minor(stream, 0)
    assert container.serialize(container.parse(old)) == old
    assert describe(old)["format_version"] == "1.0"
    assert container.serialize(container.parse(stream))[5] == VERSION_MINOR


def test_a_later_minor_version_decodes_the_kinds_it_knows(stream, tmp_path):
    later = with_minor(stream, VERSION_MINOR + 1, extra_kind=200, extra=b"future payload")
    parsed = container.parse(later)
    assert [k.kind for k in parsed.skipped] == [200] and len(parsed.chunks) == 1
    d = decode_file(later)
    assert np.array_equal(d.pixels, decode_file(stream).pixels)
    assert any("skipped 1 chunk" in n for n in d.notes)
    info = describe(later)
    assert info["chunks"][-1]["kind"] == "unknown (200)" and info["chunks"][-1]["bytes"] == 14
    path = tmp_path / "later.scc"
    path.write_bytes(later)
    r = scc("decode", path, tmp_path / "later.png")
    assert r.returncode == 0 and b"skipped" in r.stderr


def test_an_unknown_kind_in_this_version_or_a_damaged_one_is_refused(stream):
    with pytest.raises(container.ContainerError, match="unknown kind"):
        container.parse(with_minor(stream, VERSION_MINOR, extra_kind=200, extra=b"x"))
    damaged = bytearray(with_minor(stream, VERSION_MINOR + 1, extra_kind=200, extra=b"future"))
    damaged[-1] ^= 1
    with pytest.raises(container.ContainerError, match="corrupt"):
        container.parse(bytes(damaged))
