"""Training the enhancement layer over a frozen base layer (COMPASS's recipe).

Each step draws a chain of layers, 2 or 3 of them, with random factors; the
crop is the top layer and each lower layer is its antialiased bicubic
downscale (torch's equivalent of the reference downscaler), rounded to 8 bits
as a real input would be. The base layer codes the smallest one; the shared
enhancement layer codes every other one from the reconstruction below it.
The loss is the sum over enhancement layers of bpp + lambda * 255^2 * MSE,
the same lambda for every layer and each bpp over that layer's own pixels,
plus the prediction's own MSE (see PREDICTION_WEIGHT).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..codecs.geometry import MAX_STEP, MIN_STEP, layer_sizes
from ..nn.enhancement import PAD, EnhancementLayer
from ..nn.model import GainedHyperprior


def sample_chain(rng: np.random.Generator) -> list[float]:
    """Scale factors relative to the BL: [1, f] or [1, m, f], every step in
    [MIN_STEP, MAX_STEP] and the total at most MAX_STEP."""
    if rng.random() < 0.5:
        return [1.0, float(rng.uniform(MIN_STEP, MAX_STEP))]
    total = float(rng.uniform(MIN_STEP**2, MAX_STEP))
    # The middle layer anywhere its two steps stay legal, not only at the
    # geometric mean, so the EL sees every pair of neighbouring factors.
    lo, hi = math.log(MIN_STEP), math.log(total) - math.log(MIN_STEP)
    return [1.0, float(math.exp(rng.uniform(lo, hi))), total]


def to_8bit(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.clamp(0, 1) * 255) / 255


class SpatialChain(nn.Module):
    """The frozen base layer and the trained enhancement layer, run as one
    chain so that one forward (and one DDP reduction) covers a step."""

    def __init__(self, base: GainedHyperprior, n: int, m: int, lambdas: list[float]):
        super().__init__()
        self.base = base.requires_grad_(False).eval()
        self.el = EnhancementLayer(n, m, lambdas)

    @property
    def lambdas(self) -> torch.Tensor:
        return self.el.residual.lambdas

    @property
    def levels(self) -> int:
        return self.el.residual.levels

    def train(self, mode: bool = True):
        super().train(mode)
        self.base.eval()
        return self

    def forward(self, x: torch.Tensor, quality: torch.Tensor, scales: list[float]) -> list[dict]:
        h, w = x.shape[-2:]
        sizes = layer_sizes(w, h, scales)
        targets = [to_8bit(F.interpolate(x, size=(lh, lw), mode="bicubic", antialias=True,
                                         align_corners=False))
                   for lw, lh in sizes[:-1]] + [x]
        bl = targets[0]
        bh, bw = bl.shape[-2:]
        padded = F.pad(bl, (0, -bw % PAD, 0, -bh % PAD), mode="replicate")
        lower = to_8bit(self.base.reconstruct(padded, quality)[..., :bh, :bw])
        outs = []
        for target in targets[1:]:
            out = self.el(lower, target, quality)
            out["target"] = target
            outs.append(out)
            # The next layer sees what a decoder would show: 8-bit pixels
            # (straight-through, so the chain still trains end to end).
            lower = out["x_hat"] + (to_8bit(out["x_hat"]) - out["x_hat"]).detach()
        return outs


# Weight of the prediction's own distortion in the loss. Without it the
# warm-started residual codec, which also sees the prediction, made LIFF
# drift: after 700 steps its prediction alone was 2-4 dB below bicubic
# upsampling, which ruins decoding above the top layer.
PREDICTION_WEIGHT = 1.0


def spatial_rd_loss(outs: list[dict], lambdas: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Sum over enhancement layers of per-sample bpp + lambda * 255^2 * (MSE
    + PREDICTION_WEIGHT * prediction MSE); the stats are the bpp of all
    enhancement layers and the top layer's PSNR."""
    loss, bpp_total = 0.0, 0.0
    for out in outs:
        target = out["target"]
        pixels = target.shape[2] * target.shape[3]
        bits = sum(-torch.log2(lik).flatten(1).sum(1) for lik in out["likelihoods"])
        mse = (out["x_hat"] - target).pow(2).flatten(1).mean(1)
        prediction_mse = (out["prediction"] - target).pow(2).flatten(1).mean(1)
        loss = loss + bits / pixels + lambdas * 255**2 * (mse + PREDICTION_WEIGHT * prediction_mse)
        bpp_total = bpp_total + (bits / pixels).detach()
    psnr = -10 * torch.log10(mse.detach().clamp(min=1e-10))
    return loss.mean(), {"bpp": bpp_total, "psnr": psnr}
