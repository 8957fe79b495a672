"""The channel-conditional context model in exact fixed point.

The exact form of scalecodec.nn.context.ChannelContext, run slice by slice
by encoder and decoder alike (code_slices), so both derive the same entropy
parameters from what the decoder has: the hyper synthesis's outputs and the
slices decoded so far. Each network is a FixedPointNetwork; its input is the
concatenation of exact values, rounded once to its input fraction bits.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .fixedpoint import ACT_LIMIT, CORES, WORKERS, FixedPointNetwork, blas_threads, in_bands
from .prior import MEAN_FRAC_BITS, entropy_parameters

BAND_ELEMENTS = 1 << 23  # of the largest activations of the bands made at once
BANDS = max(1, WORKERS // 2)  # per network while two run at once (code_slices)
# The parameter networks' first-layer shares made ahead (code_slices) are
# held at once: up to 64 MiB of them (12 MP: 5 x 24 MiB do not fit; Kodak: 3.8 MiB).
SHARE_ELEMENTS = 1 << 23
LRP_LIMIT = 1 << (MEAN_FRAC_BITS - 1)  # a correction is at most half a step (in 1/256 units)


def quantised(network: FixedPointNetwork, inputs: list[np.ndarray]) -> np.ndarray:
    """The channels of inputs (exact float64 values) as network's input
    integers: each rounded half to even at its input fraction bits and
    clamped to 16 bits (channel by channel, so inputs may come in parts)."""
    x = np.concatenate(inputs) * 2.0**network.in_frac
    np.rint(x, out=x)
    return np.clip(x, -ACT_LIMIT, ACT_LIMIT, out=x)


def values(network: FixedPointNetwork, out: np.ndarray) -> np.ndarray:
    """A network's output integers as exact float64 values."""
    out *= np.exp2(-network.out_frac)[:, None, None]
    return out


def run(network: FixedPointNetwork, inputs: list[np.ndarray], bands: int) -> np.ndarray:
    """network on the channels of inputs (quantised), in up to `bands` bands
    at once -> its outputs as exact float64 values."""
    return values(network, in_bands(network, quantised(network, inputs), BAND_ELEMENTS, workers=bands))


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
        # Slice k's LRP network and slice k+1's parameter network read the
        # same decoded slices and not each other's outputs, so the LRP runs on
        # a helper thread beside the next slice's parameters and symbols; the
        # helper first makes each parameter network's share of its first
        # layer from the hyper synthesis's channels (known before any slice),
        # which balances the two threads. Each network is whole (or in BANDS
        # bands) on its share of BLAS's threads: at 1/16 of the image's size,
        # bands of one network cost their overlapping rows and a thread pool
        # per call, and BLAS's own threads were no faster and kept spinning
        # after it (64-wide networks on Kodak: 1.42-1.47x v2's decode time one
        # band at a time, 1.31-1.35x two bands at once, all serial; 1.30x
        # with the LRP beside; 1.25-1.28x with the shares made ahead, best of
        # five, results/kodak/context-speed.md).
        with blas_threads(max(1, CORES // (2 * BANDS))), ThreadPoolExecutor(1) as helper:
            return self._code_slices(hyper, scale_bounds, code, helper)

    def _code_slices(self, hyper, scale_bounds, code, helper):
        m = hyper.shape[0] // 2
        y_fixed = np.empty((m, *hyper.shape[1:]), np.int64)
        mean = np.empty(y_fixed.shape, np.int32)
        index = np.empty(y_fixed.shape, np.int32)

        def hyper_share(k: int) -> np.ndarray:
            a, b = self.bounds[k]
            net = self.params[k]
            return net.layers[0].partial(quantised(net, [hyper[a:b], hyper[m + a : m + b]]), 0)

        def correct(k: int, y_hat: np.ndarray, hats: list[np.ndarray], bands: int) -> None:
            a, b = self.bounds[k]
            correction = run(self.lrp[k], [hyper[a:b], *hats], bands) * 2.0**MEAN_FRAC_BITS
            np.rint(correction, out=correction)
            y_fixed[a:b] = y_hat + np.clip(correction, -LRP_LIMIT, LRP_LIMIT).astype(np.int64)

        ahead = self.params[0].layers[0].bias.shape[0] * hyper[0].size * (len(self.sizes) - 1) <= SHARE_ELEMENTS
        shares = [None] + [helper.submit(hyper_share, k) if ahead else None for k in range(1, len(self.sizes))]
        hats = []  # the slices' y_hat (without corrections) as exact values
        corrections = []
        for k, (a, b) in enumerate(self.bounds):
            s, net = b - a, self.params[k]
            if shares[k] is None:  # the first slice, or too large to make ahead: in bands
                out = run(net, [hyper[a:b], hyper[m + a : m + b], *hats], BANDS)
            else:
                acc = shares[k].result() + net.layers[0].partial(quantised(net, hats), 2 * s)
                out = values(net, net.from_accumulator(acc))
            mean[a:b], index[a:b] = entropy_parameters(hyper[a:b] + out[:s], hyper[m + a : m + b] + out[s:],
                                                       scale_bounds)
            y_hat = np.asarray(code(k, mean[a:b], index[a:b]), np.int64) * 2**MEAN_FRAC_BITS + mean[a:b]
            hats.append(y_hat * 2.0**-MEAN_FRAC_BITS)
            shares[k] = None  # each share is a slice's activations (24 MiB on 12 MP): freed once used
            last = k == len(self.sizes) - 1  # it runs alone: in WORKERS bands
            corrections.append(helper.submit(correct, k, y_hat, list(hats), WORKERS if last else BANDS))
        for done in corrections:
            done.result()
        return y_fixed, mean, index
