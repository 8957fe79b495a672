"""The deterministic prior path: z_hat -> integer entropy parameters of y.

Encoder and decoder must derive identical entropy parameters, or decoding
desynchronises into garbage (CompressAI issues #54, #279, #309). Both run this
same exact fixed-point hyper synthesis (scalecodec.exact.fixedpoint) and map its
outputs to integers: means in units of 1/256 and indexes into the scale table.
"""

import numpy as np

from .fixedpoint import FixedPointNetwork, in_bands

MEAN_FRAC_BITS = 8
BAND_ELEMENTS = 1 << 23  # of the largest activations of the bands made at once


class FixedPointHyperSynthesis:
    """Integer hyper synthesis; outputs (mean in 1/256 units, scale-table index)."""

    def __init__(self, state: dict):
        self.network = FixedPointNetwork(state["layers"])
        self.scale_bounds = np.asarray(state["scale_bounds"], np.float64)  # table[:-1]
        self.m = int(state["m"])

    def values(self, z_hat: np.ndarray) -> np.ndarray:
        """z_hat: (N, h, w) integers -> the network's outputs (2M, 4h, 4w):
        means, then scales, as float64 values that are exact (integers times
        powers of two)."""
        out = in_bands(self.network, z_hat, BAND_ELEMENTS)
        out *= np.exp2(-self.network.out_frac)[:, None, None]
        return out

    def parameters(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The network's outputs (values) -> mean (M, 4h, 4w) int32, index (M, 4h, 4w) int32."""
        return entropy_parameters(values[: self.m], values[self.m :], self.scale_bounds)

    def __call__(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z_hat: (N, h, w) integers -> mean (M, 4h, 4w) int32, index (M, 4h, 4w) int32."""
        return self.parameters(self.values(z_hat))


def entropy_parameters(mean: np.ndarray, scale: np.ndarray, scale_bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and scale values -> mean in 1/256 units, rounded half to
    even, and the index of the smallest table scale >= scale (as
    CompressAI's build_indexes), both int32."""
    index = np.searchsorted(scale_bounds, scale, side="left").astype(np.int32)
    return np.rint(mean * 2.0**MEAN_FRAC_BITS).astype(np.int32), index
