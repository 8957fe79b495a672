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

    def __call__(self, z_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z_hat: (N, h, w) integers -> mean (M, 4h, 4w) int32, index (M, 4h, 4w) int32."""
        out = in_bands(self.network, z_hat, BAND_ELEMENTS)
        out *= np.exp2(-self.network.out_frac)[:, None, None]
        mean = np.rint(out[: self.m] * 2.0**MEAN_FRAC_BITS).astype(np.int32)
        # Index of the smallest table scale >= scale (as CompressAI's build_indexes).
        index = np.searchsorted(self.scale_bounds, out[self.m :], side="left").astype(np.int32)
        return mean, index
