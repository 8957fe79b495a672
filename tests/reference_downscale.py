"""bitstream_spec.md section 6.5, the reference downscaler, written from the
spec without Pillow (tests/test_reference_downscale.py checks it against the
codec's, which calls Pillow). numpy for the loops over pixels only: every
weight is computed as the spec says, in binary64 then integers."""

import math

import numpy as np

A = -0.5


def kernel(x: float) -> float:
    t = abs(x)
    if t < 1.0:
        return ((A + 2.0) * t - (A + 3.0)) * t * t + 1
    if t < 2.0:
        return (((t - 5) * t + 8) * t - 4) * A
    return 0.0


def weights(n: int, m: int) -> list[tuple[int, list[int]]]:
    """(first tap, integer weights) of each of m outputs from n inputs."""
    scale = n / m
    f = max(scale, 1.0)
    support = 2.0 * f
    out = []
    for i in range(m):
        centre = (i + 0.5) * scale
        a = max(math.trunc(centre - support + 0.5), 0)
        b = min(math.trunc(centre + support + 0.5), n)
        w = [kernel((j - centre + 0.5) / f) for j in range(a, b)]
        total = sum(w)  # in order, as the spec's sum
        if total != 0:
            w = [v / total for v in w]
        out.append((a, [math.trunc(v * 2**22 + 0.5) if v >= 0 else math.trunc(v * 2**22 - 0.5) for v in w]))
    return out


def one_pass(x: np.ndarray, m: int) -> np.ndarray:
    """Reduce axis 0 of an integer array from n to m samples."""
    out = np.empty((m, *x.shape[1:]), np.int64)
    for i, (a, k) in enumerate(weights(x.shape[0], m)):
        acc = np.full(x.shape[1:], 2**21, np.int64)
        for j, kj in enumerate(k):
            acc += kj * x[a + j].astype(np.int64)
        out[i] = np.clip(acc >> 22, 0, 255)  # >> is floor division by 2**22
    return out


def downscale(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    x = pixels.astype(np.int64)
    if width != x.shape[1]:
        x = one_pass(x.swapaxes(0, 1), width).swapaxes(0, 1)  # along rows
    if height != x.shape[0]:
        x = one_pass(x, height)  # along columns
    return x.astype(np.uint8)
