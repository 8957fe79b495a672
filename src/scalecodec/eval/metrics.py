"""Distortion metrics on decoded 8-bit images, and the Bjontegaard delta rate."""

import math

import numpy as np

from ..errors import UsageError

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
    try:
        import torch
        from pytorch_msssim import ms_ssim as _ms_ssim
    except ImportError:
        raise UsageError("MS-SSIM needs torch and pytorch-msssim, which this install lacks: "
                         "pip install 'scalecodec[encode]'") from None

    def t(x):
        x = x if x.ndim == 3 else x[:, :, None]
        return torch.from_numpy(np.array(x, np.float32)).permute(2, 0, 1)[None]

    return float(_ms_ssim(t(a), t(b), data_range=255.0, size_average=True))


def ms_ssim_db(score: float) -> float:
    """MS-SSIM on a decibel scale, -10 log10(1 - MS-SSIM), where curves near 1
    separate enough to compare."""
    return float("inf") if score >= 1 else -10 * math.log10(1 - score)


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives: the interpolant keeps the data's monotony,
    so a BD integral never sees the overshoot a global cubic fit can add."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    d = np.zeros_like(y)
    if len(x) == 2:
        return d + delta[0]
    for k in range(1, len(x) - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    for end, (h0, h1, d0, d1) in ((0, (h[0], h[1], delta[0], delta[1])),
                                  (-1, (h[-1], h[-2], delta[-1], delta[-2]))):
        slope = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(slope) != np.sign(d0):
            slope = 0.0
        elif np.sign(d0) != np.sign(d1) and abs(slope) > 3 * abs(d0):
            slope = 3 * d0
        d[end] = slope
    return d


def pchip(x, y, t) -> np.ndarray:
    """Piecewise-cubic Hermite interpolation of (x, y) at t (x increasing)."""
    x, y, t = np.asarray(x, float), np.asarray(y, float), np.asarray(t, float)
    d = _pchip_slopes(x, y)
    k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
    h = x[k + 1] - x[k]
    s = (t - x[k]) / h
    return ((2 * s**3 - 3 * s**2 + 1) * y[k] + (s**3 - 2 * s**2 + s) * h * d[k]
            + (-2 * s**3 + 3 * s**2) * y[k + 1] + (s**3 - s**2) * h * d[k + 1])


def _rate_curve(points) -> tuple[np.ndarray, np.ndarray]:
    # Two settings can give the same file (an encoder's floor): one point.
    pts = sorted({(float(q), math.log(float(r))) for r, q in points})
    quality, log_rate = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    if len(pts) < 2 or np.any(np.diff(quality) <= 0):
        raise ValueError("a BD curve needs two or more points of distinct quality")
    return quality, log_rate


def bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float:
    """Bjontegaard delta rate (%) of test against anchor, at equal quality.

    Points are (bpp, quality), quality in dB (PSNR, or MS-SSIM in dB). Log rate
    is interpolated over quality with piecewise-cubic Hermite polynomials and
    averaged over the overlapping quality range only. Negative: test needs
    fewer bits.
    """
    qa, ra = _rate_curve(anchor)
    qt, rt = _rate_curve(test)
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if lo >= hi:
        raise ValueError("the two curves do not overlap in quality")
    grid = np.linspace(lo, hi, 2001)
    diff = pchip(qt, rt, grid) - pchip(qa, ra, grid)
    avg = float(np.sum((diff[1:] + diff[:-1]) / 2) / (len(grid) - 1))
    return (math.exp(avg) - 1) * 100


def quality_at(points: list[tuple[float, float]], bpp: float) -> float:
    """A rate-distortion curve's quality (points (bpp, quality)) linearly
    interpolated at bpp; nan outside the curve."""
    pts = sorted(points)
    return float(np.interp(bpp, [x for x, _ in pts], [y for _, y in pts], left=np.nan, right=np.nan))
