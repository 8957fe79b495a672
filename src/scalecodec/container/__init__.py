"""The scalecodec container, bytes in and bytes out.

Pure Python on purpose: `scc info` and `scc truncate` import only this package,
so they start in milliseconds. It must never import torch or numpy.
"""

from . import fine
from .format import (
    Chunk,
    ChunkKind,
    ColourFormat,
    ContainerError,
    Header,
    Stream,
    TruncatedStream,
    complete,
    parse,
    serialize,
)
from .ops import cut_points, is_planes, select, spatial_layers, truncate

__all__ = [
    "fine", "Chunk", "ChunkKind", "ColourFormat", "ContainerError", "Header", "Stream",
    "TruncatedStream", "complete", "cut_points", "is_planes", "parse", "serialize", "select", "spatial_layers", "truncate",
]
