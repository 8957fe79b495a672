"""Container format v1: header, chunk table and chunk payloads.

bitstream_spec.md is normative; this module implements it byte for byte.
"""

import enum
import struct
import zlib
from dataclasses import dataclass, field, replace

MAGIC = b"\x89SCC"
VERSION_MAJOR = 1
VERSION_MINOR = 7  # 1.1 SPATIAL, 1.2 channel-segment fine-grained, 1.3 metadata and alpha, 1.4 trit-plane FINE,
# 1.5 BASE chunks coded by a model's context model, 1.6 a reconstruction shift in FINE chunks' flags,
# 1.7 FINE_PREFIX: a layer in planes coded over a prefix of the layer below
MODEL_ID_BYTES = 16
MAX_SIDE = 65535
MAX_PIXELS = 1 << 28
MAX_CHUNKS = 4096
# A spatial layer is at most this many times the layer below per side (plus
# the 2 pixels that rounding each size from the top can add): LIFF predicts
# no further, and a decoder checks it before decoding anything.
MAX_LAYER_STEP = 4
# A metadata chunk's largest payload, checked from the chunk table before
# anything is read: real ICC profiles and EXIF blocks are kilobytes.
MAX_METADATA_BYTES = 1 << 24

# magic, major, minor, flags, model id, width, height, colour, bit depth,
# quality (8.8 fixed point), base width, base height, chunk count
_HEADER = struct.Struct("<4sBBH16sIIBBHIIH")
_ENTRY = struct.Struct("<BBHIIII")  # kind, layer, flags, a, b, length, crc32
_CRC = struct.Struct("<I")
HEADER_BYTES = _HEADER.size
ENTRY_BYTES = _ENTRY.size


class ContainerError(ValueError):
    """The bytes are not a valid scalecodec stream; the message says why."""


class ChunkKind(enum.IntEnum):
    BASE = 1  # the base layer: a whole image at the base resolution
    SPATIAL = 2  # an enhancement layer at a larger resolution (a, b = width, height)
    # 1.2's fine-grained image in channel segments: retired in 1.4, refused
    # with a note to encode again (its model is no longer shipped).
    CHANNELS = 3
    ICC = 4  # the image's ICC colour profile
    EXIF = 5  # its EXIF block (a TIFF structure), orientation applied
    XMP = 6  # its XMP packet (UTF-8)
    ALPHA = 7  # its alpha channel, lossless (payload: scalecodec.codecs.alpha)
    FINE = 8  # the base layer in trit-planes, cut at any segment (a, b = width, height)
    FINE_SPATIAL = 9  # an enhancement layer in trit-planes (a, b = width, height)
    # An enhancement layer in trit-planes coded over the first segments of
    # the layer below (how many: its flags, fine.coded_over), so that the
    # layer below can be whole for its own receivers and short for this one's.
    FINE_PREFIX = 10


METADATA_KINDS = (ChunkKind.ICC, ChunkKind.EXIF, ChunkKind.XMP)
# The minor version that defined each side kind and FINE: in an earlier
# stream it is an unknown kind.
_SINCE = {ChunkKind.ICC: 3, ChunkKind.EXIF: 3, ChunkKind.XMP: 3,
          ChunkKind.ALPHA: 3, ChunkKind.FINE: 4, ChunkKind.FINE_SPATIAL: 4, ChunkKind.FINE_PREFIX: 7}
# Image chunks coded in trit-planes (section 8): a cut one is still a layer.
PLANE_KINDS = (ChunkKind.FINE, ChunkKind.FINE_SPATIAL, ChunkKind.FINE_PREFIX)
# Side chunks follow chunk 0 and every cut keeps them whole (section 3.1).
SIDE_KINDS = (*METADATA_KINDS, ChunkKind.ALPHA)
_SIDE_LABELS = {ChunkKind.ICC: "ICC profile", ChunkKind.EXIF: "EXIF", ChunkKind.XMP: "XMP",
                ChunkKind.ALPHA: "alpha channel"}
# An ALPHA payload's bound from the header alone: its table and, per pixel,
# at most 16 bits of range-coder words (a symbol costs at most 16 bits).
_ALPHA_FIXED_BYTES = 10 + 3 * 256 + 8


class ColourFormat(enum.IntEnum):
    RGB = 1
    GRAY = 2  # coded as RGB with equal channels; decoded back to one channel


@dataclass(frozen=True)
class Header:
    model_id: bytes
    width: int
    height: int
    colour: ColourFormat = ColourFormat.RGB
    bit_depth: int = 8
    quality: float = 0.0
    base_width: int = 0
    base_height: int = 0
    flags: int = 0
    # The version minor a stream declares: kept when a stream is rewritten
    # (a cut 1.1 stream stays 1.1); new streams are this version's.
    minor: int = VERSION_MINOR

    def __post_init__(self):
        if self.base_width == 0 and self.base_height == 0:
            object.__setattr__(self, "base_width", self.width)
            object.__setattr__(self, "base_height", self.height)


@dataclass(frozen=True)
class Chunk:
    kind: ChunkKind
    layer: int
    a: int
    b: int
    payload: bytes
    flags: int = 0
    # False for a chunk in planes cut short or failing its CRC32: its own
    # segment checksums then say how much of it can be used.
    intact: bool = True

    @property
    def label(self) -> str:
        if self.kind == ChunkKind.BASE:
            return f"base layer ({self.a}x{self.b})"
        if self.kind == ChunkKind.SPATIAL:
            return f"spatial layer {self.layer} ({self.a}x{self.b})"
        if self.kind == ChunkKind.FINE:
            return f"fine-grained base layer ({self.a}x{self.b})"
        if self.kind in (ChunkKind.FINE_SPATIAL, ChunkKind.FINE_PREFIX):
            return f"fine-grained spatial layer {self.layer} ({self.a}x{self.b})"
        if self.kind == ChunkKind.CHANNELS:
            return f"fine-grained image in channel segments ({self.a}x{self.b})"
        return _SIDE_LABELS[self.kind]


@dataclass(frozen=True)
class Skipped:
    """A chunk of a kind defined by a later minor version: checked and
    passed over (section 2), never decoded."""
    index: int  # in the chunk table
    kind: int
    length: int


@dataclass(frozen=True)
class Stream:
    """chunks are the image's (chunk 0 first); the side chunks (metadata,
    alpha) are kept apart, since every stream made from this one keeps them
    whole: in the bytes they follow chunk 0 (section 3.1)."""
    header: Header
    chunks: tuple[Chunk, ...] = field(default_factory=tuple)
    skipped: tuple[Skipped, ...] = ()
    metadata: tuple[Chunk, ...] = ()
    alpha: Chunk | None = None

    @property
    def side(self) -> tuple[Chunk, ...]:
        """The side chunks in stream order."""
        return (*self.metadata, *((self.alpha,) if self.alpha else ()))


@dataclass(frozen=True)
class TruncatedStream(Stream):
    """A stream whose last chunks were cut off (e.g. an interrupted download).

    `missing` names the chunks that the table declares but the bytes lack.
    """

    missing: tuple[str, ...] = ()


def _validate_geometry(w: int, h: int, what: str) -> None:
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise ContainerError(f"{what} {w}x{h} is outside 1..{MAX_SIDE} per side")
    if w * h > MAX_PIXELS:
        raise ContainerError(f"{what} {w}x{h} exceeds the {MAX_PIXELS}-pixel limit")


def check_metadata(chunk: Chunk) -> None:
    """The rules of section 3.1 for one side chunk (its kind known)."""
    p, what = chunk.payload, chunk.label
    if chunk.layer or chunk.a or chunk.b or chunk.flags:
        raise ContainerError(f"{what} chunk: layer, flags, a and b must be 0")
    if chunk.kind == ChunkKind.ICC and (len(p) < 128 or int.from_bytes(p[:4], "big") != len(p)):
        raise ContainerError(f"{what} chunk is not an ICC profile (its size field must equal its length, 128 or more)")
    if chunk.kind == ChunkKind.EXIF and (len(p) < 8 or p[:4] not in (b"II*\x00", b"MM\x00*")):
        raise ContainerError(f"{what} chunk is not a TIFF structure")
    if chunk.kind == ChunkKind.XMP:
        try:
            p.decode("utf-8")
        except UnicodeDecodeError:
            raise ContainerError(f"{what} chunk is not UTF-8") from None


def _check_side_order(side) -> None:
    kinds = [c.kind for c in side]
    if kinds != sorted(set(kinds)):
        raise ContainerError("side chunks (metadata, alpha) must be of different kinds, in increasing kind order")


def _side_limit(kind: ChunkKind, header: Header) -> int:
    if kind == ChunkKind.ALPHA:
        return _ALPHA_FIXED_BYTES + 2 * header.width * header.height
    return MAX_METADATA_BYTES


def serialize(stream: Stream) -> bytes:
    h = stream.header
    _validate_geometry(h.width, h.height, "image")
    _validate_geometry(h.base_width, h.base_height, "base layer")
    if len(h.model_id) != MODEL_ID_BYTES:
        raise ContainerError(f"model id must be {MODEL_ID_BYTES} bytes")
    side = stream.side
    if side and not stream.chunks:
        raise ContainerError("side chunks follow chunk 0: a stream with metadata or alpha needs an image chunk")
    _check_side_order(side)
    for c in side:
        if len(c.payload) > _side_limit(c.kind, h):
            raise ContainerError(f"{c.label} is over {_side_limit(c.kind, h)} bytes")
        check_metadata(c)
    # Side chunks follow chunk 0 (section 3.1).
    ordered = (*stream.chunks[:1], *side, *stream.chunks[1:])
    if len(ordered) > MAX_CHUNKS:
        raise ContainerError(f"at most {MAX_CHUNKS} chunks")
    quality = round(h.quality * 256)
    if not 0 <= quality <= 0xFFFF:
        raise ContainerError(f"quality {h.quality} does not fit 8.8 fixed point")
    parts = [
        _HEADER.pack(
            MAGIC, VERSION_MAJOR, h.minor, h.flags, h.model_id, h.width, h.height,
            int(h.colour), h.bit_depth, quality, h.base_width, h.base_height, len(ordered),
        )
    ]
    for c in ordered:
        parts.append(
            _ENTRY.pack(int(c.kind), c.layer, c.flags, c.a, c.b, len(c.payload), zlib.crc32(c.payload))
        )
    head = b"".join(parts)
    return head + _CRC.pack(zlib.crc32(head)) + b"".join(c.payload for c in ordered)


def parse(data: bytes, allow_truncated: bool = True) -> Stream:
    """Parse and validate a stream.

    Raises ContainerError for anything that is not a valid stream. A stream
    whose chunk payloads end early is returned as a TruncatedStream holding its
    complete chunks, and a FINE chunk cut short or damaged is returned with
    intact False, unless allow_truncated is False.
    """
    data = memoryview(data)
    if len(data) == 0:
        raise ContainerError("empty input: not a scalecodec stream")
    if len(data) < 4 or bytes(data[:4]) != MAGIC:
        raise ContainerError("not a scalecodec stream (bad magic bytes)")
    if len(data) < 6:
        raise ContainerError("truncated header")
    major, minor = data[4], data[5]
    if major != VERSION_MAJOR:
        raise ContainerError(
            f"stream format version {major}.{minor} is not supported "
            f"(this scc reads version {VERSION_MAJOR}.x)"
        )
    if len(data) < HEADER_BYTES:
        raise ContainerError("truncated header")
    (_, _, _, flags, model_id, w, h, colour, depth, quality, bw, bh, count) = _HEADER.unpack_from(data)
    table_end = HEADER_BYTES + count * ENTRY_BYTES
    if count > MAX_CHUNKS:
        raise ContainerError(f"chunk count {count} exceeds {MAX_CHUNKS}")
    if len(data) < table_end + _CRC.size:
        raise ContainerError("truncated header: the chunk table is incomplete")
    (crc,) = _CRC.unpack_from(data, table_end)
    if zlib.crc32(data[:table_end]) != crc:
        raise ContainerError("header or chunk table is corrupt (CRC mismatch)")
    _validate_geometry(w, h, "image")
    _validate_geometry(bw, bh, "base layer")
    try:
        colour = ColourFormat(colour)
    except ValueError:
        raise ContainerError(f"unknown colour format {colour}") from None
    if depth != 8:
        raise ContainerError(f"unsupported bit depth {depth}")
    header = Header(bytes(model_id), w, h, colour, depth, quality / 256, bw, bh, flags, minor)

    chunks, missing, skipped, side = [], [], [], []
    missing_after = None
    pos = table_end + _CRC.size
    for i in range(count):
        kind, layer, cflags, a, b, length, ccrc = _ENTRY.unpack_from(data, HEADER_BYTES + i * ENTRY_BYTES)
        try:
            kind = ChunkKind(kind)
            if minor < _SINCE.get(kind, 0):
                raise ValueError
        except ValueError:
            if minor <= VERSION_MINOR:
                raise ContainerError(f"chunk {i} has unknown kind {kind}") from None
            # A kind a later minor version defines: checked, then passed over.
            payload = bytes(data[pos : pos + length])
            if missing or len(payload) < length:
                missing.append(f"chunk {i}: kind {kind}")
                pos += length
                continue
            if zlib.crc32(payload) != ccrc:
                raise ContainerError(f"chunk {i} (kind {kind}) is corrupt (CRC mismatch)")
            skipped.append(Skipped(i, kind, length))
            pos += length
            continue
        if kind in SIDE_KINDS:
            # Checked from the table, before anything is read (section 3.1).
            if i != 1 + len(side):
                raise ContainerError(f"chunk {i} ({_SIDE_LABELS[kind]}) is out of place: "
                                     "metadata and alpha chunks follow chunk 0")
            if length > _side_limit(kind, header):
                raise ContainerError(f"chunk {i} ({_SIDE_LABELS[kind]}) claims {length} bytes, "
                                     f"over the {_side_limit(kind, header)}-byte limit")
        payload = bytes(data[pos : pos + length])
        chunk = Chunk(kind, layer, a, b, payload, cflags)
        if kind in SIDE_KINDS:
            side.append(chunk)
            _check_side_order(side)
            if missing or len(payload) < length:
                missing.append(f"chunk {i}: {chunk.label}")
                side.pop()
                pos += length
                continue
            if zlib.crc32(payload) != ccrc:
                raise ContainerError(f"chunk {i} ({chunk.label}) is corrupt (CRC mismatch)")
            check_metadata(chunk)
            pos += length
            continue
        if kind in PLANE_KINDS and not missing and (len(payload) < length or zlib.crc32(payload) != ccrc):
            # Its segment checksums say how much of it can be used (8.6);
            # a caller that wants only whole streams gets none of it. The
            # layers above it were coded over the whole of it: missing.
            what = "cut short" if len(payload) < length else "damaged (CRC mismatch)"
            if not allow_truncated:
                raise ContainerError(f"chunk {i} ({chunk.label}) is {what}")
            chunks.append(replace(chunk, intact=False))
            missing_after = f"above chunk {i}, which is {what}"
            pos += len(payload)
            continue
        if missing_after:
            missing.append(f"chunk {i}: {chunk.label} ({missing_after})")
            pos += length
            continue
        if len(payload) < length:
            missing.append(f"chunk {i}: {chunk.label}")
            pos += length
            continue
        if missing:
            missing.append(f"chunk {i}: {chunk.label}")
            continue
        if zlib.crc32(payload) != ccrc:
            raise ContainerError(f"chunk {i} ({chunk.label}) is corrupt (CRC mismatch)")
        chunks.append(chunk)
        pos += length
    if missing:
        if not allow_truncated:
            raise ContainerError(f"stream is truncated: missing {', '.join(missing)}")
        return TruncatedStream(header, tuple(chunks), tuple(skipped), *_split_side(side), tuple(missing))
    if pos != len(data):
        raise ContainerError(f"{len(data) - pos} unexpected bytes after the last chunk")
    return Stream(header, tuple(chunks), tuple(skipped), *_split_side(side))


def _split_side(side: list[Chunk]) -> tuple[tuple[Chunk, ...], Chunk | None]:
    """(metadata chunks, the alpha chunk or None)."""
    alpha = [c for c in side if c.kind == ChunkKind.ALPHA]
    return tuple(c for c in side if c.kind != ChunkKind.ALPHA), (alpha[0] if alpha else None)


def complete(stream: Stream) -> Stream:
    """The stream restricted to its complete chunks, as a valid stream."""
    if isinstance(stream, TruncatedStream):
        return Stream(stream.header, stream.chunks, stream.skipped, stream.metadata, stream.alpha)
    return stream


def with_chunks(stream: Stream, chunks) -> Stream:
    return replace(complete(stream), chunks=tuple(chunks))
