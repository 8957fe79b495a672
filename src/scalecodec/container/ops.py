"""Operations on streams that need no model: selection and truncation."""

from dataclasses import replace

from . import fine
from .format import (
    ENTRY_BYTES,
    HEADER_BYTES,
    MAX_LAYER_STEP,
    PLANE_KINDS,
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
    """Keep the chunks a receiver needs for spatial layers <= max_layer:
    each layer below it as far as the layer above was coded over it."""
    kept = [c for c in stream.chunks if c.layer <= max_layer]
    if not kept or kept[0].kind not in (ChunkKind.BASE, ChunkKind.FINE):
        raise ContainerError("selection keeps no base layer")
    return with_chunks(stream, [*below(stream, kept[-1].layer), kept[-1]])


def below(stream: Stream, layer: int) -> list[Chunk]:
    """The chunks of the layers below `layer` as decoding it needs them:
    whole, or cut to the segments the layer above each was coded over."""
    chunks = list(stream.chunks[:layer])
    for k, c in enumerate(chunks):
        over = fine.coded_over(stream.chunks[k + 1])
        if over is not None:
            payload, _, _ = fine.unpack(c.payload)
            if len(payload.segments) > over:
                chunks[k] = replace(c, payload=fine.pack(payload.cut(over)), intact=True)
    return chunks


def size_with(stream: Stream, n_chunks: int, payload_bytes: int) -> int:
    """Bytes of the stream with n_chunks image chunks of payload_bytes in
    all, and its side chunks (metadata, alpha), which every cut keeps whole."""
    side = sum(len(c.payload) for c in stream.side)
    return HEADER_BYTES + (n_chunks + len(stream.side)) * ENTRY_BYTES + _CRC_BYTES + payload_bytes + side


def truncate(stream: Stream, max_bytes: int) -> Stream:
    """The best valid stream of at most max_bytes cut from this one: the
    whole stream if it fits, else the highest layer a cut can reach (the
    layers below it as `below` keeps them), as many of its segments as fit
    if it is in planes, else whole; the side chunks (metadata, alpha) always
    stay."""
    spatial_layers(stream)  # never write a stream that breaks the layer rules
    if all(c.intact for c in stream.chunks) and \
            size_with(stream, len(stream.chunks), sum(len(c.payload) for c in stream.chunks)) <= max_bytes:
        return stream
    for layer in reversed(range(len(stream.chunks))):
        chunks, c = below(stream, layer), stream.chunks[layer]
        total = sum(len(k.payload) for k in chunks)
        if c.kind not in PLANE_KINDS:
            if size_with(stream, layer + 1, total + len(c.payload)) <= max_bytes:
                return with_chunks(stream, [*chunks, c])
            continue
        payload, _, _ = fine.unpack(c.payload)

        def size(segments: int) -> int:
            return size_with(stream, layer + 1, total + fine.packed_size(payload, segments))

        if size(1) <= max_bytes:
            lo, hi = 1, len(payload.segments)  # size() grows with the segments kept
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if size(mid) <= max_bytes else (lo, mid - 1)
            return with_chunks(stream, [*chunks, replace(c, payload=fine.pack(payload.cut(lo)), intact=True)])
    first = stream.chunks[0]
    need = size_with(stream, 1, minimum_payload(first))
    what = ("the basic part of the base layer" if first.kind in PLANE_KINDS else "the base layer") \
        + (" and its metadata and alpha" if stream.side else "")
    raise BudgetError(f"{max_bytes} bytes cannot hold {what}; the minimum is {need} bytes")


def minimum_payload(chunk: Chunk) -> int:
    """The fewest payload bytes a cut can keep of a chunk: its basic part
    for a chunk in planes, else all of it."""
    if chunk.kind not in PLANE_KINDS:
        return len(chunk.payload)
    return fine.packed_size(fine.unpack(chunk.payload)[0], 1)


def cut_points(chunk: Chunk) -> list[int]:
    """The payload sizes a chunk in planes can be cut to (one per segment
    count, the whole last), or its one size."""
    if chunk.kind not in PLANE_KINDS:
        return [len(chunk.payload)]
    payload = fine.unpack(chunk.payload)[0]
    return [fine.packed_size(payload, k) for k in range(1, len(payload.segments) + 1)]


def cut_sizes(stream: Stream, layer: int) -> list[int]:
    """The stream sizes a cut at layer can have: the layers below it as
    `below` keeps them, then each size its chunk can be cut to."""
    lower = sum(len(c.payload) for c in below(stream, layer))
    return [size_with(stream, layer + 1, lower + p) for p in cut_points(stream.chunks[layer])]


def is_planes(stream: Stream) -> bool:
    """Whether the stream's layers are coded in trit-planes (fine-grained)."""
    return bool(stream.chunks) and stream.chunks[0].kind in PLANE_KINDS


def spatial_layers(stream: Stream) -> list[tuple[int, int]]:
    """(width, height) of the stream's spatial layers, base first, checked
    against the header and each other: BASE then SPATIAL chunks, or FINE
    then FINE_SPATIAL or FINE_PREFIX chunks (in planes; only the last may
    be cut short, and the layer below a FINE_PREFIX chunk holds at least the
    segments it was coded over)."""
    header, layers = stream.header, []
    if any(c.kind == ChunkKind.CHANNELS for c in stream.chunks):
        raise ContainerError(RETIRED)
    planes = is_planes(stream)
    base_kind, layer_kinds = ((ChunkKind.FINE, (ChunkKind.FINE_SPATIAL, ChunkKind.FINE_PREFIX)) if planes
                              else (ChunkKind.BASE, (ChunkKind.SPATIAL,)))
    for c in stream.chunks:
        if c.layer != len(layers) or (c.kind != base_kind if c.layer == 0 else c.kind not in layer_kinds):
            raise ContainerError(f"chunk {c.label} is out of order")
        if layers and not stream.chunks[len(layers) - 1].intact:
            raise ContainerError(f"{c.label} follows a layer that is cut")
        over = fine.coded_over(c)
        if over is not None and len(fine.unpack(stream.chunks[len(layers) - 1].payload)[0].segments) < over:
            raise ContainerError(f"{c.label} is coded over {over} segments of the layer below, "
                                 "which holds fewer")
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
