"""Encoding: 8-bit pixels -> stream bytes.

The analysis transforms run in float on any device (CPU or CUDA); their
results only choose the symbols. The entropy parameters come from the same
exact fixed-point prior path the decoder runs, so any device's stream decodes
the same everywhere.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from . import layout
from .. import container
from ..container import Chunk, ChunkKind, ColourFormat, Header, Stream, fine
from .decoder import fine_decode, reconstruct_enhancement_from
from ..exact.downscale import reference_downscale
from ..entropy import encode_planes, encode_symbols
from ..errors import ModelError, UsageError
from .geometry import layer_sizes
from ..model.file import DecoderModel
from ..nn.model import GainedHyperprior
from ..exact.prior import MEAN_FRAC_BITS
from .effort import DEFAULT_EFFORT, EFFORTS
from .refine import refine


@dataclass
class CodedLayer:
    width: int
    height: int
    pixels: np.ndarray | None  # (H, W, 3) uint8, bit-identical to the decoder's
    prediction: np.ndarray | None  # LIFF's (3, H, W) in pixel levels, for the benchmark only


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available here (use --device cpu or auto)")
    return torch.device(name)


def analysis_network(parts, path, in_channels: int = 3) -> GainedHyperprior:
    """The float network with a model part's encoder weights (g_a, h_a, gains)."""
    arch = parts.tree["architecture"]
    net = GainedHyperprior(int(arch["n"]), int(arch["m"]), list(arch["lambdas"]), in_channels,
                           z_channels=arch.get("z_channels"))
    weights = {k: torch.from_numpy(np.array(v)) for k, v in parts.tree["encoder"].items()}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith(("g_s.", "h_s.", "z_density.")) for k in missing):
        raise ModelError(f"{path} does not match the network it declares")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@dataclass(frozen=True)
class Effort:
    """How hard the encoder searches for each layer's symbols: level 1 (the
    analysis transform's latent, rounded) to 9 (scalecodec.codecs.refine);
    report(layer, iteration, iterations, bpp, mse) follows the search."""

    level: int = DEFAULT_EFFORT
    report: Callable | None = None

    def __post_init__(self):
        if self.level not in EFFORTS:
            raise UsageError(f"effort must be {EFFORTS[0]} to {EFFORTS[-1]}, got {self.level}")


# The analysis reads about 61 input pixels around a latent element (four 5x5
# stride-2 layers); a halo of 4 latent rows (64 pixels) covers it.
ANALYSIS_HALO = 4
# Elements of the largest activation of one band (float32): its first layer's
# output, N channels at half resolution.
ANALYSIS_BAND_ELEMENTS = 1 << 25


def analysis_in_bands(g_a: torch.nn.Module, x: "torch.Tensor | ResidualInput") -> torch.Tensor:
    """g_a(x) for x (1, C, H, W), H a multiple of 16, in bands of latent rows
    with a halo, so that memory follows the band and not the photo. The
    encoder's float results only choose symbols, so this needs to agree with
    one pass only as closely as float arithmetic does (it is deterministic).
    x may be a ResidualInput, made only band by band."""
    h, w = x.shape[-2] // 16, x.shape[-1] // 16
    band = x.rows if isinstance(x, ResidualInput) else lambda a, b: x[..., a:b, :]
    channels = next(m for m in g_a.modules() if isinstance(m, torch.nn.Conv2d)).out_channels
    rows = max(1, ANALYSIS_BAND_ELEMENTS // (channels * 64 * w))
    if rows >= h:
        return g_a(band(0, 16 * h))
    bands = []
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        a, b = max(0, r0 - ANALYSIS_HALO), min(h, r1 + ANALYSIS_HALO)
        bands.append(g_a(band(16 * a, 16 * b))[..., r0 - a : r1 - a, :])
    return torch.cat(bands, dim=-2)


INPUT_BAND_PIXELS = 1 << 20  # rows of an analysis input made per pass


def _padded_size(h: int, w: int) -> tuple[int, int]:
    """(Hp, Wp): an h x w image padded to the analysis stride."""
    pad = layout.PAD
    return math.ceil(h / pad) * pad, math.ceil(w / pad) * pad


def _padded(channels: int, h: int, w: int) -> np.ndarray:
    return np.empty((channels, *_padded_size(h, w)), np.float32)


def _replicate_edges(out: np.ndarray, h: int, w: int) -> np.ndarray:
    """Fill the padding right of and below the h x w image with its edge (as F.pad's "replicate")."""
    out[:, :h, w:] = out[:, :h, w - 1 : w]
    out[:, h:] = out[:, h - 1 : h]
    return out


def _image_input(pixels: np.ndarray) -> np.ndarray:
    """The analysis input (3, Hp, Wp) float32 of (H, W, 3) uint8 pixels: in
    [0, 1], padded to the analysis stride by replicating edges, made in bands
    of rows, so that beside the result no image-sized temporary exists."""
    h, w = pixels.shape[:2]
    out = _padded(3, h, w)
    rows = max(1, INPUT_BAND_PIXELS // w)
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        out[:, r0:r1, :w] = pixels[r0:r1].transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return _replicate_edges(out, h, w)


class ResidualInput:
    """An enhancement layer's analysis input (1, 6, Hp, Wp) float32, padded
    as _image_input: target - prediction and the prediction, in [0, 1] units.
    It is never held whole: the analysis asks for its bands (rows), and
    prediction(a, b) gives the prediction's rows a..b, (3, b - a, W), so the
    top layer's may be made band by band too (0.58 GB each at 24 MP)."""

    def __init__(self, target: np.ndarray, prediction: Callable[[int, int], np.ndarray],
                 device: torch.device | str):
        self.target, self.prediction, self.device = target, prediction, device
        self.shape = (1, 6, *_padded_size(*target.shape[:2]))

    def rows(self, a: int, b: int) -> torch.Tensor:
        """Padded rows [a, b) as a (1, 6, b - a, Wp) tensor on the device."""
        h, w = self.target.shape[:2]
        first = min(a, h - 1)
        source = np.minimum(np.arange(a, b), h - 1)  # rows below the image replicate its last
        out = np.empty((6, b - a, self.shape[-1]), np.float32)
        pred = (self.prediction(first, min(b, h))[:, source - first] / 255).astype(np.float32)
        out[3:, :, :w] = pred
        out[:3, :, :w] = self.target[source].transpose(2, 0, 1).astype(np.float32) / np.float32(255) - pred
        out[:, :, w:] = out[:, :, w - 1 : w]
        return torch.from_numpy(out).to(self.device)[None]


# The reconstruction shift written in each chunk in planes (bitstream_spec.md
# 8.5): the best single value on training photos (768x512 crops, not Kodak),
# cut at 6-75% of a top-quality stream. Base layers: +0.04 to +0.07 dB at
# 6-50% with 5 (base v2, 8 photos; 3 and 8 gave less, 12 and up less again;
# a shift per photo or per plane level added 0.005 dB); the spatial model's
# base +0.03 to +0.06. Enhancement layers code a residual over LIFF's
# prediction and gain less: +0.01 to +0.02 dB with 3, none with 5, a loss
# with 8 (6 photos).
SHIFT = {ChunkKind.FINE: 5, ChunkKind.FINE_PREFIX: 3}


# Each enhancement layer of a spatial stream in planes is coded over this
# share of the layer below's segments (a FINE_PREFIX chunk says how many), and
# a cut at a layer keeps each layer below only that far. With every lower
# layer whole at the top quality under the layer above, a cut near the bottom
# of the top layer spent most of its bytes below it: BD-rate of the top
# layer's cuts against whole-symbol spatial streams +33% (scales 1,2; 3
# photos) and +41% (1,2,4; 2 photos) on training photos; over 40%: +10% and
# +11% (30% and 50% did no better; on 3 other photos 30% and 60% at every
# lower layer gave the top layer +13.5% and +11.9% against 40%'s +11.5% at
# 1,2,4, +8.8% and +15.8% against +7.5% at 1,1.6,2.4, though 60% gave the
# middle layer +12.4% against +21.2%), and the top layer 10-14% smaller at the
# same PSNR (its residual absorbs a coarser prediction cheaply). Until 1.7 a
# lower layer was written only that far, so its own cuts stopped 1.6-2.3 dB
# below the top quality; written whole, they reach it: on 3 training photos
# the base layer's BD-rate went +14.2% -> +10.9% (1,2,4) and +15.0% -> +10.9%
# (1,1.6,2.4), the middle layer's +21.2% -> +15.5% and +16.4% -> +11.1%
# (one photo's 1,1.6,2.4 figures from variant runs that make the same layers:
# the base whole, and the middle whole over 40% of it).
LOWER_PLANES = 0.4


def prediction_prefix(parts, chunk: Chunk, y_fixed: np.ndarray,
                      share: float = LOWER_PLANES) -> tuple[int, np.ndarray]:
    """How many of a lower layer's segments the layer above is coded over
    (`share` of them, at least one with trits, at most fine.MAX_PREFIX), and
    the y_hat the decoder makes of them (y_fixed, the whole layer's, where
    that is all of them)."""
    payload, declared, _ = fine.unpack(chunk.payload)
    keep = min(declared, max(2, round(declared * share)), fine.MAX_PREFIX)
    if keep == declared:
        return keep, y_fixed
    return keep, fine_decode(parts, replace(chunk, payload=fine.pack(payload.cut(keep))), [])


def image_chunk(planes: bool, layer: int, width: int, height: int, payload: bytes,
                over: int | None = None) -> Chunk:
    """Layer `layer`'s chunk: whole symbols, or in planes with its
    reconstruction shift and, above the base, the segments of the layer
    below it is coded over."""
    if not planes:
        return Chunk(ChunkKind.SPATIAL if layer else ChunkKind.BASE, layer, width, height, payload)
    kind = ChunkKind.FINE_PREFIX if layer else ChunkKind.FINE
    return Chunk(kind, layer, width, height, payload, fine.reconstruction_flags(SHIFT[kind], over))


class Encoder:
    def __init__(self, model: DecoderModel, device: str = "auto"):
        self.model = model
        self.device = pick_device(device)
        self.net = analysis_network(model, model.path).to(self.device)
        el = model.enhancement
        self.el_net = analysis_network(el, model.path, in_channels=6).to(self.device) if el else None

    def _input(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(array).to(self.device)[None]

    def _latents(self, net: GainedHyperprior, parts, x: "torch.Tensor | ResidualInput", quality: float,
                 size: tuple | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, "torch.Tensor"]:
        """x (1, C, H, W) -> z_hat, the hyper synthesis's exact outputs, y
        (after the gain) and x padded. x may come padded already, with size
        its image's (H, W)."""
        h, w = size or x.shape[-2:]
        pad = layout.PAD
        if x.shape[-2] % pad or x.shape[-1] % pad:
            x = F.pad(x, (0, math.ceil(w / pad) * pad - w, 0, math.ceil(h / pad) * pad - h), mode="replicate")
        with torch.no_grad():
            gain, _ = net.gains(torch.tensor([quality - 1.0], device=self.device))
            y = analysis_in_bands(net.g_a, x) * gain
            z_hat = torch.round(net.h_a(y))[0].cpu().double().numpy()
        return z_hat, parts.hyper_synthesis.values(z_hat), y[0].cpu().double().numpy(), x

    def _code_layer(self, net: GainedHyperprior, parts, x: "torch.Tensor | ResidualInput", quality: float,
                    effort: Effort, target=None, layer: int = 0, size: tuple | None = None,
                    planes: bool = False) -> tuple[bytes, np.ndarray]:
        """x (1, C, H, W) -> (the layer's payload: whole symbols, or with
        planes trit-planes (bitstream_spec.md section 8); y_hat in 1/256 units
        as the decoder of the whole layer will see it). y's symbols are y
        rounded around its means, or with an effort above 1 searched
        (refine.py) against target() (3, H, W), what the layer's synthesis
        should make, in 8-bit levels (made only then), run by run: with a
        context model each slice's search has that slice's tables, which
        depend on the slices chosen before it."""
        z_hat, hyper, y, x = self._latents(net, parts, x, quality, size)
        z_bytes = encode_symbols(z_hat.astype(np.int64), layout.z_table_ids(z_hat.shape), parts.z_tables)
        if effort.level != DEFAULT_EFFORT:  # rounding needs no target
            h, w = size or x.shape[-2:]
            target = x[0, :3, :h, :w].cpu().double().numpy() * 255 if target is None else target()
        report = (lambda *a: effort.report(layer, *a)) if effort.report else None
        search = partial(refine, parts.synthesis, parts.y_tables, target=target, quality=quality,
                         lambdas=list(parts.tree["architecture"]["lambdas"]), effort=effort.level,
                         device=self.device, report=report)
        latent = y.copy()  # the chosen slices' values, y beyond them: what a slice's search sees

        def choose(mean: np.ndarray, index: np.ndarray, a: int, b: int) -> np.ndarray:
            whole = (a, b) == (0, len(y))
            symbols = search(y[a:b], mean, index, channels=None if whole else (a, b), latent=latent)
            latent[a:b] = symbols + mean / 2**MEAN_FRAC_BITS
            return symbols

        if planes:
            # Every cut needs the prior it has whole: the hyperprior's (section 8).
            mean, index = parts.hyper_synthesis.parameters(hyper)
            symbols = choose(mean, index, 0, len(y))
            head, segments, trits = encode_planes(symbols, index, parts.y_tables)
            checksum = layout.prior_checksum(mean, index)
            payload = fine.pack(fine.FinePayload(checksum, z_bytes, head, tuple(segments), tuple(trits)))
            return payload, symbols * 2**MEAN_FRAC_BITS + mean
        runs = layout.y_runs(parts) or [(0, len(y))]
        chosen = []

        def code(k: int, mean: np.ndarray, index: np.ndarray) -> np.ndarray:
            chosen.append(choose(mean, index, *runs[k]))
            return chosen[-1]

        y_fixed, mean, index = layout.code_latent(parts, hyper, code)
        symbols = np.concatenate(chosen)
        payload = layout.pack(layout.prior_checksum(mean, index), z_hat.size, z_bytes, symbols.size,
                              encode_symbols(symbols, index, parts.y_tables, layout.y_runs(parts)))
        return payload, y_fixed

    def encode(self, pixels: np.ndarray, quality: float, colour: ColourFormat = ColourFormat.RGB,
               effort: Effort = Effort(), planes: bool = False) -> bytes:
        """pixels: (H, W, 3) uint8 -> a complete single-layer stream; with
        planes a fine-grained one (cut at any segment; whole, it decodes to
        exactly the single-layer stream's image)."""
        quality = self.model.check_quality(quality)
        h, w = pixels.shape[:2]
        payload, _ = self._code_layer(self.net, self.model, self._input(_image_input(pixels)), quality, effort,
                                      size=(h, w), planes=planes)
        header = Header(self.model.model_id, w, h, colour, 8, quality)
        return container.serialize(Stream(header, (image_chunk(planes, 0, w, h, payload),)))

    def encode_spatial(self, pixels: np.ndarray, scales: list[float], quality: float,
                       colour: ColourFormat = ColourFormat.RGB, effort: Effort = Effort(),
                       planes: bool = False) -> bytes:
        """pixels: (H, W, 3) uint8 -> a stream with a base layer at the input
        reduced by scales[-1] and an enhancement layer at each further scale
        (relative to the base layer; the last is the input's own size); with
        planes every layer is in trit-planes, cut at any size, then any byte."""
        return self.code_spatial(pixels, scales, quality, colour, effort=effort, planes=planes)[0]

    def code_spatial(self, pixels: np.ndarray, scales: list[float], quality: float,
                     colour: ColourFormat = ColourFormat.RGB, for_benchmark: bool = False,
                     effort: Effort = Effort(), planes: bool = False) -> tuple[bytes, list[CodedLayer]]:
        """The stream, and per layer what the decoder will compute from it
        (the same exact functions); the top layer's pixels and every layer's
        prediction only for the benchmark (at 12 MP they are ~0.6 GB). Each
        layer is predicted from the layer below as the decoder has it: with
        whole symbols, all of it; in planes, its first LOWER_PLANES of
        segments (every layer is written whole, and a cut keeps each layer
        below the one it cuts that far)."""
        el = self.model.enhancement
        if el is None:
            raise ModelError(f"{self.model.path} has no enhancement layer; use a spatial model "
                             "(the default for --scales) or encode without --scales")
        quality = self.model.check_quality(quality)
        h, w = pixels.shape[:2]
        sizes = layer_sizes(w, h, scales)
        quality_fixed = round(quality * 256) - 256
        bw, bh = sizes[0]
        payload, y_fixed = self._code_layer(self.net, self.model,
                                            self._input(_image_input(reference_downscale(pixels, bw, bh))),
                                            quality, effort, size=(bh, bw), planes=planes)
        chunks, over = [image_chunk(planes, 0, bw, bh, payload)], None
        if planes and len(sizes) > 1:
            over, y_fixed = prediction_prefix(self.model, chunks[0], y_fixed)
        # Each layer is predicted from exactly what the decoder will have.
        layers = [CodedLayer(bw, bh, self.model.synthesis(y_fixed, quality_fixed)[:bh, :bw], None)]
        for k, (lw, lh) in enumerate(sizes[1:], start=1):
            target = pixels if (lw, lh) == (w, h) else reference_downscale(pixels, lw, lh)
            lower = layers[-1].pixels
            top = k == len(sizes) - 1
            if top and effort.level == DEFAULT_EFFORT and not for_benchmark:
                # Nothing needs the top layer's prediction but its analysis: make it band by band.
                prediction = None
                side = ResidualInput(target, lambda a, b: el.liff.predict(lower, lw, lh, rows=(a, b)),
                                     self.device)
            else:
                prediction = el.liff.predict(lower, lw, lh)
                side = ResidualInput(target, lambda a, b, p=prediction: p[:, a:b], self.device)
            residual = None
            if effort.level != DEFAULT_EFFORT:
                def residual(target=target, prediction=prediction):
                    # What the layer's synthesis should make: the residual over the prediction.
                    return target.transpose(2, 0, 1).astype(np.float64) - prediction
            payload, y_fixed = self._code_layer(self.el_net, el, side, quality, effort, residual, k, (lh, lw),
                                                planes)
            del side
            chunks.append(image_chunk(planes, k, lw, lh, payload, over))
            if planes and not top:
                over, y_fixed = prediction_prefix(el, chunks[-1], y_fixed)
            decoded = (reconstruct_enhancement_from(el, prediction, y_fixed, quality_fixed, lw, lh)
                       if for_benchmark or not top else None)
            layers.append(CodedLayer(lw, lh, decoded, prediction if for_benchmark else None))
            del prediction, residual
        header = Header(self.model.model_id, w, h, colour, 8, quality, bw, bh)
        return container.serialize(Stream(header, tuple(chunks))), layers
