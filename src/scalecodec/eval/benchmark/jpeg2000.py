"""JPEG 2000's scalable modes, the anchors for scalecodec's scalable layers.

A JPEG 2000 codestream is a sequence of packets in its progression order.
With PLT markers (packet lengths) in the tile-part header, the packets that a
lower resolution (RPCL order) or the first k quality layers (LRCP order) need
form a prefix; that prefix, re-terminated, is a codestream a stock decoder
reads. The first k layers of a lower resolution are no prefix in either
order: Codestream.reduced_layers writes them as a file of their own, the
higher resolutions' packets left empty. So the bytes counted here are the
bytes of a real file, and each is checked to decode to exactly what the
decoder's own reduced decoding (-r / -l) of the whole file gives.
"""

import struct
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import numpy as np
from PIL import Image

from ...exact.downscale import reference_downscale
from ..metrics import psnr
from .metadata import metadata_bytes
from .runner import Source, ToolError, run_measured

SOC, SIZ, COD, SOT, PLT, SOD, EOC = 0xFF4F, 0xFF51, 0xFF52, 0xFF90, 0xFF58, 0xFF93, 0xFFD9
RESOLUTION_BPP = (0.125, 0.25, 0.5, 0.75, 1.0, 1.5)
LAYER_BPP = (0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5)
REDUCTIONS = (1, 2)  # 1/2 and 1/4 resolution
# Part of the cache key of these points: change it when the method changes.
METHOD = ("plt-prefix-2, bytes without metadata", RESOLUTION_BPP, LAYER_BPP, REDUCTIONS)


@dataclass
class Codestream:
    data: bytes
    sot: int  # offset of the single tile-part's SOT marker
    data_start: int  # first byte after SOD
    packets: list[int]  # lengths, in progression order
    components: int
    layers: int
    resolutions: int
    tile_header: bytes  # the tile-part header's marker segments but PLT, between SOT and SOD

    def reduced_layers(self, layers: int, reduction: int) -> bytes:
        """An LRCP codestream's first `layers` quality layers at 1/2**reduction
        of its size, as a codestream: those layers' packets of the kept
        resolutions, and an empty packet (one zero byte: no code-block
        included) for each of the others. Those resolutions then never
        include a code-block, so every packet kept reads the coding state it
        was written with. The tile-part length is 0 ("up to EOC") and PLT is
        left out (its lengths no longer hold)."""
        kept = self.resolutions - reduction
        starts = list(accumulate(self.packets, initial=self.data_start))
        body = bytearray()
        for i in range(layers * self.resolutions * self.components):  # LRCP: layer, resolution, component
            res = i // self.components % self.resolutions
            body += self.data[starts[i]:starts[i + 1]] if res < kept else b"\0"
        sot = bytearray(self.data[self.sot:self.sot + 12])
        sot[6:10] = b"\0\0\0\0"
        return (self.data[:self.sot] + bytes(sot) + self.tile_header + struct.pack(">H", SOD) + bytes(body)
                + struct.pack(">H", EOC))

    def prefix(self, n_packets: int) -> bytes:
        """The first n packets as a codestream: the tile-part length set to
        0 (meaning "up to EOC"), then EOC."""
        end = self.data_start + sum(self.packets[:n_packets])
        head = bytearray(self.data[:end])
        head[self.sot + 6:self.sot + 10] = b"\0\0\0\0"
        return bytes(head) + struct.pack(">H", EOC)


def parse(data: bytes) -> Codestream:
    """Find the packets of a one-tile, one-tile-part codestream with PLT."""
    if struct.unpack_from(">H", data, 0)[0] != SOC:
        raise ToolError("not a JPEG 2000 codestream")
    pos, components, layers, resolutions = 2, None, None, None
    while True:
        marker, length = struct.unpack_from(">HH", data, pos)
        if marker == SIZ:
            components = struct.unpack_from(">H", data, pos + 38)[0]
        elif marker == COD:
            layers = struct.unpack_from(">H", data, pos + 6)[0]
            resolutions = data[pos + 9] + 1
        elif marker == SOT:
            break
        pos += 2 + length
    sot = pos
    psot = struct.unpack_from(">I", data, sot + 6)[0]
    pos = sot + 2 + length
    packets, tile_header = [], b""
    while True:
        marker = struct.unpack_from(">H", data, pos)[0]
        if marker == SOD:
            break
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker == PLT:
            value = 0
            for byte in data[pos + 5:pos + 2 + length]:
                value = (value << 7) | (byte & 0x7F)
                if not byte & 0x80:
                    packets.append(value)
                    value = 0
        else:
            tile_header += data[pos:pos + 2 + length]
        pos += 2 + length
    data_start = pos + 2
    if sot + psot != data_start + sum(packets) or data[sot + psot:sot + psot + 2] != b"\xff\xd9":
        raise ToolError("codestream is not one tile-part whose PLT covers its data")
    if len(packets) != components * layers * resolutions:
        raise ToolError(f"{len(packets)} packets; expected one precinct per resolution")
    return Codestream(data, sot, data_start, packets, components, layers, resolutions, tile_header)


def _decode(path: Path, out: Path, *args) -> np.ndarray:
    run_measured(["opj_decompress", "-quiet", "-i", path, "-o", out, *args])
    return np.asarray(Image.open(out).convert("RGB"))


def _prefix_point(cs: Codestream, n_packets: int, reference: np.ndarray, whole: Path,
                  reduced_args: list, workdir: Path) -> dict:
    """Write the prefix as a file, decode it, and check it against the
    decoder's own reduced decoding of the whole file."""
    return _cut_point(cs.prefix(n_packets), reference, whole, reduced_args, workdir)


def reduced_layers_point(cs: Codestream, layers: int, reduction: int, reference: np.ndarray, whole: Path,
                         workdir: Path) -> dict:
    """The first `layers` quality layers of an LRCP file at 1/2**reduction
    size (Codestream.reduced_layers) as a file, decoded and checked against
    `opj_decompress -r reduction -l layers` of the whole file."""
    return _cut_point(cs.reduced_layers(layers, reduction), reference, whole,
                      ["-r", str(reduction), "-l", str(layers)], workdir)


def _cut_point(codestream: bytes, reference: np.ndarray, whole: Path, reduced_args: list, workdir: Path) -> dict:
    cut = workdir / "prefix.j2k"
    cut.write_bytes(codestream)
    from_prefix = _decode(cut, workdir / "prefix.ppm", *reduced_args)
    from_whole = _decode(whole, workdir / "whole.ppm", *reduced_args)
    h, w = from_prefix.shape[:2]
    metadata = metadata_bytes(cut)  # OpenJPEG's "Created by" comment
    size = cut.stat().st_size - metadata
    return {
        "bytes": size, "metadata_bytes": metadata, "bpp": 8 * size / (w * h), "width": w, "height": h,
        "psnr": psnr(reference, from_prefix) if reference.shape == from_prefix.shape else float("nan"),
        "prefix_equals_reduced_decode": bool(np.array_equal(from_prefix, from_whole)),
    }


def resolution_point(bpp: float, src: Source, workdir: Path) -> dict:
    """One RPCL file at bpp; the bytes and PSNR of full, 1/2 and 1/4
    resolution, each lower one against the reference downscale."""
    whole = workdir / "res.j2k"
    run_measured(["opj_compress", "-i", src.ppm, "-o", whole, "-I", "-r", f"{24 / bpp:g}",
                  "-p", "RPCL", "-PLT"])
    cs = parse(whole.read_bytes())
    pixels = src.pixels
    per_res = cs.components * cs.layers
    levels = {}
    for k in (0, *REDUCTIONS):
        w, h = -(-src.width // 2**k), -(-src.height // 2**k)
        reference = reference_downscale(pixels, w, h)
        levels[str(k)] = _prefix_point(cs, (cs.resolutions - k) * per_res, reference, whole,
                                       ["-r", str(k)], workdir)
    return {"image": src.name, "setting": bpp, "levels": levels}


def layers_point(src: Source, workdir: Path) -> dict:
    """One LRCP file with a quality layer at each of LAYER_BPP; the prefix
    bytes and PSNR of the first k layers, for every k."""
    whole = workdir / "layers.j2k"
    ratios = ",".join(f"{24 / b:g}" for b in LAYER_BPP)
    run_measured(["opj_compress", "-i", src.ppm, "-o", whole, "-I", "-r", ratios, "-PLT"])
    cs = parse(whole.read_bytes())
    if cs.layers != len(LAYER_BPP):
        raise ToolError(f"asked for {len(LAYER_BPP)} layers, got {cs.layers}")
    per_layer = cs.components * cs.resolutions
    pixels = src.pixels
    return {"image": src.name, "setting": 0, "layers": {
        str(k): _prefix_point(cs, k * per_layer, pixels, whole, ["-l", str(k)], workdir)
        for k in range(1, cs.layers + 1)}}
