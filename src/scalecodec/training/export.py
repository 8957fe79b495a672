"""Turn a training checkpoint into a shippable model file.

The model file holds the encoder's float weights plus everything the decoder
needs as integers, derived here once: the probability tables of z (per
channel) and of y (per scale-table entry), and the fixed-point hyper synthesis
and synthesis.
"""

import copy
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..entropy.tables import PmfTables
from ..exact.fixedpoint import ACT_BITS, ACT_LIMIT, MAX_IN_FRAC, WEIGHT_BITS, FixedPointNetwork
from ..nn.gdn import GDN
from ..nn.enhancement import PAD
from ..nn.liff import LocalImplicitFilter
from ..nn.model import GainedHyperprior
from ..exact.liff import HEAD_LIMIT, INPUT_FRAC, FixedPointLiff
from ..model.file import FORMAT, write_model
from ..exact.prior import FixedPointHyperSynthesis
from .data import PatchPool
from .train import trained_codec
from .spatial import SpatialChain, to_8bit

log = logging.getLogger(__name__)

SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64
TAIL_MASS = 1e-9
Z_RANGE = 1024
ENCODER_PARTS = {"g_a", "h_a", "log_gain", "log_inverse_gain", "lambdas"}


def scale_table() -> np.ndarray:
    return np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def gaussian_tables(scales: np.ndarray) -> PmfTables:
    pmfs, offsets = [], []
    z_tail = -float(torch.special.ndtri(torch.tensor(TAIL_MASS / 2, dtype=torch.float64)))
    for s in scales:
        r = math.ceil(s * z_tail)
        v = torch.arange(-r, r + 1, dtype=torch.float64)
        pmf = torch.special.ndtr((v + 0.5) / s) - torch.special.ndtr((v - 0.5) / s)
        pmfs.append(pmf.numpy())
        offsets.append(-r)
    return PmfTables.from_pmfs(pmfs, offsets)


@torch.no_grad()
def factorized_tables(model: GainedHyperprior) -> PmfTables:
    density = model.z_density
    c = model.z_channels
    v = torch.arange(-Z_RANGE, Z_RANGE + 1, dtype=torch.float32)
    grid = v.view(1, 1, -1).repeat(c, 1, 1)
    cdf = torch.sigmoid(density.logits_cdf(grid + 0.5)).double().squeeze(1)  # P(Z <= v + 0.5)
    lower_cdf = torch.sigmoid(density.logits_cdf(grid - 0.5)).double().squeeze(1)
    # Keep every bin not wholly inside the two tails of mass TAIL_MASS / 2.
    keep = (cdf > TAIL_MASS / 2) & (lower_cdf < 1 - TAIL_MASS / 2)
    pmfs, offsets = [], []
    for ch in range(c):
        inside = torch.nonzero(keep[ch]).flatten()
        lo, hi = int(inside[0]), int(inside[-1])
        pmf = (cdf[ch, lo : hi + 1] - lower_cdf[ch, lo : hi + 1]).clamp(min=0)
        pmfs.append(pmf.numpy())
        offsets.append(int(v[lo]))
    return PmfTables.from_pmfs(pmfs, offsets)


def _frac_bits(max_abs: torch.Tensor, bits: int, headroom: float = 1.0) -> torch.Tensor:
    return torch.floor(torch.log2((2**bits - 1) / (max_abs.double().clamp(min=1e-8) * headroom)))


def _layer_ops(seq: torch.nn.Sequential) -> list[tuple[torch.nn.Module, bool]]:
    """(module, relu-follows) for each conv, transposed conv or inverse GDN."""
    mods, ops, i = list(seq), [], 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            relu = i + 1 < len(mods) and isinstance(mods[i + 1], torch.nn.ReLU)
            ops.append((m, relu))
            i += 2 if relu else 1
        elif isinstance(m, GDN) and m.inverse:
            ops.append((m, False))
            i += 1
        else:
            raise TypeError(f"no fixed-point form for {type(m).__name__}")
    return ops


@torch.no_grad()
def quantize_network(seq: torch.nn.Sequential, inputs: list[torch.Tensor], in_frac: int,
                     per_channel_out: bool = True) -> list[dict]:
    """Fixed-point states (scalecodec.exact.fixedpoint) for seq, given integer inputs
    at in_frac fraction bits. Activation ranges are calibrated on the inputs
    with a headroom of 2; values beyond that clip. The last layer gets one
    scale per channel (unless per_channel_out is False: outputs that are summed
    together need one), the others one per layer (the next layer shares it)."""
    ops = _layer_ops(copy.deepcopy(seq).double())
    maxima = [None] * len(ops)
    for x in inputs:
        x = x.double() * 2.0**-in_frac
        for j, (m, relu) in enumerate(ops):
            x = torch.relu(m(x)) if relu else m(x)
            per_channel = per_channel_out and j == len(ops) - 1
            peak = x.abs().amax(dim=(0, 2, 3)) if per_channel else x.abs().amax()
            maxima[j] = peak if maxima[j] is None else torch.maximum(maxima[j], peak)
    states = []
    for j, (m, relu) in enumerate(ops):
        if isinstance(m, GDN):
            gamma, beta = m._positive(m.gamma, 0.0), m._positive(m.beta, m._beta_min)
            w_frac = _frac_bits(gamma.abs().amax(1), WEIGHT_BITS)
            # Keep beta at the accumulator scale well inside float64's exact range.
            w_frac = torch.minimum(w_frac, torch.floor(torch.log2(2.0**44 / beta)) - 2 * in_frac)
            weight = torch.round(gamma * torch.exp2(w_frac)[:, None])
            bias = torch.round(beta * torch.exp2(w_frac + 2 * in_frac))
            kind = "igdn"
        else:
            transposed = isinstance(m, torch.nn.ConvTranspose2d)
            out_dim = 1 if transposed else 0
            w = m.weight.double()
            w_frac = _frac_bits(w.abs().transpose(0, out_dim).flatten(1).amax(1), WEIGHT_BITS)
            shape = [1, 1, 1, 1]
            shape[out_dim] = -1
            weight = torch.round(w * torch.exp2(w_frac).view(shape))
            bias = torch.round(m.bias.double() * torch.exp2(w_frac + in_frac))
            kind = "deconv" if transposed else "conv"
        out_frac = _frac_bits(maxima[j], ACT_BITS, headroom=2.0).expand(len(w_frac)).clone()
        if j < len(ops) - 1:
            # The next layer's input fraction bits, which fixed point bounds
            # (30): a layer whose outputs were all (nearly) zero on the
            # calibration data, a dead one, would otherwise ask for ~40.
            out_frac = out_frac.clamp(max=MAX_IN_FRAC)
        if kind == "conv" and m.stride != (1, 1):
            raise TypeError("fixed-point convolutions have stride 1")
        states.append({"kind": kind, "weight": weight.numpy().astype(np.int32),
                       "bias": bias.numpy().astype(np.int64), "weight_frac": w_frac.numpy().astype(np.int32),
                       "in_frac": in_frac, "out_frac": out_frac.numpy().astype(np.int32), "relu": relu})
        in_frac = int(out_frac[0])
    return states


def hyper_synthesis_state(model: GainedHyperprior, z_samples: list[torch.Tensor]) -> dict:
    layers = quantize_network(model.h_s, [torch.round(z) for z in z_samples], in_frac=0)
    return {"layers": layers, "m": model.m, "scale_bounds": scale_table()[:-1]}


@torch.no_grad()
def synthesis_state(model: GainedHyperprior, y_samples: list[torch.Tensor]) -> dict:
    """Fixed-point g_s plus integer inverse gains (scalecodec.exact.synthesis)."""
    peak = max(y.abs().max() for y in y_samples)
    in_frac = int(_frac_bits(peak, ACT_BITS, headroom=2.0))
    inputs = [torch.round(y.double() * 2.0**in_frac) for y in y_samples]
    inverse_gain = model.log_inverse_gain.double().exp()
    gain_frac = int(_frac_bits(inverse_gain.max(), ACT_BITS))
    return {
        "layers": quantize_network(model.g_s, inputs, in_frac),
        "inverse_gain": torch.round(inverse_gain * 2.0**gain_frac).numpy().astype(np.int64),
        "inverse_gain_frac": gain_frac,
    }


def calibration_patches(data: Path, batches: int = 28, grey: bool = False):
    """Training patches to calibrate the fixed-point ranges on, made grey for
    a model trained on grey photos (its activations on colour ones differ)."""
    pool = PatchPool(data, crop=256, versions=1, seed=123, grey=grey)
    rng = np.random.default_rng(123)
    return [pool.batch(4, rng) for _ in range(batches)]


@torch.no_grad()
def codec_tree(model: GainedHyperprior, inputs: list[torch.Tensor]) -> dict:
    """A gained hyperprior's part of a model file: the encoder's float
    weights and the decoder's integer networks and tables, calibrated on the
    latents of the codec's inputs, every quality level in turn."""
    latents = [model.latents(x, torch.full((x.shape[0],), float(i % model.levels))) for i, x in enumerate(inputs)]
    z = [t["z"] for t in latents]
    y = [t["y_rec"] * t["inverse_gain"] for t in latents]  # dequantized, as the synthesis gets it
    hyper = hyper_synthesis_state(model, z)
    synthesis = synthesis_state(model, y)
    _report_fixed_point_error(model, hyper, synthesis, z, y)
    context = {"context": context_state(model, latents)} if model.context is not None else {}
    return {
        "architecture": {"kind": "gained-mean-scale-hyperprior", "n": model.n, "m": model.m,
                         "z_channels": model.z_channels, "lambdas": model.lambdas.tolist(),
                         **({"context_slices": len(model.context.sizes)} if context else {})},
        **context,
        # The encoder's float transforms; the decoder's networks are the fixed-point ones.
        "encoder": {k: v.numpy() for k, v in model.state_dict().items() if k.split(".")[0] in ENCODER_PARTS},
        "hyper_synthesis": hyper,
        "synthesis": synthesis,
        "z_tables": _tables_state(factorized_tables(model)),
        "y_tables": _tables_state(gaussian_tables(scale_table())),
    }


@torch.no_grad()
def context_state(model: GainedHyperprior, latents: list[dict]) -> dict:
    """The context model's networks in fixed point (scalecodec.exact.context),
    each calibrated on its own inputs from the calibration latents (codec_tree);
    an input's fraction bits fit its largest value twice."""
    bounds = model.context.bounds
    params_in, lrp_in = [[] for _ in bounds], [[] for _ in bounds]
    for t in latents:
        mean, scale, hats = t["hyper_mean"].double(), t["hyper_scale"].double(), t["y_hat"].double()
        for k, (a, b) in enumerate(bounds):
            params_in[k].append(torch.cat([mean[:, a:b], scale[:, a:b], hats[:, :a]], 1))
            lrp_in[k].append(torch.cat([mean[:, a:b], hats[:, :b]], 1))

    def fixed(seq: torch.nn.Sequential, samples: list[torch.Tensor]) -> list[dict]:
        in_frac = int(_frac_bits(max(s.abs().max() for s in samples), ACT_BITS, headroom=2.0))
        return quantize_network(seq, [torch.round(s * 2.0**in_frac) for s in samples], in_frac)

    return {"sizes": list(model.context.sizes),
            "params": [fixed(seq, xs) for seq, xs in zip(model.context.params, params_in)],
            "lrp": [fixed(seq, xs) for seq, xs in zip(model.context.lrp, lrp_in)]}


@torch.no_grad()
def liff_state(liff: LocalImplicitFilter, lowers: list[torch.Tensor]) -> dict:
    """Fixed-point LIFF (scalecodec.exact.liff), calibrated on 8-bit images
    (B, 3, h, w) predicted up by 2x."""
    inputs = [torch.round(x.double() * 2.0**INPUT_FRAC) for x in lowers]
    features = quantize_network(liff.features, inputs, INPUT_FRAC, per_channel_out=False)
    feat_frac = int(features[-1]["out_frac"][0])
    feats = [liff.features(x.float()).double() for x in lowers]
    feat_ints = [torch.round(f * 2.0**feat_frac) for f in feats]
    (to_taps,) = quantize_network(torch.nn.Sequential(liff.to_taps), feat_ints, feat_frac, per_channel_out=False)
    queries = []
    for f in feats:
        index, query = liff.queries(f.float(), (2 * f.shape[2], 2 * f.shape[3]))
        q = torch.cat([f.flatten(2)[:, :, index], query.double().T.expand(f.shape[0], -1, -1)], 1)
        queries.append(torch.round(q[..., None] * 2.0**feat_frac))
    hidden = quantize_network(liff.mlp[:4], queries, feat_frac, per_channel_out=False)
    return {"features": features, "to_taps": to_taps, "hidden": hidden, "taps": liff.taps,
            "tap_frac": min(INPUT_FRAC, int(to_taps["out_frac"][0])),
            "filter": _head_state(liff.mlp[4], int(hidden[-1]["out_frac"][0]), liff.taps)}


def _head_state(head: torch.nn.Conv2d, hidden_frac: int, taps: int) -> dict:
    """The filter network's last layer with one weight scale (its outputs are
    summed together), and the shift that keeps W_filter^T N below HEAD_LIMIT
    for any neighbourhood N of 16-bit integers (scalecodec.exact.liff)."""
    w = head.weight.double()[:, :, 0, 0]
    frac = int(_frac_bits(w.abs().max(), WEIGHT_BITS))
    weight = torch.round(w * 2.0**frac)
    filters = weight[: 27 * taps].reshape(3, 9 * taps, -1)
    bound = float(filters.abs().sum(1).max()) * ACT_LIMIT
    shift = max(0, math.ceil(math.log2(bound / HEAD_LIMIT)))
    return {"weight": weight.numpy().astype(np.int32), "frac": frac, "shift": shift,
            "bias": torch.round(head.bias.double() * 2.0 ** (frac + hidden_frac)).numpy().astype(np.int64)}


CALIBRATION_FACTORS = (1.2, 1.6, 2.0, 2.4, 3.0, 4.0)


@torch.no_grad()
def enhancement_tree(chain: SpatialChain, patches: list[torch.Tensor]) -> dict:
    """The enhancement layer's part of a model file: its residual codec,
    calibrated on the residuals of real predictions, and its fixed-point LIFF."""
    lowers, sides = [], []
    for i, x in enumerate(patches):
        f = CALIBRATION_FACTORS[i % len(CALIBRATION_FACTORS)]
        size = (round(x.shape[2] / f), round(x.shape[3] / f))
        lower = to_8bit(F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False))
        quality = torch.full((x.shape[0],), float(i % chain.levels))
        padded = F.pad(lower, (0, -size[1] % PAD, 0, -size[0] % PAD), mode="replicate")
        lower_hat = to_8bit(chain.base.reconstruct(padded, quality)[..., : size[0], : size[1]])
        prediction = chain.el.liff(lower_hat, x.shape[-2:])
        lowers.append(lower_hat)
        sides.append(torch.cat([x - prediction, prediction], 1))
    liff = liff_state(chain.el.liff, lowers)
    _report_prediction_error(chain.el.liff, liff, lowers[:2])
    return {**codec_tree(chain.el.residual, sides), "liff": liff}


def _report_prediction_error(liff: LocalImplicitFilter, state: dict, lowers: list[torch.Tensor]) -> None:
    fixed = FixedPointLiff(state)
    err = 0.0
    for batch in lowers:
        for x in batch:
            h, w = x.shape[-2:]
            ref = liff(x[None], (2 * h, 2 * w))[0].double().numpy() * 255
            pixels = np.rint(x.double().numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
            err = max(err, float(np.abs(fixed.predict(pixels, 2 * w, 2 * h) - ref).max()))
    log.info("fixed point: LIFF prediction error <= %.3f (8-bit levels)", err)


def _training_record(state: dict) -> dict:
    return {"steps": state["step"], "minutes": round(state["elapsed"] / 60, 1),
            "hardware": state.get("hardware", "unknown"), "config": state["config"]}


def export(checkpoint: Path, data: Path, out: Path) -> str:
    """Write the model file; returns its id (hex of the first 16 sha256 bytes).
    A spatial checkpoint (base + enhancement layer) gives a model file that
    also holds the enhancement layer."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    cfg = state["config"]
    patches = calibration_patches(data, grey=cfg.get("grey", False))
    if cfg.get("spatial_base"):
        chain = SpatialChain(GainedHyperprior(cfg["n"], cfg["m"], cfg["lambdas"]), cfg["n"], cfg["m"], cfg["lambdas"])
        chain.load_state_dict(state["model"])
        chain.eval()
        tree = {"format": FORMAT, **codec_tree(chain.base, patches), "enhancement": enhancement_tree(chain, patches)}
    else:
        # What a run averaged is what ships (the weights where it kept no average).
        model = trained_codec(state).eval()
        tree = {"format": FORMAT, **codec_tree(model, patches)}
    tree["training"] = _training_record(state)
    out.parent.mkdir(parents=True, exist_ok=True)
    model_id = write_model(out, tree).hex()
    log.info("exported %s (model id %s)", out, model_id)
    return model_id


def _tables_state(t: PmfTables) -> dict:
    return {"counts": t.counts, "offsets": t.offsets, "lengths": t.lengths}


def _report_fixed_point_error(model, hyper: dict, synthesis: dict, z_samples, y_samples) -> None:
    hs = FixedPointHyperSynthesis(hyper)
    mean_err, n_index, n_diff = 0.0, 0, 0
    for z in z_samples[:4]:
        for zi in torch.round(z).double():
            mean, index = hs(zi.numpy())
            ref_mean, ref_scale = model.h_s(zi[None].float()).double()[0].chunk(2, 0)
            mean_err = max(mean_err, float(np.abs(mean / 256 - ref_mean.numpy()).max()))
            n_diff += int((np.searchsorted(hyper["scale_bounds"], ref_scale.numpy()) != index).sum())
            n_index += index.size
    fixed = FixedPointNetwork(synthesis["layers"])
    pix_err = 0.0
    for y in y_samples[:2]:
        for yi in y.double():
            x = fixed(np.rint(yi.numpy() * 2.0**fixed.in_frac)) * np.exp2(-fixed.out_frac)[:, None, None]
            pix_err = max(pix_err, 255 * float(np.abs(x - model.g_s(yi[None].float())[0].double().numpy()).max()))
    log.info("fixed point: hyper synthesis mean error <= %.4f, scale index differs for %.3f%%; "
             "synthesis error <= %.3f (8-bit levels)", mean_err, 100 * n_diff / max(n_index, 1), pix_err)
