"""Fine-grained scalability (after DeepFGS): a hyperprior codec whose latent
channels are received in order, every prefix of them giving an image.

The first BASIC_CHANNELS channels and the hyper-latent z are the basic
features; every later channel is a scalable feature, coded conditioned on z
(which the basic part carries). A decoder that has the first k channels fills
the others with their predicted mean and runs the one synthesis transform.
Training on random prefixes (training/fine.py) makes the order meaningful:
channel c learns to carry what is most worth adding to channels 0..c-1. No
side information says the order; it is the channel index.
"""

import torch

from .model import GainedHyperprior

BASIC_CHANNELS = 4


class PrefixHyperprior(GainedHyperprior):
    """GainedHyperprior trained and evaluated on prefixes of its channels."""

    def forward(self, x: torch.Tensor, quality: torch.Tensor, prefixes: list[torch.Tensor]) -> dict:
        """Training pass. prefixes: per prefix, a (B,) tensor of channel counts.
        Returns the reconstruction of every prefix, the per-channel bits of
        y (B, M) and the bits of z (B,)."""
        t = self.latents(x, quality)
        y_lik, z_lik = self.noisy_likelihoods(t)
        y_hat, mean = t["y_hat"], t["mean"]
        channel = torch.arange(self.m, device=x.device)[None, :, None, None]
        x_hats = [self.g_s(torch.where(channel < k[:, None, None, None], y_hat, mean) * t["inverse_gain"]).float()
                  for k in prefixes]
        return {"x_hats": x_hats, "y_bits": -torch.log2(y_lik).sum((2, 3)),
                "z_bits": -torch.log2(z_lik).flatten(1).sum(1)}

    @torch.no_grad()
    def channel_importance(self, x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """(M,) MSE added by replacing each channel alone with its mean."""
        t = self.latents(x, quality)
        y_hat, mean, inverse_gain = t["y_hat"], t["mean"], t["inverse_gain"]
        full = self.g_s(y_hat * inverse_gain)
        added = torch.empty(self.m)
        for c in range(self.m):
            filled = y_hat.clone()
            filled[:, c] = mean[:, c]
            added[c] = (self.g_s(filled * inverse_gain) - full).pow(2).mean()
        return added

    @torch.no_grad()
    def permute_channels(self, order: torch.Tensor) -> None:
        """Renumber the latent channels: new channel i is old channel order[i].
        The codec computes the same function; only the coding order changes."""
        last = self.g_a[-1]
        last.weight.copy_(last.weight[order])
        last.bias.copy_(last.bias[order])
        self.log_gain.copy_(self.log_gain[:, order])
        self.log_inverse_gain.copy_(self.log_inverse_gain[:, order])
        first = self.h_a[0]
        first.weight.copy_(first.weight[:, order])
        out = self.h_s[-1]  # means, then scales
        both = torch.cat([order, order + self.m])
        out.weight.copy_(out.weight[both])
        out.bias.copy_(out.bias[both])
        synth = self.g_s[0]  # ConvTranspose2d: weight (in, out, k, k)
        synth.weight.copy_(synth.weight[order])
