"""The deterministic LIFF prediction: a decoded layer -> the layer above, exactly.

An enhancement layer codes only its residual over this prediction, and the
next layer predicts from its decoded pixels, so encoder and decoder must agree
on every prediction to the bit, on any machine. Like the synthesis
(scalecodec.exact.synthesis), it runs in exact fixed point (scalecodec.exact.fixedpoint);
the geometry (nearest source pixel, offsets, scale token, bicubic weights) is
computed from integers. bitstream_spec.md section 6.3 states the arithmetic;
scalecodec.nn.liff is the float network it was exported from.

A prediction is returned as float64 values in 8-bit pixel units; they are
exact dyadic numbers (see `predict`), so adding a residual and rounding is
the same on every machine.
"""

import numpy as np

from .fixedpoint import ACT_LIMIT, EXACT_LIMIT, FixedPointLayer, FixedPointNetwork

INPUT_FRAC = 14  # pixels enter the networks as round(p / 255 * 2^14)
BICUBIC_FRAC = 14  # bicubic weights are integers in units of 2^-14
BICUBIC_A = -0.75  # torch's and OpenCV's bicubic kernel
QUERY_CHUNK = 16384  # target pixels per pass: bounds memory at any size (and fits caches)
# Target pixels per band: a band's source rows (with their halo) hold the
# per-source tables. With this band (and the tables rescaled in place) LIFF's
# peak in a 3 MP spatial encode fell from 1.44 to 0.79 GiB (2026-12-04).
BAND_PIXELS = 1 << 18
HEAD_LIMIT = 2.0**21  # |M| bound: hidden (< 2^15) x M, summed 64 times, stays below 2^53


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


def bicubic(pixels: np.ndarray, width: int, height: int, rows: slice = slice(None), top: int = 0,
            source_height: int | None = None) -> np.ndarray:
    """(3, h, w) pixel integers -> (3, height, width) integers in units of
    2^-(2*BICUBIC_FRAC) pixel levels; every sum is an exact integer. With
    rows, only those target rows, from pixels holding source rows top.. of
    an image source_height rows high (the rows their taps reach)."""
    tx, wx = bicubic_weights(pixels.shape[2], width)
    ty, wy = bicubic_weights(source_height or pixels.shape[1], height)
    ty, wy = ty[rows] - top, wy[rows]
    used = slice(int(ty.min()), int(ty.max()) + 1)
    across = np.einsum("chxk,xk->chx", pixels[:, used][:, :, tx], wx)
    return np.einsum("cyxk,yk->cyx", across[:, ty - used.start].transpose(0, 1, 3, 2), wy)


class FixedPointLiff:
    """LIFF evaluated per source pixel where it can be: the filter network's
    first layer is linear in the query, so the feature part is computed once
    per source pixel and the position parts once per row and per column; and
    its last layer's filter, dotted with the neighbourhood (which is also a
    source pixel's), becomes a 3 x hidden matrix per source pixel. Per target
    pixel that leaves one hidden layer and 3 x hidden products, instead of
    the whole network: 3-5x less work at the same result up to the documented
    rounding (bitstream_spec.md 6.2)."""

    def __init__(self, state: dict):
        self.features = FixedPointNetwork(state["features"])
        self.to_taps = FixedPointLayer(state["to_taps"])
        self.first, self.second = (FixedPointLayer(s) for s in state["hidden"])
        self.taps = int(state["taps"])
        self.tap_frac = int(state["tap_frac"])
        head = state["filter"]
        self.head_weight = np.asarray(head["weight"], np.float64)  # (3*9T + 3, hidden)
        self.head_bias = np.asarray(head["bias"], np.float64)
        self.head_frac = int(head["frac"])  # weights; the bias is at head_frac + hidden frac
        self.head_shift = int(head["shift"])
        if len(set(self.features.out_frac.tolist())) != 1 or len(set(self.second.out_frac.tolist())) != 1:
            raise ValueError("the LIFF feature and hidden layers need one output scale each")
        if np.abs(self.head_bias).max() * 9 * self.taps * ACT_LIMIT >= EXACT_LIMIT:
            raise ValueError("the LIFF filter bias could leave float64's exact integer range")
        if self.first.kind != "conv" or self.first.weight.shape[1] != self.features.layers[-1].weight.shape[0] + 4:
            raise ValueError("the LIFF filter network does not fit its features")

    @property
    def halo(self) -> int:
        """Source rows beyond a band that its predictions depend on: the
        feature network's and the tap convolution's reach, plus the 3x3
        neighbourhood, plus the bicubic taps' 2."""
        reach = sum(layer.weight.shape[-1] // 2 for layer in self.features.layers if layer.kind == "conv")
        return max(reach + self.to_taps.weight.shape[-1] // 2 + 1, 2)

    def predict(self, lower: np.ndarray, width: int, height: int, add_to: np.ndarray | None = None,
                rows: tuple[int, int] | None = None) -> np.ndarray:
        """lower (h, w, 3) uint8 -> prediction (3, height, width), float64 in
        pixel levels: bicubic(lower) + 255 * (filter . neighbourhood + offset).
        Made in bands of target rows, each from the source rows it reaches
        plus the halo: the same values as one pass, in memory set by the band.
        With add_to (3, height, width), the prediction is added into it
        instead (one addition, so the same as prediction + add_to) and
        add_to is returned: no image-sized prediction is held. With rows
        (r0, r1), only those target rows are made (and add_to, if given,
        holds just them): (3, r1 - r0, width)."""
        h = lower.shape[0]
        first, last = rows or (0, height)
        out = np.empty((3, last - first, width)) if add_to is None else add_to
        iy, _ = nearest_source(h, height)
        ty, _ = bicubic_weights(h, height)
        step = max(1, BAND_PIXELS // width)
        for r0 in range(first, last, step):
            r1 = min(last, r0 + step)
            a = max(0, int(min(iy[r0], ty[r0].min())) - self.halo)
            b = min(h, int(max(iy[r1 - 1], ty[r1 - 1].max())) + 1 + self.halo)
            band = self._predict_band(lower, a, b, width, height, r0, r1)
            if add_to is None:
                out[:, r0 - first : r1 - first] = band
            else:
                out[:, r0 - first : r1 - first] += band
        return out

    def _predict_band(self, lower: np.ndarray, a: int, b: int, width: int, height: int,
                      r0: int, r1: int) -> np.ndarray:
        """Target rows r0..r1 from the source rows a..b of lower."""
        h, w = lower.shape[:2]
        pixels = lower[a:b].transpose(2, 0, 1).astype(np.float64)
        rows = b - a
        x = np.rint(pixels * 2.0**INPUT_FRAC / 255)
        feats = self.features(x).reshape(-1, rows * w)
        feat_frac = int(self.features.out_frac[0])
        extra = self.to_taps(feats.reshape(-1, rows, w))
        taps = np.concatenate([_requantize(x, INPUT_FRAC, self.tap_frac),
                               _requantize(extra, int(self.to_taps.out_frac[0]), self.tap_frac)])
        hoods = _neighbourhoods(taps)  # (9T, rows*w)

        # First hidden layer = W_f feat(source) + W_y dy(row) + W_x dx(column)
        # + W_t token + bias: exact integer sums in any grouping.
        c = feats.shape[0]
        w1 = self.first.weight[:, :, 0, 0]
        one = 2.0**feat_frac
        iy, dy = nearest_source(h, height)
        iy, dy = iy[r0:r1] - a, dy[r0:r1]
        ix, dx = nearest_source(w, width)
        token = np.rint(np.array([h / height, w / width]) * one)
        # Source-indexed tables are row-major by source pixel, so gathering
        # a target pixel's row is one contiguous read.
        per_source = np.ascontiguousarray((w1[:, :c] @ feats).T)  # (rows*w, hidden)
        per_row = w1[:, c] * np.rint(dy * one)[:, None]  # (r1 - r0, hidden)
        per_column = w1[:, c + 1] * np.rint(dx * one)[:, None]  # (width, hidden)
        constant = w1[:, c + 2:] @ token + self.first.bias

        # Head: filter . neighbourhood = sum_j hidden_j M_j with M = W_filter^T N
        # per source pixel, requantized by 2^-shift so the sum stays exact.
        hidden = self.head_weight.shape[1]
        width9 = 9 * self.taps
        filters = self.head_weight[: 3 * width9].reshape(3, width9, hidden).transpose(0, 2, 1)
        m = hoods.T @ filters.reshape(3 * hidden, width9).T  # (rows*w, 3*hidden), row-major
        m *= 2.0**-self.head_shift  # in place: m is the band's largest table
        np.rint(m, out=m)
        m = np.clip(m, -HEAD_LIMIT, HEAD_LIMIT, out=m).reshape(-1, 3, hidden)
        beta = np.rint(hoods.T @ self.head_bias[: 3 * width9].reshape(3, width9).T * 2.0**-self.head_shift)
        offset_weight = self.head_weight[3 * width9:]
        offset_bias = self.head_bias[3 * width9:]

        # Per target pixel, channels last: (pixels, hidden) arrays keep the
        # gathers contiguous and the products single matrix calls.
        second_matrix = self.second.weight[:, :, 0, 0].T
        rows_per_chunk = max(1, QUERY_CHUNK // width)
        band = r1 - r0
        correction = np.empty((band, width, 3))
        offsets = np.empty((band, width, 3))
        for q0 in range(0, band, rows_per_chunk):
            q1 = min(band, q0 + rows_per_chunk)
            source = (iy[q0:q1, None] * w + ix[None, :]).ravel()
            acc = np.take(per_source, source, axis=0).reshape(q1 - q0, width, -1)
            acc += per_row[q0:q1, None]
            acc += per_column[None]
            acc += constant
            first = self.first.finish(acc.reshape(source.size, -1), channels_last=True)
            second = first @ second_matrix
            second += self.second.bias
            second = self.second.finish(second, channels_last=True)  # (n, hidden)
            dot = np.einsum("ncj,nj->nc", np.take(m, source, axis=0), second)
            dot += np.take(beta, source, axis=0)
            correction[q0:q1] = dot.reshape(q1 - q0, width, 3)
            offsets[q0:q1] = (second @ offset_weight.T + offset_bias).reshape(q1 - q0, width, 3)
        correction = correction.transpose(2, 0, 1)
        offsets = offsets.transpose(2, 0, 1)
        hidden_frac = int(self.second.out_frac[0])
        base = bicubic(pixels, width, height, slice(r0, r1), a, h) * 2.0 ** (-2 * BICUBIC_FRAC)
        dot_scale = 2.0 ** -(self.head_frac + hidden_frac + self.tap_frac - self.head_shift)
        return (base + 255 * correction * dot_scale) + 255 * offsets * 2.0 ** -(self.head_frac + hidden_frac)


def _requantize(x: np.ndarray, frac: int, to_frac: int) -> np.ndarray:
    return np.clip(np.rint(x * 2.0 ** (to_frac - frac)), -ACT_LIMIT, ACT_LIMIT)


def _neighbourhoods(taps: np.ndarray) -> np.ndarray:
    """(T, h, w) -> (9T, h*w): each pixel's 3x3 neighbourhood, edges
    replicated, in the order of torch's unfold (channel, row, column)."""
    t, h, w = taps.shape
    padded = np.pad(taps, ((0, 0), (1, 1), (1, 1)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    return windows.transpose(0, 3, 4, 1, 2).reshape(9 * t, h * w)
