"""The deterministic LIFF prediction: a decoded layer -> the layer above, exactly.

An enhancement layer codes only its residual over this prediction, and the
next layer predicts from its decoded pixels, so encoder and decoder must agree
on every prediction to the bit, on any machine. Like the synthesis
(scalecodec.synthesis), it runs in exact fixed point (scalecodec.fixedpoint);
the geometry (nearest source pixel, offsets, scale token, bicubic weights) is
computed from integers. bitstream_spec.md section 6.3 states the arithmetic;
scalecodec.nn.liff is the float network it was exported from.

A prediction is returned as float64 values in 8-bit pixel units; they are
exact dyadic numbers (see `predict`), so adding a residual and rounding is
the same on every machine.
"""

import numpy as np

from .fixedpoint import ACT_LIMIT, FixedPointLayer, FixedPointNetwork

INPUT_FRAC = 14  # pixels enter the networks as round(p / 255 * 2^14)
BICUBIC_FRAC = 14  # bicubic weights are integers in units of 2^-14
BICUBIC_A = -0.75  # torch's and OpenCV's bicubic kernel
QUERY_CHUNK = 65536  # target pixels per MLP pass: bounds memory at any size


def source_positions(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """For dst pixel centres on a centred grid over src pixels: the source
    position as (numerator, denominator 2*dst), i.e. p = ((2i+1)src - dst) / 2dst."""
    return (2 * np.arange(dst, dtype=np.int64) + 1) * src - dst, 2 * dst


def nearest_source(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest source pixel (ties to even, as torch.round) and the offset to it."""
    num, den = source_positions(src, dst)
    index = np.clip(np.rint(num / den), 0, src - 1).astype(np.int64)
    return index, (num - index * den) / den


def bicubic_weights(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """(taps (dst, 4) source indexes, clamped; integer weights (dst, 4) in
    units of 2^-BICUBIC_FRAC), as torch's bicubic with align_corners=False."""
    num, den = source_positions(src, dst)
    floor = np.floor_divide(num, den)
    t = (num - floor * den) / den
    a = BICUBIC_A
    s = 1 - t
    w = np.stack([
        ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * s - (a + 3)) * s * s + 1,
        ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a,
    ], 1)
    taps = np.clip(floor[:, None] + np.arange(-1, 3), 0, src - 1)
    return taps, np.rint(w * 2.0**BICUBIC_FRAC)


def bicubic(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """(3, h, w) pixel integers -> (3, height, width) integers in units of
    2^-(2*BICUBIC_FRAC) pixel levels; every sum is an exact integer."""
    tx, wx = bicubic_weights(pixels.shape[2], width)
    ty, wy = bicubic_weights(pixels.shape[1], height)
    rows = np.einsum("chxk,xk->chx", pixels[:, :, tx], wx)
    return np.einsum("cyxk,yk->cyx", rows[:, ty].transpose(0, 1, 3, 2), wy)


class FixedPointLiff:
    def __init__(self, state: dict):
        self.features = FixedPointNetwork(state["features"])
        self.to_taps = FixedPointLayer(state["to_taps"])
        self.mlp = FixedPointNetwork(state["mlp"])
        self.taps = int(state["taps"])
        self.tap_frac = int(state["tap_frac"])
        for net, what in ((self.features, "features"), (self.mlp, "filter network")):
            if len(set(net.out_frac.tolist())) != 1:
                raise ValueError(f"the LIFF {what} needs one output scale")

    def predict(self, lower: np.ndarray, width: int, height: int) -> np.ndarray:
        """lower (h, w, 3) uint8 -> prediction (3, height, width), float64 in
        pixel levels: bicubic(lower) + 255 * filter . neighbourhood."""
        pixels = lower.transpose(2, 0, 1).astype(np.float64)
        x = np.rint(pixels * 2.0**INPUT_FRAC / 255)
        feats = self.features(x)
        feat_frac = int(self.features.out_frac[0])
        extra = self.to_taps(feats)
        taps = np.concatenate([_requantize(x, INPUT_FRAC, self.tap_frac),
                               _requantize(extra, int(self.to_taps.out_frac[0]), self.tap_frac)])
        hoods = _neighbourhoods(taps)  # (9T, h*w)

        iy, dy = nearest_source(lower.shape[0], height)
        ix, dx = nearest_source(lower.shape[1], width)
        source = (iy[:, None] * lower.shape[1] + ix[None, :]).ravel()
        one = 2.0**feat_frac
        coords = np.stack([
            np.broadcast_to(np.rint(dy * one)[:, None], (height, width)).ravel(),
            np.broadcast_to(np.rint(dx * one)[None, :], (height, width)).ravel(),
        ])
        token = np.rint(np.array([lower.shape[0] / height, lower.shape[1] / width]) * one)
        flat = feats.reshape(feats.shape[0], -1)
        width9 = 9 * self.taps
        filter_frac = int(self.mlp.out_frac[0])
        correction = np.empty((3, height * width))
        for start in range(0, source.size, QUERY_CHUNK):
            sel = source[start:start + QUERY_CHUNK]
            n = sel.size
            query = np.concatenate([flat[:, sel], coords[:, start:start + n],
                                    np.broadcast_to(token[:, None], (2, n))])
            params = self.mlp(query[:, :, None])[:, :, 0]  # (3*9T + 3, n)
            filters = params[: 3 * width9].reshape(3, width9, n)
            acc = np.einsum("ckn,kn->cn", filters, hoods[:, sel])
            acc += params[3 * width9:] * 2.0**self.tap_frac
            correction[:, start:start + n] = acc
        scale = 2.0 ** -(filter_frac + self.tap_frac)
        base = bicubic(pixels, width, height) * 2.0 ** (-2 * BICUBIC_FRAC)
        return base + (255 * correction * scale).reshape(3, height, width)


def _requantize(x: np.ndarray, frac: int, to_frac: int) -> np.ndarray:
    return np.clip(np.rint(x * 2.0 ** (to_frac - frac)), -ACT_LIMIT, ACT_LIMIT)


def _neighbourhoods(taps: np.ndarray) -> np.ndarray:
    """(T, h, w) -> (9T, h*w): each pixel's 3x3 neighbourhood, edges
    replicated, in the order of torch's unfold (channel, row, column)."""
    t, h, w = taps.shape
    padded = np.pad(taps, ((0, 0), (1, 1), (1, 1)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    return windows.transpose(0, 3, 4, 1, 2).reshape(9 * t, h * w)
