"""Distortion metrics on decoded 8-bit images, and the Bjontegaard delta rate."""

import math

import numpy as np

MS_SSIM_MIN_SIDE = 160


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """RGB PSNR in dB over all channels of two uint8 images."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (Wang et al. 2003) of two uint8 images, via pytorch-msssim.

    Five scales of an 11-tap window need both sides above 160 pixels; smaller
    images get NaN rather than a number from a different definition.
    """
    if min(a.shape[:2]) <= MS_SSIM_MIN_SIDE:
        return float("nan")
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def t(x):
        x = x if x.ndim == 3 else x[:, :, None]
        return torch.from_numpy(np.array(x, np.float32)).permute(2, 0, 1)[None]

    return float(_ms_ssim(t(a), t(b), data_range=255.0, size_average=True))


def bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float:
    """Average rate difference (%) of test vs anchor at equal PSNR.

    Points are (bpp, dB). Cubic fits of log-rate over PSNR, integrated over the
    overlapping PSNR range, as in VCEG-M33. Negative means test needs fewer bits.
    """
    ra, da = np.log([p[0] for p in anchor]), np.array([p[1] for p in anchor])
    rt, dt = np.log([p[0] for p in test]), np.array([p[1] for p in test])
    lo, hi = max(da.min(), dt.min()), min(da.max(), dt.max())
    if lo >= hi:
        raise ValueError("the two curves do not overlap in PSNR")
    deg_a, deg_t = min(3, len(da) - 1), min(3, len(dt) - 1)
    pa, pt = np.polyint(np.polyfit(da, ra, deg_a)), np.polyint(np.polyfit(dt, rt, deg_t))
    avg_a = (np.polyval(pa, hi) - np.polyval(pa, lo)) / (hi - lo)
    avg_t = (np.polyval(pt, hi) - np.polyval(pt, lo)) / (hi - lo)
    return float((math.exp(avg_t - avg_a) - 1) * 100)
