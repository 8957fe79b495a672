"""The deterministic synthesis: integer latents -> 8-bit pixels, exactly.

The decoded image must be the same bytes on any machine (a stream encoded on a
GPU decodes bit-exactly on a CPU), and float32 convolutions differ with thread
count and instruction set. So the decoder's synthesis runs in exact fixed point
(scalecodec.exact.fixedpoint), and so does the inverse gain: its per-level vectors
are integers, and a fractional quality interpolates them linearly in integer
arithmetic.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from .fixedpoint import ACT_LIMIT, FixedPointNetwork
from .prior import MEAN_FRAC_BITS

QUALITY_FRAC_BITS = 8  # the header's 8.8 fixed-point quality
# Elements of the largest activations of the bands made at once (float64: 8 bytes each).
BAND_ELEMENTS = 1 << 24
CORES = os.cpu_count() or 1
WORKERS = min(4, CORES)  # bands made at once (their memory shares BAND_ELEMENTS)
Y_LIMIT = 2**24  # |y_hat| bound (in 1/256 units) that keeps y * gain exact


class FixedPointSynthesis:
    def __init__(self, state: dict):
        self.network = FixedPointNetwork(state["layers"])
        self.inverse_gain = np.asarray(state["inverse_gain"], np.int64)  # (levels, M)
        self.inverse_gain_frac = int(state["inverse_gain_frac"])

    def inverse_gain_at(self, quality_fixed: int) -> np.ndarray:
        """Integer inverse gain (M,) in units of 2**-(frac + 8), for quality
        1 + quality_fixed / 256."""
        one = 1 << QUALITY_FRAC_BITS
        lo = min(quality_fixed // one, self.inverse_gain.shape[0] - 2)
        t = quality_fixed - lo * one
        return (one - t) * self.inverse_gain[lo] + t * self.inverse_gain[lo + 1]

    def values(self, y_fixed: np.ndarray, quality_fixed: int, band_rows: int | None = None) -> np.ndarray:
        """y_fixed: (M, h, w) int64 latents in 1/256 units -> (3, 16h, 16w)
        float64 in 8-bit levels (255 = 1.0), exact: an integer times 255 times
        a power of two."""
        gain = self.inverse_gain_at(quality_fixed).astype(np.float64)[:, None, None]
        y = np.clip(y_fixed, -Y_LIMIT, Y_LIMIT).astype(np.float64) * gain
        shift = self.network.in_frac - MEAN_FRAC_BITS - QUALITY_FRAC_BITS - self.inverse_gain_frac
        x = np.clip(np.rint(y * 2.0**shift), -ACT_LIMIT, ACT_LIMIT)
        x = self._banded(x, band_rows or self.band_rows(x.shape[2]))
        x *= (255 * np.exp2(-self.network.out_frac))[:, None, None]
        return x

    def band_rows(self, width: int) -> int:
        """Latent rows per band: the largest activations of the bands made at
        once (the last hidden layer, 8x8 pixels per latent element) within
        BAND_ELEMENTS."""
        channels = max(layer.bias.shape[0] for layer in self.network.layers)
        return max(1, BAND_ELEMENTS // (WORKERS * channels * 64 * width))

    def _banded(self, x: np.ndarray, rows: int) -> np.ndarray:
        """The network on bands of latent rows, each read with the rows around
        it that its output depends on (two latent rows each side, over the
        four 5x5 stride-2 layers), every layer computing only the rows that
        the layers after it read (FixedPointNetwork.rows_for). Every output
        value is the same integer arithmetic as in one pass, so the result is
        identical, whatever the bands and the order they are made in; memory
        follows the band.

        On the numpy backend WORKERS bands are made at once, each with its
        share of the BLAS threads: half the time is numpy's own elementwise
        work (im2col, GDN, rounding), which runs on one core per call, so one
        band at a time left a core idle."""
        h = x.shape[1]
        workers = WORKERS if self.network.parallel_bands else 1
        rows = max(1, min(rows, -(-h // workers)))
        up = int(np.prod([layer.up for layer in self.network.layers]))
        if rows >= h:
            return self.network(x)
        out = np.empty((self.network.layers[-1].bias.shape[0], h * up, x.shape[2] * up))

        def band(r0: int) -> None:
            r1 = min(h, r0 + rows)
            a, b, crops = self.network.rows_for(r0 * up, r1 * up, h)
            out[:, r0 * up : r1 * up] = self.network(x[:, a:b], crops)

        if workers == 1:
            for r0 in range(0, h, rows):
                band(r0)
            return out
        with threadpool_limits(max(1, CORES // workers), user_api="blas"), ThreadPoolExecutor(workers) as pool:
            list(pool.map(band, range(0, h, rows)))
        return out

    def __call__(self, y_fixed: np.ndarray, quality_fixed: int, band_rows: int | None = None) -> np.ndarray:
        """y_fixed: (M, h, w) int64 latents in 1/256 units -> (16h, 16w, 3) uint8."""
        return to_pixels(self.values(y_fixed, quality_fixed, band_rows))


PIXEL_BAND_ELEMENTS = 1 << 22  # values rounded per pass: no image-sized temporaries


def to_pixels(*parts: np.ndarray) -> np.ndarray:
    """The sum of (3, H, W) values in 8-bit levels (e.g. a prediction and its
    residual, added in that order) -> (H, W, 3) uint8, rounding half to even.
    In bands of rows, so that no temporary is image-sized."""
    c, h, w = parts[0].shape
    out = np.empty((h, w, c), np.uint8)
    rows = max(1, PIXEL_BAND_ELEMENTS // (c * w))
    for r0 in range(0, h, rows):
        band = parts[0][:, r0 : r0 + rows].copy()
        for part in parts[1:]:
            band += part[:, r0 : r0 + rows]
        np.rint(band, out=band)
        out[r0 : r0 + rows] = np.clip(band, 0, 255, out=band).astype(np.uint8).transpose(1, 2, 0)
    return out
