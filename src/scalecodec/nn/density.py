"""Differentiable rate terms used in training (Balle et al., ICLR 2018).

Inference never evaluates these: the decoder codes against integer tables that
scalecodec.training.export derives from them once.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

LIKELIHOOD_FLOOR = 1e-9
SCALE_MIN = 0.11


class _LowerBound(torch.autograd.Function):
    # Passes gradients that push a bounded value back up, so a scale stuck at
    # the floor can still recover (a plain clamp would zero its gradient).
    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp(min=bound)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        passes = (x >= ctx.bound) | (grad < 0)
        return grad * passes, None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    return _LowerBound.apply(x, bound)


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def gaussian_likelihood(y: torch.Tensor, mean: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """P(round(y)) under N(mean, scale) integrated over the unit bin."""
    scale = lower_bound(scale, SCALE_MIN)
    v = torch.abs(y - mean)
    c = -1.0 / math.sqrt(2.0)
    upper = 0.5 * torch.erfc(c * (0.5 - v) / scale)
    lower = 0.5 * torch.erfc(c * (-0.5 - v) / scale)
    return lower_bound(upper - lower, LIKELIHOOD_FLOOR)


class FactorizedDensity(nn.Module):
    """A learned, per-channel univariate density for the hyper-latent z.

    The cumulative is a small monotone MLP per channel (Balle 2018, appendix 6).
    """

    def __init__(self, channels: int, filters=(3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(dims) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(dims) - 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def logits_cdf(self, x: torch.Tensor) -> torch.Tensor:
        """x: (C, 1, L) -> logit of the cumulative at x, same shape."""
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(m), x) + b
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def likelihood(self, z: torch.Tensor) -> torch.Tensor:
        """P(unit bin around z) for z of shape (B, C, h, w)."""
        b, c, h, w = z.shape
        flat = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lo = self.logits_cdf(flat - 0.5)
        hi = self.logits_cdf(flat + 0.5)
        # Evaluate on the side of the median where the sigmoid is not saturated.
        sign = -torch.sign(lo + hi).detach()
        p = torch.abs(torch.sigmoid(sign * hi) - torch.sigmoid(sign * lo))
        p = p.reshape(c, b, h, w).permute(1, 0, 2, 3)
        return lower_bound(p, LIKELIHOOD_FLOOR)
