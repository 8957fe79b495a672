"""A channel-conditional entropy model (Minnen & Singh, ICIP 2020).

y is split along its channels into slices. Each slice's mean and scale are
the hyperprior's, refined by a small network that sees the hyperprior's
parameters of that slice and every slice decoded before it; a second network
(latent residual prediction, LRP) then predicts what rounding took from the
slice, and the synthesis gets the corrected latent. The decoder repeats this
slice by slice, so there is no serial loop over positions, only over slices.

Both networks end in zero-initialised layers: a new context model computes
exactly the hyperprior it refines, and training only moves it from there.
Only convolutions and ReLU, so the decoder can run them in exact fixed point
(scalecodec.exact.fixedpoint), as it runs the hyper synthesis.
"""

from itertools import accumulate

import torch
from torch import nn
import torch.nn.functional as F

from .density import ste_round

LRP_BOUND = 0.5  # a correction never moves a value out of its rounding bin


def slice_sizes(m: int, slices: int) -> list[int]:
    """m channels in `slices` slices as even as possible, larger ones first."""
    if not 1 <= slices <= m:
        raise ValueError(f"cannot split {m} latent channels into {slices} slices")
    return [m // slices + (k < m % slices) for k in range(slices)]


def _head(cin: int, hidden: int, cout: int) -> nn.Sequential:
    last = nn.Conv2d(hidden, cout, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(
        nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True),
        last,
    )


class ChannelContext(nn.Module):
    """For slice k of size s: params[k] maps [hyper mean_k, hyper scale_k,
    y_hat of slices < k] to (mean_k - hyper mean_k, scale_k - hyper scale_k);
    lrp[k] maps [hyper mean_k, y_hat of slices <= k] to the correction of
    slice k, within +-LRP_BOUND. The contexts are the rounded latents, not
    the corrected ones, so LRP serves the reconstruction alone."""

    def __init__(self, m: int, slices: int, hidden: tuple[int, int] = (64, 64)):
        """hidden: the parameter networks' and the LRP networks' widths. The
        decoder's time grows with them (issue 27 asks at most 1.3x the
        hyperprior's), and LRP earns less than the parameters do."""
        super().__init__()
        self.sizes = slice_sizes(m, slices)
        self.hidden = tuple(hidden)
        before = [sum(self.sizes[:k]) for k in range(slices)]
        self.params = nn.ModuleList(_head(2 * s + b, hidden[0], 2 * s) for s, b in zip(self.sizes, before))
        self.lrp = nn.ModuleList(_head(2 * s + b, hidden[1], s) for s, b in zip(self.sizes, before))

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """Each slice's channels [a, b) of y, in order."""
        return [(e - s, e) for s, e in zip(self.sizes, accumulate(self.sizes))]

    def forward(self, y: torch.Tensor, mean_h: torch.Tensor, scale_h: torch.Tensor) -> dict:
        """y and the hyperprior's mean and scale (B, M, h, w) -> the context
        model's mean and scale, y_hat (y rounded around that mean,
        straight-through) and y_rec (y_hat corrected by LRP). In fp32 even
        under autocast: the latents' values reach hundreds, where bf16
        resolves only halves, and these networks cost little at 1/16 size."""
        with torch.autocast(device_type=y.device.type, enabled=False):
            y, mean_h, scale_h = y.float(), mean_h.float(), scale_h.float()
            means, scales, hats, recs = [], [], [], []
            for (a, b), params, lrp in zip(self.bounds, self.params, self.lrp):
                d_mean, d_scale = params(torch.cat([mean_h[:, a:b], scale_h[:, a:b], *hats], 1)).chunk(2, 1)
                mean = mean_h[:, a:b] + d_mean
                y_hat = ste_round(y[:, a:b] - mean) + mean
                hats.append(y_hat)
                correction = lrp(torch.cat([mean_h[:, a:b], *hats], 1))
                recs.append(y_hat + F.hardtanh(correction, -LRP_BOUND, LRP_BOUND))
                means.append(mean)
                scales.append(scale_h[:, a:b] + d_scale)
            cat = lambda parts: torch.cat(parts, 1)  # noqa: E731
            return {"mean": cat(means), "scale": cat(scales), "y_hat": cat(hats), "y_rec": cat(recs)}
