"""Encoder-side latent refinement: spend encoding time to save bits.

The analysis transform's latent is a first guess. Given the prior (z, and with
it every mean and scale-table index, from the exact path and left unchanged),
the encoder searches for the latent symbols that minimise the real
rate-distortion cost: the code lengths of the model's own integer tables plus
lambda times the squared error of the synthesis. The decoder and the format
are untouched; a refined stream is an ordinary stream.

The search is stochastic Gumbel annealing (Yang et al., "Improving inference
for neural image compression", NeurIPS 2020): each element is a soft choice
between rounding down and up, sampled with a temperature that falls to zero,
so the optimisation ends on integers. The synthesis it differentiates is the
decoder's own fixed-point network with its integer weights read as floats.
The result is kept only if it beats the unrefined symbols under that cost.
"""

import math
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from .effort import DEFAULT_EFFORT, ITERATIONS
from ..entropy.tables import PROB_BITS, PmfTables
from ..exact.fixedpoint import FixedPointNetwork
from ..exact.prior import MEAN_FRAC_BITS
from ..exact.synthesis import QUALITY_FRAC_BITS, FixedPointSynthesis

# The refinement's own CPU threads, fixed so that the same input, model and
# effort give the same bytes on a machine whatever its core count.
THREADS = 2
SEED = 0
LEARNING_RATE = 5e-3
ESCAPE_BITS = 32  # an escaped value is stored as an i32 beside the escape symbol


class FloatSynthesis(torch.nn.Module):
    """The fixed-point synthesis network evaluated in float: integer weights
    times their power-of-two scales. Its outputs follow the exact decoder's
    to within the exact one's roundings (a fraction of a level)."""

    def __init__(self, synthesis: FixedPointSynthesis):
        super().__init__()
        self.ops = []
        for layer in synthesis.network.layers:
            wf = torch.from_numpy(np.exp2(-layer.weight_frac))
            weight = torch.from_numpy(layer.weight)
            if layer.kind == "conv":
                w, b = weight * wf[:, None, None, None], torch.from_numpy(layer.bias) * wf * 2.0**-layer.in_frac
            elif layer.kind == "deconv":
                w, b = weight * wf[None, :, None, None], torch.from_numpy(layer.bias) * wf * 2.0**-layer.in_frac
            else:
                w = (weight * wf[:, None])[:, :, None, None]
                b = torch.from_numpy(layer.bias) * wf * 2.0 ** (-2 * layer.in_frac)
            self.ops.append((layer.kind, w.float(), b.float(), layer.relu))
        self.out_scale = 255.0

    def to(self, device):
        self.ops = [(k, w.to(device), b.to(device), r) for k, w, b, r in self.ops]
        return self

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """y (1, M, h, w) latents times the inverse gain -> (1, 3, 16h, 16w) in 8-bit levels."""
        x = y
        for kind, w, b, relu in self.ops:
            if kind == "conv":
                x = F.conv2d(x, w, b, padding=w.shape[-1] // 2)
            elif kind == "deconv":
                x = F.conv_transpose2d(x, w, b, stride=2, padding=2, output_padding=1)
            else:
                x = x * torch.sqrt(F.conv2d(x * x, w, b))
            if relu:
                x = F.relu(x)
        return x * self.out_scale


def inverse_gain(synthesis: FixedPointSynthesis, quality_fixed: int) -> np.ndarray:
    """The decoder's integer inverse gain as a float vector (M,)."""
    return synthesis.inverse_gain_at(quality_fixed) * 2.0 ** -(synthesis.inverse_gain_frac + QUALITY_FRAC_BITS)


def lambda_at(lambdas: list[float], quality: float) -> float:
    """The trade-off of a fractional quality (1-based): log-linear between levels."""
    q = min(max(quality - 1.0, 0.0), len(lambdas) - 1.0)
    lo = min(int(q), len(lambdas) - 2)
    t = q - lo
    return math.exp((1 - t) * math.log(lambdas[lo]) + t * math.log(lambdas[lo + 1]))


class CodeLength:
    """Bits of a symbol under its table, from the integer counts the coder
    uses, linearly interpolated between integers so that it has a gradient."""

    def __init__(self, tables: PmfTables, index: np.ndarray, device):
        counts = tables.counts.astype(np.float64)
        bits = PROB_BITS - np.log2(np.maximum(counts, 1))
        t = torch.from_numpy(index.astype(np.int64)).to(device)
        self.escape = torch.from_numpy(bits[np.arange(len(tables)), tables.lengths] + ESCAPE_BITS).to(device)[t].float()
        self.bits = torch.from_numpy(bits).float().to(device)
        self.offset = torch.from_numpy(tables.offsets.astype(np.int64)).to(device)[t]
        self.length = torch.from_numpy(tables.lengths.astype(np.int64)).to(device)[t]
        self.table = t

    def _at(self, v: torch.Tensor) -> torch.Tensor:
        """Bits of integer-valued v (long)."""
        i = v - self.offset
        inside = (i >= 0) & (i < self.length)
        b = self.bits[self.table, i.clamp(min=0).minimum(self.length - 1)]
        return torch.where(inside, b, self.escape)

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        """Total bits of real-valued symbols s."""
        lo = torch.floor(s.detach())
        t = s - lo
        lo = lo.long()
        return ((1 - t) * self._at(lo) + t * self._at(lo + 1)).sum()


@contextmanager
def _threads(device: torch.device):
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def refine(synthesis: FixedPointSynthesis, tables: PmfTables, y: np.ndarray, mean: np.ndarray,
           index: np.ndarray, target: np.ndarray, quality: float, lambdas: list[float], effort: int,
           device: torch.device, report: Callable[[int, int, float, float], None] | None = None,
           channels: tuple[int, int] | None = None, latent: np.ndarray | None = None) -> np.ndarray:
    """Symbols (M, h, w) int64 for latents y (float, after the gain), integer
    means (1/256 units) and table indexes, against target (3, H, W), the
    input in 8-bit levels (H, W at most 16h, 16w: the rest is padding the
    decoder crops). effort 1 rounds y; higher efforts search.
    report(iteration, iterations, bits, mse) is called as the search goes.

    With channels (a, b), y, mean and index are those channels' only (a
    context model's slice, whose tables depend on the slices before it), and
    the synthesis sees them within latent (M, h, w), every other channel's
    value in latent units: the slices already chosen, and y beyond."""
    symbols = np.rint(y - mean / 2**MEAN_FRAC_BITS).astype(np.int64)
    iterations = ITERATIONS[effort - 1]
    if effort == DEFAULT_EFFORT:
        return symbols
    with _threads(device), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(SEED)
        return _search(synthesis, tables, y, mean, index, target, quality, lambdas, iterations,
                       device, report, symbols, channels, latent)


def _search(synthesis, tables, y, mean, index, target, quality, lambdas, iterations, device, report, symbols,
            channels, latent):
    quality_fixed = round(quality * 256) - 256
    net = FloatSynthesis(synthesis).to(device)
    gain = torch.from_numpy(inverse_gain(synthesis, quality_fixed)).float().to(device)[None, :, None, None]
    mu = torch.from_numpy(mean / 2**MEAN_FRAC_BITS).float().to(device)[None]
    x = torch.from_numpy(target).float().to(device)[None]
    h, w = x.shape[-2:]
    rate = CodeLength(tables, index, device)
    lam = lambda_at(lambdas, quality)
    pixels = h * w
    if channels is None:
        def decoded(s):
            return s + mu
    else:
        a, b = channels
        rest = torch.from_numpy(latent).float().to(device)[None]

        def decoded(s):
            return torch.cat([rest[:, :a], s + mu, rest[:, b:]], 1)

    def cost(s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """RD cost per pixel as in training: bits per pixel + lambda * 255^2 *
        MSE on the [0, 1] scale, which is lambda * MSE in 8-bit levels."""
        bits = rate(s)
        mse = (net(decoded(s) * gain)[..., :h, :w] - x).pow(2).mean()
        return bits / pixels + lam * mse, bits, mse

    with torch.no_grad():
        start = torch.from_numpy(symbols).float().to(device)[None]
        best_cost = cost(start)[0].item()
    # Optimise the symbols' real-valued stand-in, from the analysis output.
    s = torch.from_numpy(y - mean / 2**MEAN_FRAC_BITS).float().to(device)[None].requires_grad_(True)
    opt = torch.optim.Adam([s], lr=LEARNING_RATE)
    for it in range(iterations):
        tau = 0.5 * (0.01 ** (it / max(1, iterations - 1)))  # 0.5 -> 0.005, geometric
        lo = torch.floor(s.detach())
        frac = s - lo
        # The closer an element is to an integer, the likelier it lands there.
        logits = torch.stack([-torch.atanh((frac).clamp(-1 + 1e-5, 1 - 1e-5)),
                              -torch.atanh((1 - frac).clamp(-1 + 1e-5, 1 - 1e-5))], -1) / tau
        weights = F.gumbel_softmax(logits, tau=1.0, hard=False, dim=-1)
        soft = lo + weights[..., 1]
        loss, bits, mse = cost(soft)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if report:
            report(it + 1, iterations, bits.item() / pixels, mse.item())
    with torch.no_grad():
        refined = torch.round(s)
        refined_cost = cost(refined)[0].item()
    if refined_cost < best_cost:
        return refined[0].cpu().numpy().astype(np.int64)
    return symbols
