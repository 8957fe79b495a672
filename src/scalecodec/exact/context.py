"""The channel-conditional context model in exact fixed point.

The exact form of scalecodec.nn.context.ChannelContext, run slice by slice
by encoder and decoder alike (code_slices), so both derive the same entropy
parameters from what the decoder has: the hyper synthesis's outputs and the
slices decoded so far. Each network is a FixedPointNetwork; its input is the
concatenation of exact values, rounded once to its input fraction bits.
"""

from collections.abc import Callable

import numpy as np

from .fixedpoint import ACT_LIMIT, FixedPointNetwork, blas_threads, in_bands
from .prior import MEAN_FRAC_BITS, entropy_parameters

BAND_ELEMENTS = 1 << 23  # of the largest activations of the bands made at once
LRP_LIMIT = 1 << (MEAN_FRAC_BITS - 1)  # a correction is at most half a step (in 1/256 units)


def run(network: FixedPointNetwork, inputs: list[np.ndarray]) -> np.ndarray:
    """network on the channels of inputs (exact float64 values), each
    rounded half to even at the network's input fraction bits and clamped to
    16 bits -> its outputs as exact float64 values."""
    x = np.concatenate(inputs) * 2.0**network.in_frac
    np.rint(x, out=x)
    np.clip(x, -ACT_LIMIT, ACT_LIMIT, out=x)
    out = in_bands(network, x, BAND_ELEMENTS)
    out *= np.exp2(-network.out_frac)[:, None, None]
    return out


class FixedPointContext:
    def __init__(self, state: dict):
        self.sizes = [int(s) for s in state["sizes"]]
        self.params = [FixedPointNetwork(layers) for layers in state["params"]]
        self.lrp = [FixedPointNetwork(layers) for layers in state["lrp"]]
        if not (len(self.sizes) == len(self.params) == len(self.lrp)) or min(self.sizes, default=0) < 1:
            raise ValueError("a context model needs one parameter and one LRP network per slice")
        for k, s in enumerate(self.sizes):
            inputs = 2 * s + sum(self.sizes[:k])
            for net, outputs in ((self.params[k], 2 * s), (self.lrp[k], s)):
                first, last = net.layers[0], net.layers[-1]
                if first.kind != "conv" or first.weight.shape[1] != inputs or last.bias.shape[0] != outputs:
                    raise ValueError(f"slice {k}'s context networks do not have {inputs} inputs "
                                     f"and {outputs} outputs")

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """Each slice's channels [a, b) of y, in coding order."""
        ends = np.cumsum(self.sizes).tolist()
        return [(e - s, e) for s, e in zip(self.sizes, ends)]

    def code_slices(self, hyper: np.ndarray, scale_bounds: np.ndarray,
                    code: Callable[[int, np.ndarray, np.ndarray], np.ndarray]) -> tuple[np.ndarray, ...]:
        """hyper: the hyper synthesis's exact outputs (2M, h, w), means then
        scales. Slice by slice: its mean (1/256 units) and table index from
        the parameter network, its symbols from code(k, mean, index) (the
        encoder chooses them, the decoder reads them), then its correction
        from the LRP network. Returns y_hat (M, h, w) int64 in 1/256 units,
        corrections included, and every slice's mean and index (M, h, w)."""
        # Bands of rows made at once on Python threads (in_bands), each on
        # one BLAS thread: BLAS's own threads were no faster at 1/16 of the
        # image's size, and they kept spinning after it, taking the cores
        # from the synthesis's bands (48-wide networks on Kodak: 1.40x v2's
        # decode time with them, 1.32x without; 64-wide networks: 1.42-1.47x
        # one band at a time, 1.31-1.35x two at once).
        with blas_threads(1):
            return self._code_slices(hyper, scale_bounds, code)

    def _code_slices(self, hyper, scale_bounds, code):
        m = hyper.shape[0] // 2
        y_fixed = np.empty((m, *hyper.shape[1:]), np.int64)
        mean = np.empty(y_fixed.shape, np.int32)
        index = np.empty(y_fixed.shape, np.int32)
        hats = []  # the slices' y_hat (without corrections) as exact values
        for k, (a, b) in enumerate(self.bounds):
            s = b - a
            out = run(self.params[k], [hyper[a:b], hyper[m + a : m + b], *hats])
            mean[a:b], index[a:b] = entropy_parameters(hyper[a:b] + out[:s], hyper[m + a : m + b] + out[s:],
                                                       scale_bounds)
            y_hat = np.asarray(code(k, mean[a:b], index[a:b]), np.int64) * 2**MEAN_FRAC_BITS + mean[a:b]
            hats.append(y_hat * 2.0**-MEAN_FRAC_BITS)
            correction = run(self.lrp[k], [hyper[a:b], *hats]) * 2.0**MEAN_FRAC_BITS
            np.rint(correction, out=correction)
            y_fixed[a:b] = y_hat + np.clip(correction, -LRP_LIMIT, LRP_LIMIT).astype(np.int64)
        return y_fixed, mean, index
