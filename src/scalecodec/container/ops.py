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
