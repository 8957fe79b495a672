"""Widen a trained base codec: its latent (M) and quality levels, or its
transforms (N).

A fresh wide codec is hours behind the trained narrow one per CPU hour, and
widening with every parameter training was measured to fail: random new
channels carry nothing the reconstruction needs yet, so rate and distortion
both push them to zero before the synthesis learns to read them. What works is
to keep the trained codec's function fixed at first and let only the new parts
learn (`masks`): the old channels' means and scales do not depend on the new
hidden units, and the new channels add to what the synthesis already makes.

The layout follows scalecodec.nn.transforms: the latent width enters the last
analysis layer (output rows), the first synthesis layer (input rows), the
first hyper-analysis layer (input columns), and the hyper-synthesis, whose
hidden widths are M and 3M/2 and whose output is M means then M scales.

Widening the transforms (`widen_transforms`) needs no such phase: the new
channels of g_a and g_s feed the old ones through zero weights, so the wide
codec computes exactly what the narrow one did, and everything trains from
the first step (their gradients are not zero, since the new channels carry
activity). The hyper networks keep their width: they cost little at 1/16 of
the resolution, and new z channels would start at 0, where the rounding
gives their weights no gradient.
"""

import math

import torch

from ..errors import UsageError
from ..nn.model import GainedHyperprior

# A new channel is read by the synthesis with a tenth of the default initial
# weights, so the widened codec starts within a fraction of a dB of the old one.
NEW_SYNTHESIS_INIT = 0.1


def _log_lambda_fit(old_lambdas: list[float], values: torch.Tensor, new_lambdas: list[float]) -> torch.Tensor:
    """Per-channel least-squares line of values (levels, C) over log lambda,
    evaluated at new_lambdas; log gains follow log lambda closely (the
    high-rate optimum is a slope of 1/2), so new levels start near it."""
    x = torch.tensor([math.log(l) for l in old_lambdas], dtype=torch.float64)
    xm = x.mean()
    v = values.double()
    slope = ((x - xm)[:, None] * (v - v.mean(0))).sum(0) / ((x - xm) ** 2).sum()
    xn = torch.tensor([math.log(l) for l in new_lambdas], dtype=torch.float64)
    return (v.mean(0) + slope * (xn - xm)[:, None]).to(values.dtype)


def widen(old: GainedHyperprior, m: int, lambdas: list[float]) -> tuple[GainedHyperprior, dict]:
    """The wide codec computing old's function on old's levels, and the masks
    (parameter name -> bool tensor, True where trainable in the new-only phase).

    lambdas must contain every old level's lambda."""
    m0, n = old.m, old.n
    old_lambdas = [float(l) for l in old.lambdas.tolist()]
    if m <= m0:
        raise UsageError(f"widening needs more latent channels than the base's {m0}")
    idx = {}
    for i, l in enumerate(old_lambdas):
        match = [j for j, nl in enumerate(lambdas) if math.isclose(nl, l, rel_tol=1e-6)]
        if not match:
            raise UsageError(f"the new quality levels must include the base's lambda {l}")
        idx[i] = match[0]
    new = GainedHyperprior(n, m, lambdas, z_channels=old.z_channels)
    new_levels = [j for j in range(len(lambdas)) if j not in idx.values()]
    mid0, mid = old.h_s[2].weight.shape[1], new.h_s[2].weight.shape[1]
    o, w = dict(old.named_parameters()), dict(new.named_parameters())
    masks = {name: torch.zeros_like(p, dtype=torch.bool) for name, p in w.items()}

    with torch.no_grad():
        # Everything whose shape does not depend on M is copied and frozen.
        for name, p in w.items():
            if name in o and o[name].shape == p.shape:
                p.copy_(o[name])

        def embed(name, old_slices, new_slices=None):
            w[name][new_slices or old_slices].copy_(o[name][old_slices])

        s = slice(0, m0)
        # Analysis: new latent channels are new output rows.
        embed("g_a.6.weight", (s,)); embed("g_a.6.bias", (s,))
        masks["g_a.6.weight"][m0:] = masks["g_a.6.bias"][m0:] = True
        # Synthesis: new latent channels are new input rows, read weakly at first.
        embed("g_s.0.weight", (s,))
        w["g_s.0.weight"][m0:] *= NEW_SYNTHESIS_INIT
        masks["g_s.0.weight"][m0:] = True
        # Hyper-analysis reads the new channels through new columns, zero at
        # first, so z (and with it every old mean and scale) starts unchanged.
        embed("h_a.0.weight", (slice(None), s))
        w["h_a.0.weight"][:, m0:] = 0
        masks["h_a.0.weight"][:, m0:] = True
        # Hyper-synthesis layer 1 (deconv n -> M): new hidden units are new columns.
        embed("h_s.0.weight", (slice(None), s)); embed("h_s.0.bias", (s,))
        masks["h_s.0.weight"][:, m0:] = masks["h_s.0.bias"][m0:] = True
        # Layer 2 (deconv M -> 3M/2): new hidden units must not feed old ones.
        embed("h_s.2.weight", (s, slice(0, mid0))); embed("h_s.2.bias", (slice(0, mid0),))
        w["h_s.2.weight"][m0:, :mid0] = 0
        masks["h_s.2.weight"][:, mid0:] = True
        masks["h_s.2.bias"][mid0:] = True
        # Layer 3 (conv 3M/2 -> 2M): old means are rows 0..m0, old scales m..m+m0.
        for out_old, out_new in ((slice(0, m0), slice(0, m0)), (slice(m0, 2 * m0), slice(m, m + m0))):
            w["h_s.4.weight"][out_new] = 0
            w["h_s.4.weight"][out_new, :mid0] = o["h_s.4.weight"][out_old]
            w["h_s.4.bias"][out_new] = o["h_s.4.bias"][out_old]
        for rows in (slice(m0, m), slice(m + m0, 2 * m)):
            masks["h_s.4.weight"][rows] = masks["h_s.4.bias"][rows] = True
        # Gains: old channels keep theirs at old levels; new levels start on
        # each channel's log-lambda line, new channels at the old channels' mean.
        for name in ("log_gain", "log_inverse_gain"):
            fitted = _log_lambda_fit(old_lambdas, o[name].data, lambdas)
            w[name][:, :m0] = fitted
            for i, j in idx.items():
                w[name][j, :m0] = o[name][i]
            w[name][:, m0:] = w[name][:, :m0].mean(1, keepdim=True)
            masks[name][:, m0:] = True
            masks[name][new_levels] = True
    # z's distribution moves as the hyper-analysis learns to read the new
    # channels, so its density follows it.
    for name in masks:
        if name.startswith("z_density."):
            masks[name][...] = True
    return new, masks


def _embed(new: torch.Tensor, old: torch.Tensor, out_axis: int) -> None:
    """Old weights into the old block; new inputs feed old outputs through
    zeros; new outputs keep their fresh initialisation."""
    in_axis = 1 - out_axis
    o, i = old.shape[out_axis], old.shape[in_axis]
    block = [slice(None)] * new.dim()
    block[out_axis], block[in_axis] = slice(0, o), slice(0, i)
    new[tuple(block)] = old
    block[in_axis] = slice(i, None)
    new[tuple(block)] = 0


def widen_transforms(old: GainedHyperprior, n: int) -> GainedHyperprior:
    """The codec with n channels in g_a and g_s computing old's function."""
    if n <= old.n:
        raise UsageError(f"widening the transforms needs more channels than the base's {old.n}")
    new = GainedHyperprior(n, old.m, old.lambdas.tolist(), z_channels=old.z_channels)
    o, w = dict(old.named_parameters()), dict(new.named_parameters())
    with torch.no_grad():
        for name, p in w.items():
            if o[name].shape == p.shape:
                p.copy_(o[name])
            elif name.endswith(".gamma"):
                # GDN: new channels are normalised as GDN starts; old rows'
                # new columns are zero (the initial off-diagonal), so old
                # channels are not normalised by new ones.
                p[: o[name].shape[0], : o[name].shape[1]] = o[name]
            elif p.dim() == 1:  # biases and GDN's beta
                p[: o[name].shape[0]] = o[name]
            else:
                transposed = isinstance(new.get_submodule(name.rsplit(".", 1)[0]), torch.nn.ConvTranspose2d)
                _embed(p, o[name], out_axis=1 if transposed else 0)
    return new


def averaged_weights(state: dict) -> dict:
    """A checkpoint's averaged weights (its weights where it keeps no average)."""
    delta = state.get("ema_delta", {})
    return {k: v + delta[k].to(v.dtype) if k in delta else v for k, v in state["model"].items()}


def load_widened(path: str, n: int, m: int, lambdas: list[float]) -> tuple[GainedHyperprior, dict | None]:
    """The base codec at path (its averaged weights, which are the ones
    measured), widened to n transforms' channels and m latent channels
    (either, both or neither), with the latent widening's masks."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    cfg = state["config"]
    if cfg.get("spatial_base") or cfg.get("fine_base") or cfg.get("context_base") or cfg.get("context_slices"):
        raise UsageError(f"{path} is not a base-codec checkpoint without a context model")
    model = GainedHyperprior.from_config(cfg)
    model.load_state_dict(averaged_weights(state))
    if n != model.n:
        model = widen_transforms(model, n)
    if m == model.m and lambdas == list(cfg["lambdas"]):
        return model, None
    return widen(model, m, lambdas)


class NewOnly:
    """Zeroes the gradients of the old parts while active, so Adam (whose
    moments then stay zero) never moves them."""

    def __init__(self, model: torch.nn.Module, masks: dict):
        self.active = True
        params = dict(model.named_parameters())
        for name, mask in masks.items():
            params[name].register_hook(self._hook(mask.to(params[name].device)))

    def _hook(self, mask):
        return lambda g: g * mask if self.active else g
