"""Training the fine-grained codec (after DeepFGS) from a trained base codec.

Each step reconstructs every sample from the whole latent and from two
random prefixes of its channels (the rest filled with their predicted
mean), and sums the rate-distortion loss of each: bits of z and of the
prefix's channels over the pixels, plus lambda * 255^2 * that prefix's MSE,
with one lambda per sample as in the base codec. So every prefix is trained
to be a codec of its own, and a channel learns to be worth its place.
"""

import numpy as np
import torch

from ..nn.fine import BASIC_CHANNELS, PrefixHyperprior

RANDOM_PREFIXES = 2


def sample_prefixes(rng: np.random.Generator, batch: int, m: int) -> list[torch.Tensor]:
    """Channel counts per prefix: RANDOM_PREFIXES uniform in [BASIC_CHANNELS, m), then m."""
    counts = [torch.from_numpy(rng.integers(BASIC_CHANNELS, m, size=batch)) for _ in range(RANDOM_PREFIXES)]
    return counts + [torch.full((batch,), m)]


def fine_rd_loss(out: dict, x: torch.Tensor, lambdas: torch.Tensor,
                 prefixes: list[torch.Tensor]) -> tuple[torch.Tensor, dict]:
    """Mean over prefixes of per-sample bpp + lambda * 255^2 * MSE; the stats
    are the whole stream's bpp and PSNR."""
    pixels = x.shape[2] * x.shape[3]
    cumulative = out["y_bits"].cumsum(1)
    loss = 0.0
    for k, x_hat in zip(prefixes, out["x_hats"]):
        bits = out["z_bits"] + cumulative.gather(1, (k.to(x.device) - 1)[:, None])[:, 0]
        mse = (x_hat - x).pow(2).flatten(1).mean(1)
        loss = loss + bits / pixels + lambdas * 255**2 * mse
    psnr = -10 * torch.log10(mse.detach().clamp(min=1e-10))
    return (loss / len(prefixes)).mean(), {"bpp": (bits / pixels).detach(), "psnr": psnr}


def order_by_importance(model: PrefixHyperprior, x: torch.Tensor, levels: int) -> list[int]:
    """Sort the base codec's channels by the distortion each adds when it is
    missing (averaged over quality levels), most important first: a start
    close to the order training will settle on."""
    added = sum(model.channel_importance(x, torch.full((x.shape[0],), float(q))) for q in range(levels))
    order = torch.argsort(added, descending=True)
    model.permute_channels(order)
    return order.tolist()
