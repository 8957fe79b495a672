"""Bytes in a peer's file that are not image data, found in its own structure.

A benchmark compares coding, so what a tool adds by default and a user would
strip is not counted: JPEG APPn/COM segments (JFIF, EXIF, ICC), JPEG 2000 COM
segments, WebP EXIF/XMP/ICCP chunks, HEIF/AVIF Exif and XMP items and ICC
colour boxes, JPEG XL Exif/XMP/JUMBF boxes, and HEVC SEI NAL units (x265
writes its whole settings string in one unless given info=0). Each parser
walks the format's own boxes, segments or units; a file it cannot follow is
an error, never a guess.
"""

import struct
from pathlib import Path


class MetadataError(ValueError):
    """The file does not have the structure its suffix promises."""


def metadata_bytes(path: Path) -> int:
    data = Path(path).read_bytes()
    parser = PARSERS.get(Path(path).suffix.lower())
    if parser is None:
        return 0
    try:
        return parser(data)
    except (struct.error, IndexError) as err:
        raise MetadataError(f"{path}: truncated ({err})") from None


def _jpeg(d: bytes) -> int:
    if d[:2] != b"\xff\xd8":
        raise MetadataError("not a JPEG (no SOI)")
    found, i = 0, 2
    while i < len(d):
        if d[i] != 0xFF:
            raise MetadataError(f"JPEG: no marker at {i}")
        marker = d[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        length = struct.unpack(">H", d[i + 2 : i + 4])[0]
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # APPn, COM
            found += 2 + length
        i += 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next real marker
            while i < len(d) and not (d[i] == 0xFF and d[i + 1] not in (0x00, *range(0xD0, 0xD8))):
                i += 1
    return found


def _j2k(d: bytes) -> int:
    if d[:2] != b"\xff\x4f":
        raise MetadataError("not a JPEG 2000 codestream (no SOC)")
    found, i = 0, 2
    while i < len(d):
        marker = struct.unpack(">H", d[i : i + 2])[0]
        if marker == 0xFFD9:  # EOC
            break
        if marker == 0xFF90:  # SOT: a tile-part, Psot bytes long from here (0: to EOC)
            psot = struct.unpack(">I", d[i + 6 : i + 10])[0]
            j = i + 12
            while struct.unpack(">H", d[j : j + 2])[0] != 0xFF93:  # tile-part header up to SOD
                length = struct.unpack(">H", d[j + 2 : j + 4])[0]
                if d[j : j + 2] == b"\xff\x64":
                    found += 2 + length
                j += 2 + length
            if psot == 0:
                break
            i += psot
            continue
        length = struct.unpack(">H", d[i + 2 : i + 4])[0]
        if marker == 0xFF64:  # COM
            found += 2 + length
        i += 2 + length
    return found


def _webp(d: bytes) -> int:
    if d[:4] != b"RIFF" or d[8:12] != b"WEBP":
        raise MetadataError("not a WebP RIFF file")
    found, i = 0, 12
    while i + 8 <= len(d):
        size = struct.unpack("<I", d[i + 4 : i + 8])[0]
        padded = 8 + size + (size & 1)
        if d[i : i + 4] in (b"EXIF", b"XMP ", b"ICCP"):
            found += padded
        i += padded
    return found


def _boxes(d: bytes, start: int, end: int):
    """(type, box start, payload start, box end) of the ISO-BMFF boxes in d[start:end]."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", d[i : i + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", d[i + 8 : i + 16])[0], 16
        elif size == 0:
            size = end - i
        if size < head or i + size > end:
            raise MetadataError(f"box {kind!r} at {i} overruns its parent")
        yield kind, i, i + head, i + size
        i += size


def _heif_meta(d: bytes, start: int, end: int) -> int:
    """Exif/XMP items (their infe entries and data extents) and ICC colr boxes
    inside a HEIF 'meta' box's payload."""
    found, metadata_items, extents = 0, set(), {}
    for kind, b0, p, b1 in _boxes(d, start, end):
        if kind == b"iinf":
            version = d[p]
            first = p + 4 + (2 if version == 0 else 4)
            for k, e0, ep, e1 in _boxes(d, first, b1):
                if k != b"infe" or d[ep] < 2:
                    continue
                wide = d[ep] >= 3
                item_id = struct.unpack(">I" if wide else ">H", d[ep + 4 : ep + (8 if wide else 6)])[0]
                t = ep + (8 if wide else 6) + 2
                item_type = d[t : t + 4]
                if item_type == b"Exif" or (item_type == b"mime" and b"xmp" in d[t + 4 : e1].lower()):
                    metadata_items.add(item_id)
                    found += e1 - e0
        elif kind == b"iloc":
            extents = _iloc(d, p)
        elif kind == b"iprp":
            for k, _, cp, c1 in _boxes(d, p, b1):
                if k == b"ipco":
                    found += sum(q1 - q0 for kk, q0, qp, q1 in _boxes(d, cp, c1)
                                 if kk == b"colr" and d[qp : qp + 4] in (b"prof", b"rICC"))
    return found + sum(length for item in metadata_items for length in extents.get(item, ()))


def _iloc(d: bytes, p: int) -> dict:
    """item id -> extent lengths, from an 'iloc' payload."""
    version = d[p]
    i = p + 4
    offset_size, length_size = d[i] >> 4, d[i] & 15
    base_size, index_size = d[i + 1] >> 4, (d[i + 1] & 15) if version in (1, 2) else 0
    i += 2

    def read(n):
        nonlocal i
        v = int.from_bytes(d[i : i + n], "big") if n else 0
        i += n
        return v

    out = {}
    for _ in range(read(2 if version < 2 else 4)):
        item = read(2 if version < 2 else 4)
        if version in (1, 2):
            read(2)  # construction method
        read(2)  # data reference index
        read(base_size)
        lengths = []
        for _ in range(read(2)):
            read(index_size)
            read(offset_size)
            lengths.append(read(length_size))
        out[item] = lengths
    return out


def _heif(d: bytes) -> int:
    found = 0
    for kind, _, p, b1 in _boxes(d, 0, len(d)):
        if kind == b"meta":
            found += _heif_meta(d, p + 4, b1)  # a FullBox: version and flags first
    return found


_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"


def _jxl(d: bytes) -> int:
    if d[:2] == b"\xff\x0a":
        return 0  # a bare codestream has no room for metadata boxes
    if not d.startswith(_JXL_CONTAINER):
        raise MetadataError("not a JPEG XL codestream or container")
    found = 0
    for kind, b0, p, b1 in _boxes(d, 0, len(d)):
        inner = d[p : p + 4] if kind == b"brob" else kind  # Brotli-compressed box: its real type
        if inner in (b"Exif", b"xml ", b"jumb"):
            found += b1 - b0
    return found


def _hevc(d: bytes) -> int:
    """SEI NAL units (prefix 39, suffix 40) of an Annex B stream, start codes included."""
    starts, i = [], d.find(b"\x00\x00\x01")
    if i < 0:
        raise MetadataError("not an Annex B HEVC stream (no start code)")
    while i >= 0:
        lead = 1 if i > 0 and d[i - 1] == 0 else 0  # four-byte start code
        starts.append((i - lead, i + 3))
        i = d.find(b"\x00\x00\x01", i + 3)
    found = 0
    for n, (unit, payload) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(d)
        if (d[payload] >> 1) & 0x3F in (39, 40):
            found += end - unit
    return found


PARSERS = {".jpg": _jpeg, ".jpeg": _jpeg, ".j2k": _j2k, ".j2c": _j2k, ".webp": _webp,
           ".avif": _heif, ".heic": _heif, ".heif": _heif, ".jxl": _jxl, ".hevc": _hevc, ".265": _hevc}
