"""The deterministic synthesis: integer latents -> 8-bit pixels, exactly.

The decoded image must be the same bytes on any machine (a stream encoded on a
GPU decodes bit-exactly on a CPU), and float32 convolutions differ with thread
count and instruction set. So the decoder's synthesis runs in exact fixed point
(scalecodec.exact.fixedpoint), and so does the inverse gain: its per-level vectors
are integers, and a fractional quality interpolates them linearly in integer
arithmetic.
"""

import numpy as np

from .fixedpoint import ACT_LIMIT, FixedPointNetwork, in_bands
from .prior import MEAN_FRAC_BITS

QUALITY_FRAC_BITS = 8  # the header's 8.8 fixed-point quality
# Elements of the largest activations of the bands made at once (float64: 8 bytes each):
# 256 MiB. With half that, a 12 MP decode of base v3 (N=128) took 32.0 s, not
# 27.4-29.6 s (each band recomputes the rows around it that its output reads),
# for a peak 0.15 GiB lower (1.18 GiB).
BAND_ELEMENTS = 1 << 25
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
        shift = self.network.in_frac - MEAN_FRAC_BITS - QUALITY_FRAC_BITS - self.inverse_gain_frac
        # In place, one latent-sized array alive beside y_fixed (a 12 MP
        # image's latent is 73 MB, and the bands below want the memory).
        x = np.clip(y_fixed, -Y_LIMIT, Y_LIMIT).astype(np.float64)
        x *= gain
        x *= 2.0**shift
        np.clip(np.rint(x, out=x), -ACT_LIMIT, ACT_LIMIT, out=x)
        x = in_bands(self.network, x, BAND_ELEMENTS, band_rows)
        x *= (255 * np.exp2(-self.network.out_frac))[:, None, None]
        return x

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
