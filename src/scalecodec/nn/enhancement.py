"""The enhancement layer: one set of weights for every layer and every factor.

A layer is predicted from the reconstruction below it by LIFF, and only the
residual (layer - prediction) is coded, by a gained mean-scale hyperprior
whose analysis also sees the prediction (so it can spend bits where the
prediction is poor). Quality levels and their gains work as in the base codec.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .liff import LocalImplicitFilter
from .model import GainedHyperprior

PAD = 64  # the residual codec's total stride, hyper-latent included


class EnhancementLayer(nn.Module):
    def __init__(self, n: int, m: int, lambdas: list[float]):
        super().__init__()
        self.liff = LocalImplicitFilter()
        self.residual = GainedHyperprior(n, m, lambdas, in_channels=6)
        # Start from "prediction only": the residual synthesis outputs zero.
        nn.init.zeros_(self.residual.g_s[-1].weight)
        nn.init.zeros_(self.residual.g_s[-1].bias)

    @torch.no_grad()
    def warm_start(self, base: GainedHyperprior) -> None:
        """Start the residual codec as the base codec coding residual + 1/2.

        Trained from scratch on two CPU cores, the residual codec learnt
        nothing in 2,000 steps (its output stayed ~0 while it spent bits).
        A residual + 1/2 lies in the base codec's own [0, 1] range, so the
        base transforms code it from the first step; the 1/2 folds into
        the first and last biases, and the prediction input starts unused.
        """
        self.residual.load_state_dict(
            {k: v for k, v in base.state_dict().items() if k != "g_a.0.weight"}, strict=False)
        first, weight = self.residual.g_a[0], base.g_a[0].weight
        first.weight.zero_()
        first.weight[:, :3] = weight
        first.bias += 0.5 * weight.sum(dim=(1, 2, 3))
        self.residual.g_s[-1].bias -= 0.5

    def forward(self, lower_hat: torch.Tensor, target: torch.Tensor, quality: torch.Tensor) -> dict:
        """Training pass: lower_hat (B, 3, h, w), target (B, 3, H, W), both in [0, 1]."""
        h, w = target.shape[-2:]
        prediction = self.liff(lower_hat, (h, w))
        pad = (0, -w % PAD, 0, -h % PAD)
        side = torch.cat([target - prediction, prediction], 1)
        out = self.residual(F.pad(side, pad, mode="replicate"), quality)
        return {
            "x_hat": prediction + out["x_hat"][..., :h, :w],
            "prediction": prediction,
            "likelihoods": out["likelihoods"],
        }
