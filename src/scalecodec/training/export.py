"""Turn a training checkpoint into a shippable model file.

The model file holds the float weights plus everything the coder needs as
integers, derived here once: the probability tables of z (per channel) and of
y (per scale-table entry), and the fixed-point hyper synthesis.
"""

import copy
import hashlib
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch

from ..entropy.tables import PmfTables
from ..nn.model import GainedHyperprior
from ..prior import ACT_BITS, WEIGHT_BITS, FixedPointHyperSynthesis
from .data import PatchPool

log = logging.getLogger(__name__)

SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64
TAIL_MASS = 1e-9
Z_RANGE = 1024


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
    c = model.n
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


@torch.no_grad()
def fixed_point_hyper_synthesis(model: GainedHyperprior, z_samples: list[torch.Tensor]) -> dict:
    """Quantize h_s, with activation ranges calibrated on z from training patches."""
    convs = [m for m in copy.deepcopy(model.h_s).double()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    maxima = [None] * len(convs)
    for z in z_samples:
        x = torch.round(z).double()
        for i, conv in enumerate(convs):
            x = conv(x)
            if i < len(convs) - 1:
                x = torch.relu(x)
                peak = x.abs().amax()
            else:
                peak = x.abs().amax(dim=(0, 2, 3))
            maxima[i] = peak if maxima[i] is None else torch.maximum(maxima[i], peak)
    layers, in_frac = [], 0
    for i, conv in enumerate(convs):
        transposed = isinstance(conv, torch.nn.ConvTranspose2d)
        w = conv.weight.detach().double()
        out_dim = 1 if transposed else 0
        per_out = w.abs().transpose(0, out_dim).flatten(1).amax(1)
        w_frac = _frac_bits(per_out, WEIGHT_BITS)
        shape = [1, 1, 1, 1]
        shape[out_dim] = -1
        w_int = torch.round(w * torch.exp2(w_frac).view(shape))
        bias = torch.round(conv.bias.detach().double() * torch.exp2(w_frac + in_frac))
        # Headroom of 2 for activations beyond the calibration set; beyond that they clip.
        out_frac = _frac_bits(maxima[i], ACT_BITS, headroom=2.0)
        if out_frac.dim() == 0:
            out_frac = out_frac.expand(w_int.shape[out_dim]).clone()
        layers.append(
            {
                "transposed": transposed,
                "stride": conv.stride[0],
                "weight": w_int.to(torch.int32),
                "bias": bias.to(torch.int64),
                "weight_frac": w_frac.to(torch.int32),
                "in_frac": in_frac,
                "out_frac": out_frac.to(torch.int32),
                "relu": i < len(convs) - 1,
            }
        )
        if i < len(convs) - 1:
            in_frac = int(out_frac[0])
    return {"layers": layers, "m": model.m, "scale_bounds": torch.from_numpy(scale_table()[:-1])}


@torch.no_grad()
def calibration_latents(model: GainedHyperprior, data: Path, batches: int = 24) -> list[torch.Tensor]:
    pool = PatchPool(data, crop=256, versions=1, seed=123)
    rng = np.random.default_rng(123)
    out = []
    for i in range(batches):
        x = pool.batch(4, rng)
        q = torch.full((4,), float(i % model.levels))
        gain, _ = model.gains(q)
        out.append(model.h_a(model.g_a(x) * gain))
    return out


def export(checkpoint: Path, data: Path, out: Path) -> str:
    """Write the model file; returns its id (hex of the first 16 sha256 bytes)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = state["config"]
    model = GainedHyperprior(cfg["n"], cfg["m"], cfg["lambdas"])
    model.load_state_dict(state["model"])
    model.eval()
    z = calibration_latents(model, data)
    fixed = fixed_point_hyper_synthesis(model, z)
    _report_fixed_point_error(model, fixed, z)
    z_tables, y_tables = factorized_tables(model), gaussian_tables(scale_table())
    payload = {
        "format": "scalecodec-model-1",
        "architecture": {"kind": "gained-mean-scale-hyperprior", "n": cfg["n"], "m": cfg["m"],
                         "lambdas": cfg["lambdas"]},
        "weights": {k: v for k, v in model.state_dict().items() if not k.startswith("z_density")},
        "hyper_synthesis": fixed,
        "z_tables": _tables_state(z_tables),
        "y_tables": _tables_state(y_tables),
        "training": {"steps": state["step"], "minutes": round(state["elapsed"] / 60, 1),
                     "hardware": state.get("hardware", "unknown"), "config": cfg},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, out)
    model_id = hashlib.sha256(out.read_bytes()).hexdigest()[:32]
    log.info("exported %s (model id %s)", out, model_id)
    return model_id


def _tables_state(t: PmfTables) -> dict:
    return {"counts": torch.from_numpy(t.counts), "offsets": torch.from_numpy(t.offsets),
            "lengths": torch.from_numpy(t.lengths)}


@torch.no_grad()
def _report_fixed_point_error(model: GainedHyperprior, fixed: dict, z_samples) -> None:
    hs = FixedPointHyperSynthesis(fixed)
    err, n_index, n_diff = 0.0, 0, 0
    bounds = fixed["scale_bounds"]
    for z in z_samples[:4]:
        mean, index = hs(torch.round(z))
        ref_mean, ref_scale = model.h_s(torch.round(z)).double().chunk(2, 1)
        err = max(err, (mean.double() / 256 - ref_mean).abs().max().item())
        ref_index = torch.bucketize(ref_scale.contiguous(), bounds)
        n_diff += int((ref_index != index).sum())
        n_index += index.numel()
    log.info("fixed-point hyper synthesis: max mean error %.4f, scale index differs for %.3f%%",
             err, 100 * n_diff / max(n_index, 1))
