"""What `scc info` reports about a stream; container only, no torch."""

from . import fine
from .format import ENTRY_BYTES, HEADER_BYTES, SIDE_KINDS, parse
from .format import PLANE_KINDS
from .ops import cut_sizes, spatial_layers


def describe(data: bytes) -> dict:
    """What `scc info` shows; a stream that breaks the layer rules of
    bitstream_spec.md section 3 is refused (ContainerError naming the rule),
    as decode and truncate refuse it. A file cut inside its first chunk is
    described with what it lacks."""
    stream = parse(data)
    if stream.chunks:
        spatial_layers(stream)
    h = stream.header
    known_chunks = (*stream.chunks[:1], *stream.side, *stream.chunks[1:])  # in file order
    entries = len(known_chunks) + len(stream.skipped) + len(getattr(stream, "missing", ()))
    table = HEADER_BYTES + ENTRY_BYTES * entries + 4
    chunks, known = [], iter(known_chunks)
    skipped = {k.index: k for k in stream.skipped}
    offset = table
    for i in range(len(known_chunks) + len(stream.skipped)):
        if i in skipped:  # a kind of a later minor version, passed over
            chunks.append({"kind": f"unknown ({skipped[i].kind})", "offset": offset, "bytes": skipped[i].length,
                           "label": "skipped: defined by a later minor version"})
            offset += skipped[i].length
            continue
        c = next(known)
        entry = {"kind": c.kind.name.lower(), "layer": c.layer, "label": c.label,
                 "offset": offset, "bytes": len(c.payload)}
        if c.kind not in SIDE_KINDS:
            entry["scale"] = round(c.a / h.base_width, 4)  # relative to the base layer, as --scale takes it
        if c.kind in PLANE_KINDS:
            payload, declared, why = fine.unpack(c.payload)
            # The stream sizes this layer can be cut to, with the layers below it as it needs them.
            cuts = cut_sizes(stream, c.layer)
            entry.update(segments=len(payload.segments), segments_declared=declared,
                         trits=sum(payload.trits), damage=why, cut_points=cuts,
                         reconstruction_shift=fine.reconstruction_shift(c.flags),
                         coded_over=fine.coded_over(c))
        chunks.append(entry)
        offset += len(c.payload)
    return {
        "format_version": f"1.{h.minor}",
        "model_id": h.model_id.hex(),
        "width": h.width,
        "height": h.height,
        "colour": h.colour.name.lower(),
        "bit_depth": h.bit_depth,
        "quality": h.quality,
        "base_width": h.base_width,
        "base_height": h.base_height,
        "bytes": len(data),
        "bpp": round(8 * len(data) / (h.width * h.height), 4),
        "header_bytes": table,
        "chunks": chunks,
        "metadata": {c.kind.name.lower(): len(c.payload) for c in stream.metadata},
        "alpha_bytes": len(stream.alpha.payload) if stream.alpha else None,
        "truncated": list(getattr(stream, "missing", [])),
    }


def format_text(d: dict) -> str:
    lines = [
        f"scalecodec stream v{d['format_version']}, {d['bytes']} bytes ({d['bpp']} bpp)",
        f"  image      {d['width']}x{d['height']} {d['colour']}, {d['bit_depth']} bits",
        f"  base layer {d['base_width']}x{d['base_height']}, quality {d['quality']:g}",
        f"  model      {d['model_id']}",
        f"  header     {d['header_bytes']} bytes",
    ]
    if d["metadata"]:
        names = {"icc": "ICC profile", "exif": "EXIF", "xmp": "XMP"}
        lines.append("  metadata   " + ", ".join(f"{names[k]} {v} bytes" for k, v in d["metadata"].items()))
    if d["alpha_bytes"] is not None:
        lines.append(f"  alpha      {d['alpha_bytes']} bytes (lossless)")
    for i, c in enumerate(d["chunks"]):
        scale = f", scale {c['scale']:g}" if c.get("layer") and "scale" in c else ""
        lines.append(f"  chunk {i}    {c['label']}{scale}: {c['bytes']} bytes at offset {c['offset']}")
        if "segments" in c:
            cuts = c["cut_points"]
            lines.append(f"  segments   {c['segments']} of {c['segments_declared']} usable "
                         f"({c['trits']} trits, reconstruction shift {c['reconstruction_shift']}); "
                         f"cut to {len(cuts)} sizes, {cuts[0]} to {cuts[-1]} bytes (--json lists them)")
            if c.get("coded_over"):
                lines.append(f"  coded over {c['coded_over']} segments of the layer below")
            if c["damage"]:
                lines.append(f"  damaged    {c['damage']}: decodes from the segments before it")
    for m in d["truncated"]:
        lines.append(f"  missing    {m} (the file is cut short)")
    return "\n".join(lines)
