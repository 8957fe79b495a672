"""The variable-rate mean-scale hyperprior: transforms plus gain vectors."""

import torch
from torch import nn

from .context import ChannelContext
from .density import FactorizedDensity, gaussian_likelihood, ste_round
from .transforms import Analysis, HyperAnalysis, HyperSynthesis, Synthesis


class GainedHyperprior(nn.Module):
    """Mean-scale hyperprior with per-channel gain vectors (Cui et al., CVPR 2021).

    Quality level k scales the latent by gain[k] before quantization and by
    inverse_gain[k] after it, so one set of transforms serves every rate. A
    fractional quality interpolates the neighbouring vectors linearly, which the
    decoder can repeat exactly in integers (scalecodec.exact.synthesis).
    """

    def __init__(self, n: int, m: int, lambdas: list[float], in_channels: int = 3,
                 z_channels: int | None = None, context_slices: int = 0,
                 context_hidden: tuple[int, int] = (64, 64)):
        super().__init__()
        # z_channels is the hyper networks' width (z's channels); it is n
        # unless the transforms were widened alone (scalecodec.training.widen).
        self.n, self.m, self.z_channels = n, m, z_channels or n
        self.register_buffer("lambdas", torch.tensor(lambdas, dtype=torch.float64))
        self.g_a = Analysis(n, m, in_channels)
        self.g_s = Synthesis(n, m)
        self.h_a = HyperAnalysis(self.z_channels, m)
        self.h_s = HyperSynthesis(self.z_channels, m)
        self.z_density = FactorizedDensity(self.z_channels)
        # A channel-conditional entropy model over the hyperprior (0: none).
        self.context = ChannelContext(m, context_slices, context_hidden) if context_slices else None
        # High-rate theory: the optimal step shrinks as lambda^-1/2, so start there.
        ref = lambdas[len(lambdas) // 2]
        log_gain = torch.tensor([0.5 * torch.log(torch.tensor(l / ref)).item() for l in lambdas])
        self.log_gain = nn.Parameter(log_gain[:, None].repeat(1, m))
        self.log_inverse_gain = nn.Parameter(-log_gain[:, None].repeat(1, m).clone())

    @classmethod
    def from_config(cls, cfg: dict) -> "GainedHyperprior":
        """The network a checkpoint's config describes (weights not loaded)."""
        return cls(cfg["n"], cfg["m"], cfg["lambdas"], z_channels=cfg.get("z_channels"),
                   context_slices=cfg.get("context_slices", 0),
                   context_hidden=tuple(cfg.get("context_hidden", (64, 64))))

    @property
    def levels(self) -> int:
        return self.log_gain.shape[0]

    def gains(self, quality: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gain and inverse gain (B, M, 1, 1) for qualities in [0, levels-1]."""
        quality = quality.clamp(0, self.levels - 1)
        lo = quality.floor().long().clamp(max=self.levels - 2)
        t = (quality - lo).to(self.log_gain.dtype)[:, None]
        gain, inverse = self.log_gain.exp(), self.log_inverse_gain.exp()
        g = (1 - t) * gain[lo] + t * gain[lo + 1]
        ig = (1 - t) * inverse[lo] + t * inverse[lo + 1]
        return g[:, :, None, None], ig[:, :, None, None]

    def latents(self, x: torch.Tensor, quality: torch.Tensor) -> dict:
        """The analysis pass, written once for training, inference, validation
        and export: y (after the gain), z (unrounded), the prior's mean and
        scale (the hyperprior's from z rounded, hyper_mean and hyper_scale,
        refined by the context model where there is one), y_hat (y rounded
        around its mean), y_rec (what the synthesis gets: y_hat, corrected by
        the context model's LRP) and the inverse gain. Rounding is
        straight-through, so gradients flow in training; its values are exact
        roundings ((round(v) - v) + v is round(v) in floating point), so
        inference gets the same numbers."""
        gain, inverse_gain = self.gains(quality)
        y = self.g_a(x).float() * gain
        z = self.h_a(y).float()
        mean, scale = self.h_s(ste_round(z)).float().chunk(2, dim=1)
        t = {"y": y, "z": z, "hyper_mean": mean, "hyper_scale": scale, "inverse_gain": inverse_gain}
        if self.context is not None:
            return {**t, **self.context(y, mean, scale)}
        y_hat = ste_round(y - mean) + mean
        return {**t, "mean": mean, "scale": scale, "y_hat": y_hat, "y_rec": y_hat}

    def forward(self, x: torch.Tensor, quality: torch.Tensor) -> dict:
        """Training pass: uniform noise for rates, rounding for reconstruction."""
        t = self.latents(x, quality)
        x_hat = self.g_s(t["y_rec"] * t["inverse_gain"]).float()
        y_lik, z_lik, hyper_lik = self.noisy_likelihoods(t)
        out = {"x_hat": x_hat, "likelihoods": (y_lik, z_lik)}
        if self.context is not None:
            # Fine-grained streams code y under the hyperprior alone (every
            # cut has it), so it keeps a rate of its own to learn from.
            out["hyper_likelihood"] = hyper_lik
        return out

    def noisy_likelihoods(self, t: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """y's likelihood under the prior, z's, and y's under the hyperprior
        alone (the same noise), under additive uniform noise (the training
        proxy for rounding). They stay in fp32 even under bf16 autocast:
        log-likelihoods of nearly-certain symbols need the mantissa."""
        y, z = t["y"], t["z"]
        with torch.autocast(device_type=y.device.type, enabled=False):
            z_lik = self.z_density.likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5))
            noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_lik = gaussian_likelihood(noisy, t["mean"], t["scale"])
            hyper_lik = y_lik if self.context is None else gaussian_likelihood(noisy, t["hyper_mean"], t["hyper_scale"])
        return y_lik, z_lik, hyper_lik

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
        """Inference pass (rounding, no rates): what a decoder shows, in float.
        x must be padded to a multiple of 64."""
        t = self.latents(x, quality)
        return self.g_s(t["y_rec"] * t["inverse_gain"]).clamp(0, 1)
