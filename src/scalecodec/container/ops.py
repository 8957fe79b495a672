"""Operations on streams that need no model: selection and truncation."""

from dataclasses import replace

from . import fine
from .format import (
    ENTRY_BYTES,
    HEADER_BYTES,
    MAX_LAYER_STEP,
    Chunk,
    ChunkKind,
    ContainerError,
    Stream,
    with_chunks,
)

_CRC_BYTES = 4
RETIRED = ("this is a fine-grained stream of format 1.2/1.3 (channel segments), which scc no longer "
           "decodes since 1.4: encode the image again with --mode fgs (trit-planes: smaller, and better "
           "at every cut)")


class BudgetError(ContainerError):
    """A valid stream that cannot be cut to the size asked for."""


def select(stream: Stream, max_layer: int) -> Stream:
    """Keep the chunks a receiver needs for spatial layers <= max_layer."""
    kept = [c for c in stream.chunks if c.layer <= max_layer]
    if not kept or kept[0].kind != ChunkKind.BASE:
        raise ContainerError("selection keeps no base layer")
    return with_chunks(stream, kept)


def size_with(stream: Stream, n_chunks: int, payload_bytes: int) -> int:
    """Bytes of the stream with n_chunks image chunks of payload_bytes in
    all, and its side chunks (metadata, alpha), which every cut keeps whole."""
    side = sum(len(c.payload) for c in stream.side)
    return HEADER_BYTES + (n_chunks + len(stream.side)) * ENTRY_BYTES + _CRC_BYTES + payload_bytes + side


def truncate(stream: Stream, max_bytes: int) -> Stream:
    """The largest valid stream of at most max_bytes that is a prefix of this
    one: whole chunks, or for a fine-grained stream whole segments; the
    side chunks (metadata, alpha) always stay."""
    if fine_chunk(stream) is not None:
        return _truncate_fine(stream, max_bytes)
    total, keep = 0, 0
    for c in stream.chunks:
        if size_with(stream, keep + 1, total + len(c.payload)) > max_bytes:
            break
        total += len(c.payload)
        keep += 1
    if keep == 0:
        need = size_with(stream, 1, len(stream.chunks[0].payload)) if stream.chunks else size_with(stream, 0, 0)
        what = "the base layer and its metadata and alpha" if stream.side else "the base layer"
        raise BudgetError(f"{max_bytes} bytes cannot hold {what}; the minimum is {need} bytes")
    return with_chunks(stream, stream.chunks[:keep])


def _truncate_fine(stream: Stream, max_bytes: int) -> Stream:
    chunk = fine_chunk(stream)
    payload, _, _ = fine.unpack(chunk.payload)

    def size(segments: int) -> int:
        return size_with(stream, 1, fine.packed_size(payload, segments))

    if size(1) > max_bytes:
        what = " and its metadata and alpha" if stream.side else ""
        raise BudgetError(f"{max_bytes} bytes cannot hold the basic part of this fine-grained "
                          f"stream{what}; the minimum is {size(1)} bytes")
    lo, hi = 1, len(payload.segments)  # size() grows with the segments kept
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if size(mid) <= max_bytes else (lo, mid - 1)
    return with_chunks(stream, [replace(chunk, payload=fine.pack(payload.cut(lo)), intact=True)])


def fine_chunk(stream: Stream) -> Chunk | None:
    """The FINE chunk of a fine-grained stream (its only chunk), or None for a
    layered stream. A stream of the retired kind is refused here, so that
    decode, truncate and info all say what to do."""
    if any(c.kind == ChunkKind.CHANNELS for c in stream.chunks):
        raise ContainerError(RETIRED)
    fines = [c for c in stream.chunks if c.kind == ChunkKind.FINE]
    if not fines:
        return None
    h, c = stream.header, fines[0]
    if len(stream.chunks) != 1 or c.layer != 0 or (c.a, c.b) != (h.width, h.height) \
            or (h.base_width, h.base_height) != (h.width, h.height):
        raise ContainerError("a fine-grained stream holds exactly one FINE chunk at the image's size")
    return c


def spatial_layers(stream: Stream) -> list[tuple[int, int]]:
    """(width, height) of the stream's complete spatial layers, base first,
    checked against the header and each other."""
    header, layers = stream.header, []
    for c in stream.chunks:
        if c.kind == ChunkKind.FINE:
            raise ContainerError("this is a fine-grained stream: it has no spatial layers")
        if c.layer != len(layers) or (c.kind == ChunkKind.BASE) != (c.layer == 0):
            raise ContainerError(f"chunk {c.label} is out of order")
        if layers and not (c.a >= layers[-1][0] and c.b >= layers[-1][1] and (c.a, c.b) != layers[-1]):
            raise ContainerError(f"{c.label} is not larger than the layer below it")
        if layers and (c.a > MAX_LAYER_STEP * layers[-1][0] + 2 or c.b > MAX_LAYER_STEP * layers[-1][1] + 2):
            raise ContainerError(f"{c.label} is more than {MAX_LAYER_STEP}x the layer below it "
                                 f"({layers[-1][0]}x{layers[-1][1]})")
        layers.append((c.a, c.b))
    if not layers:
        raise ContainerError("no complete base layer chunk: nothing can be decoded")
    if layers[0] != (header.base_width, header.base_height):
        raise ContainerError("the base layer's size differs from the header's")
    # A stream cut by select() or truncate() lacks its upper layers; none
    # may exceed the image's own size.
    if layers[-1][0] > header.width or layers[-1][1] > header.height:
        raise ContainerError("a layer is larger than the image")
    return layers
