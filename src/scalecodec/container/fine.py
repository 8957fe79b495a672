"""The FINE payload (bitstream_spec.md section 8): a basic part, then
segments of trit-planes, cut anywhere at a segment boundary.

Pure Python like the rest of the container: `scc truncate --bytes` cuts a
fine-grained stream without numpy, torch or the model.
"""

import binascii
import struct
from dataclasses import dataclass, replace

from .format import ChunkKind, ContainerError

# prior checksum, z stream bytes, head bytes, segment count
_FIXED = struct.Struct("<IIIH")
_CRC16 = struct.Struct("<H")
WORD_BYTES = 4
MAX_SEGMENTS = 0xFFFF
# From 1.6 the low byte of a chunk in planes' flags is the reconstruction
# shift (section 8.5); 0 in earlier streams. From 1.7 a FINE_PREFIX chunk's
# high byte is how many segments of the layer below it is coded over.
SHIFT_MASK = 0xFF
MAX_PREFIX = 0xFF


def reconstruction_flags(shift: int, over: int | None = None) -> int:
    """A chunk in planes' flags: its reconstruction shift and, for
    FINE_PREFIX, the segments of the layer below it is coded over."""
    if not 0 <= shift <= SHIFT_MASK:
        raise ContainerError(f"a reconstruction shift is 0..{SHIFT_MASK}, got {shift}")
    if over is not None and not 1 <= over <= MAX_PREFIX:
        raise ContainerError(f"a layer is coded over 1..{MAX_PREFIX} segments of the layer below, got {over}")
    return shift | (over or 0) << 8


def coded_over(chunk) -> int | None:
    """How many segments of the layer below chunk was coded over (section
    8): a FINE_PREFIX chunk's flags say; None for the whole layer below."""
    if chunk.kind != ChunkKind.FINE_PREFIX:
        return None
    over = chunk.flags >> 8
    if over < 1:
        raise ContainerError(f"{chunk.label} is coded over no segment of the layer below")
    return over


def reconstruction_shift(flags: int) -> int:
    """How many scales wider than an element's own table its partly known
    value is estimated under (bitstream_spec.md 8.5)."""
    return flags & SHIFT_MASK


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM (binascii.crc_hqx, initial value 0)."""
    return binascii.crc_hqx(data, 0)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise ContainerError("fine-grained segment table is malformed")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


@dataclass(frozen=True)
class FinePayload:
    prior_checksum: int
    z_stream: bytes
    head: bytes  # the escape count and the escaped values
    segments: tuple[bytes, ...]  # range-coder words; segment 0 codes the escape flags
    trits: tuple[int, ...]  # the trits each segment completes (0 for segment 0)

    def cut(self, segments: int) -> "FinePayload":
        return replace(self, segments=self.segments[:segments], trits=self.trits[:segments])


def _table(fp: FinePayload) -> bytes:
    fixed = _FIXED.pack(fp.prior_checksum, len(fp.z_stream), len(fp.head), len(fp.segments))
    # Segment 0's checksum also covers the z stream and the head: the basic
    # part is trusted as a whole.
    first = fp.z_stream + fp.head + fp.segments[0]
    entries = b"".join(_varint(len(s) // WORD_BYTES) + _varint(n) + _CRC16.pack(crc16(first if i == 0 else s))
                       for i, (s, n) in enumerate(zip(fp.segments, fp.trits)))
    body = fixed + entries
    return body + _CRC16.pack(crc16(body))


def pack(fp: FinePayload) -> bytes:
    if not fp.segments or len(fp.segments) > MAX_SEGMENTS or len(fp.trits) != len(fp.segments):
        raise ContainerError(f"a fine-grained payload has 1 to {MAX_SEGMENTS} segments, each with its trit count")
    if any(len(s) % WORD_BYTES for s in fp.segments):
        raise ContainerError("fine-grained segments are whole 32-bit words")
    return _table(fp) + fp.z_stream + fp.head + b"".join(fp.segments)


def packed_size(fp: FinePayload, segments: int) -> int:
    return len(pack(fp.cut(segments)))


def unpack(payload: bytes) -> tuple[FinePayload, int, str | None]:
    """Parse a FINE payload that may be cut short or damaged after its basic part.

    Returns the payload restricted to its complete segments whose checksums
    hold, the number of segments its table declares, and why it stops early
    (None when it is whole). A missing or damaged basic part is an error.
    """
    data = memoryview(payload)
    if len(data) < _FIXED.size:
        raise ContainerError("fine-grained chunk is cut inside its table: nothing can be decoded")
    crc, z_len, head_len, count = _FIXED.unpack_from(data)
    if count < 1:
        raise ContainerError("fine-grained chunk declares no basic part")
    pos, sizes, trits, crcs = _FIXED.size, [], [], []
    for _ in range(count):
        words, pos = _read_varint(data, pos)
        n, pos = _read_varint(data, pos)
        trits.append(n)
        if pos + _CRC16.size > len(data):
            raise ContainerError("fine-grained chunk is cut inside its table: nothing can be decoded")
        sizes.append(words * WORD_BYTES)
        crcs.append(_CRC16.unpack_from(data, pos)[0])
        pos += _CRC16.size
    if pos + _CRC16.size > len(data):
        raise ContainerError("fine-grained chunk is cut inside its table: nothing can be decoded")
    if crc16(data[:pos]) != _CRC16.unpack_from(data, pos)[0]:
        raise ContainerError("fine-grained segment table is corrupt (CRC mismatch)")
    pos += _CRC16.size
    z_end = pos + z_len
    head_end = z_end + head_len
    if head_end + sizes[0] > len(data):
        raise ContainerError("fine-grained chunk is cut inside its basic part: nothing can be decoded")
    z_stream, head = bytes(data[pos:z_end]), bytes(data[z_end:head_end])
    segments, why, pos = [], None, head_end
    for i, (size, expected) in enumerate(zip(sizes, crcs)):
        if pos + size > len(data):
            why = f"cut inside scalable segment {i}"
            break
        segment = bytes(data[pos : pos + size])
        if crc16(z_stream + head + segment if i == 0 else segment) != expected:
            if i == 0:
                raise ContainerError("fine-grained basic part is corrupt (CRC mismatch)")
            why = f"scalable segment {i} is corrupt (CRC mismatch)"
            break
        segments.append(segment)
        pos += size
    if why is None and pos != len(data):
        raise ContainerError(f"{len(data) - pos} unexpected bytes after the last fine-grained segment")
    return FinePayload(crc, z_stream, head, tuple(segments), tuple(trits[: len(segments)])), count, why
