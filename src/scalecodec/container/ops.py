"""Operations on streams that need no model: selection and truncation."""

from .format import (
    ENTRY_BYTES,
    HEADER_BYTES,
    ChunkKind,
    ContainerError,
    Stream,
    with_chunks,
)

_CRC_BYTES = 4


def select(stream: Stream, max_layer: int | None = None, max_fine_groups: int | None = None) -> Stream:
    """Keep the chunks a receiver needs for spatial layers <= max_layer and at
    most max_fine_groups fine-grained groups per layer."""
    kept, groups = [], {}
    for c in stream.chunks:
        if max_layer is not None and c.layer > max_layer:
            continue
        if c.kind == ChunkKind.FINE:
            groups[c.layer] = groups.get(c.layer, 0) + 1
            if max_fine_groups is not None and groups[c.layer] > max_fine_groups:
                continue
        kept.append(c)
    if not kept or kept[0].kind != ChunkKind.BASE:
        raise ContainerError("selection keeps no base layer")
    return with_chunks(stream, kept)


def size_with(n_chunks: int, payload_bytes: int) -> int:
    return HEADER_BYTES + n_chunks * ENTRY_BYTES + _CRC_BYTES + payload_bytes


def truncate(stream: Stream, max_bytes: int) -> Stream:
    """The longest prefix of whole chunks whose serialized size is <= max_bytes."""
    total, keep = 0, 0
    for c in stream.chunks:
        if size_with(keep + 1, total + len(c.payload)) > max_bytes:
            break
        total += len(c.payload)
        keep += 1
    if keep == 0:
        need = size_with(1, len(stream.chunks[0].payload)) if stream.chunks else size_with(0, 0)
        raise ContainerError(f"{max_bytes} bytes cannot hold the base layer; the minimum is {need} bytes")
    return with_chunks(stream, stream.chunks[:keep])


def spatial_layers(stream: Stream) -> list[tuple[int, int]]:
    """(width, height) of the stream's complete spatial layers, base first,
    checked against the header and each other."""
    header, layers = stream.header, []
    for c in stream.chunks:
        if c.kind == ChunkKind.FINE:
            continue
        if c.layer != len(layers) or (c.kind == ChunkKind.BASE) != (c.layer == 0):
            raise ContainerError(f"chunk {c.label} is out of order")
        if layers and not (c.a >= layers[-1][0] and c.b >= layers[-1][1] and (c.a, c.b) != layers[-1]):
            raise ContainerError(f"{c.label} is not larger than the layer below it")
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
