"""The deterministic prior path: z_hat -> integer entropy parameters of y.

Encoder and decoder must derive bit-identical entropy parameters, or decoding
desynchronises into garbage (CompressAI issues #54, #279, #309). The hyper
synthesis therefore runs in fixed point: integer weights and activations with
power-of-two scales, evaluated as float64 convolutions on the CPU. Every
product and partial sum is an integer below 2**53, so float64 represents it
exactly and the result does not depend on summation order, thread count,
instruction set or BLAS. Rescaling by powers of two and rounding are exact too.
"""

import torch
import torch.nn.functional as F

ACT_BITS = 15  # activations are signed 16-bit integers
WEIGHT_BITS = 15
MEAN_FRAC_BITS = 8  # means are coded as integers in units of 1/256
ACC_LIMIT = 2.0**53


class FixedPointLayer:
    """One conv or transposed conv with integer weights (per-output-channel shift)."""

    def __init__(self, state: dict):
        self.transposed = bool(state["transposed"])
        self.stride = int(state["stride"])
        self.weight = state["weight"].to(torch.float64)  # integers
        self.bias = state["bias"].to(torch.float64)  # integers at the accumulator scale
        self.weight_frac = state["weight_frac"].to(torch.float64)  # per output channel
        self.in_frac = int(state["in_frac"])
        self.out_frac = state["out_frac"].to(torch.float64)  # per output channel
        self.relu = bool(state["relu"])
        k = self.weight.shape[-1]
        self.padding = k // 2
        fan_in = self.weight[0].numel() if not self.transposed else self.weight[:, 0].numel()
        if fan_in * 2.0 ** (ACT_BITS + WEIGHT_BITS) + self.bias.abs().max().item() >= ACC_LIMIT:
            raise ValueError("fixed-point layer could overflow float64's exact range")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.transposed:
            acc = F.conv_transpose2d(
                x, self.weight, self.bias, self.stride, self.padding, output_padding=self.stride - 1
            )
        else:
            acc = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        shift = torch.exp2(self.out_frac - self.in_frac - self.weight_frac).view(1, -1, 1, 1)
        out = torch.round(acc * shift)
        limit = 2.0**ACT_BITS - 1
        out = out.clamp(0 if self.relu else -limit, limit)
        return out


class FixedPointHyperSynthesis:
    """Integer hyper synthesis; outputs (mean in 1/256 units, scale-table index)."""

    def __init__(self, state: dict):
        self.layers = [FixedPointLayer(s) for s in state["layers"]]
        self.scale_bounds = state["scale_bounds"].to(torch.float64)  # table[:-1]
        self.m = int(state["m"])

    @torch.no_grad()
    def __call__(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = z_hat.to("cpu", torch.float64)
        for layer in self.layers:
            x = layer(x)
        frac = self.layers[-1].out_frac.view(1, -1, 1, 1)
        real_shift = torch.exp2(-frac)
        mean_q = x[:, : self.m] * real_shift[:, : self.m]
        scale = x[:, self.m :] * real_shift[:, self.m :]
        mean = torch.round(mean_q * 2.0**MEAN_FRAC_BITS).to(torch.int32)
        # Index of the smallest table scale >= scale (as CompressAI's build_indexes).
        index = torch.bucketize(scale.contiguous(), self.scale_bounds, right=False).to(torch.int32)
        return mean, index
