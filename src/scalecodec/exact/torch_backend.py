"""The exact fixed-point networks on torch, for CUDA (or a CPU with torch).

The same integer arithmetic as scalecodec.exact.fixedpoint, layer for layer and
operation for operation, in float64: every product and partial sum is an
integer below 2**53, so a convolution is exact whatever order cuDNN or ATen
sums in; rescaling by powers of two is exact; GDN's square root and its one
product are single IEEE float64 operations, correctly rounded on a CPU and on
a GPU alike. So the output is the same bytes as the numpy decoder's (tests
check it, byte for byte, on the CPU; scripts/gpu-check.sh on a GPU).
"""

import numpy as np
import torch
import torch.nn.functional as F

from .fixedpoint import ACT_LIMIT, FixedPointLayer, FixedPointNetwork


class TorchLayer:
    def __init__(self, layer: FixedPointLayer, device: torch.device):
        self.kind, self.relu = layer.kind, layer.relu
        as_tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=device)
        weight = layer.weight if layer.kind != "igdn" else layer.weight[:, :, None, None]
        self.weight, self.bias = as_tensor(weight), as_tensor(layer.bias)
        if layer.kind == "igdn":
            self.pre = as_tensor(np.exp2(-2 * layer.in_frac - layer.weight_frac))[:, None, None]
            self.post = as_tensor(np.exp2(layer.out_frac - layer.in_frac))[:, None, None]
        else:
            self.scale = as_tensor(np.exp2(layer.out_frac - layer.in_frac - layer.weight_frac))[:, None, None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (C, H, W) float64 integers, as FixedPointLayer.__call__."""
        if self.kind == "igdn":
            acc = F.conv2d((x * x)[None], self.weight, self.bias)[0]
            acc = torch.sqrt(acc * self.pre) * x
            return torch.clamp(torch.round(acc * self.post), -ACT_LIMIT, ACT_LIMIT)
        if self.kind == "conv":
            acc = F.conv2d(x[None], self.weight, self.bias, padding=self.weight.shape[-1] // 2)[0]
        else:
            acc = F.conv_transpose2d(x[None], self.weight, self.bias, stride=2, padding=2, output_padding=1)[0]
        return torch.clamp(torch.round(acc * self.scale), 0 if self.relu else -ACT_LIMIT, ACT_LIMIT)


class TorchNetwork:
    """A FixedPointNetwork evaluated by torch on device: numpy in, numpy out,
    the same values. Its other attributes are the wrapped network's."""

    parallel_bands = False  # torch has its own threads (and a GPU its own queue)

    def __init__(self, network: FixedPointNetwork, device: torch.device):
        self.network = network
        self.device = device
        self.torch_layers = [TorchLayer(layer, device) for layer in network.layers]

    def __getattr__(self, name):
        return getattr(self.network, name)

    @torch.no_grad()
    def __call__(self, x: np.ndarray, crops: list[slice] | None = None) -> np.ndarray:
        t = torch.as_tensor(np.asarray(x, np.float64), device=self.device)
        for i, layer in enumerate(self.torch_layers):
            t = layer(t)
            if crops:
                t = t[:, crops[i]]
        return t.cpu().numpy()


def on_device(model, device: str) -> None:
    """Run every exact network of a DecoderModel (and its enhancement layer)
    with torch on device."""
    dev = torch.device(device)
    parts = [model] + ([model.enhancement] if model.enhancement else [])
    for part in parts:
        for holder in (part.synthesis, part.hyper_synthesis):
            holder.network = TorchNetwork(holder.network, dev)
        liff = getattr(part, "liff", None)
        if liff is not None:
            liff.features = TorchNetwork(liff.features, dev)
