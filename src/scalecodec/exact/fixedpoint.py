"""Exact fixed-point evaluation of the decoder's networks, in numpy.

Weights and activations are integers with power-of-two scales. Convolutions
are float64 matrix products of those integers: every product and partial sum
is an integer below 2**53, so float64 holds it exactly and the result does not
depend on summation order, thread count, instruction set or BLAS. Rescaling by
a power of two and rounding are exact; GDN's square root is one correctly
rounded IEEE operation. The decoder's output is the same bytes on every
machine, and decoding needs neither torch nor a GPU.

A layer's state (written by scalecodec.training.export) holds:
  kind        "conv" (stride 1), "deconv" (stride 2) or "igdn"
  weight      integer weights (conv: out, in, k, k; deconv: in, out, k, k;
              igdn: the gamma matrix, out, in)
  bias        integers at the accumulator scale (igdn: beta)
  weight_frac per-output-channel fraction bits of the weights
  in_frac     fraction bits of the input activations (one per layer)
  out_frac    per-output-channel fraction bits of the output activations
  relu        1 if negative outputs are zeroed
"""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from itertools import groupby

import numpy as np
from threadpoolctl import ThreadpoolController

ACT_BITS = 15  # activations are signed 16-bit integers
WEIGHT_BITS = 15
ACT_LIMIT = 2.0**ACT_BITS - 1
MAX_IN_FRAC = 30  # a layer's input fraction bits
EXACT_LIMIT = 2.0**53
_BAND_ELEMENTS = 1 << 22  # bounds the im2col buffer of one band of rows
_IGDN_CHUNK = 1 << 19  # elements of one GDN temporary: 4 MiB, cache-sized
CORES = os.cpu_count() or 1
WORKERS = min(4, CORES)  # bands made at once by in_bands (sharing its memory bound)


class FixedPointLayer:
    def __init__(self, state: dict):
        self.kind = str(state["kind"])
        self.weight = np.asarray(state["weight"], np.float64)
        self.bias = np.asarray(state["bias"], np.float64)
        self.weight_frac = np.asarray(state["weight_frac"], np.float64)
        self.in_frac = int(state["in_frac"])
        self.out_frac = np.asarray(state["out_frac"], np.float64)
        self.relu = bool(state["relu"])
        self._check_state()
        if self.kind == "igdn":
            fan_in, largest_input = self.weight.shape[1], ACT_LIMIT**2
        elif self.kind == "conv":
            fan_in, largest_input = self.weight[0].size, ACT_LIMIT
        else:
            fan_in, largest_input = self.weight[:, 0].size, ACT_LIMIT
        worst = fan_in * largest_input * 2.0**WEIGHT_BITS + np.abs(self.bias).max()
        if worst >= EXACT_LIMIT:
            raise ValueError(f"a {self.kind} layer could leave float64's exact integer range")
        self._parts = {}  # stacked weights of input channel ranges (partial)
        if self.kind == "igdn":
            # out = rint(sqrt((gamma @ x^2 + beta) * pre) * x * post), with pre
            # and post powers of two. Scaling by a power of two is exact and
            # commutes with IEEE rounding, and sqrt(a * post^2) = sqrt(a) *
            # post, so gamma and beta scaled by pre * post^2 give the same
            # integers in two elementwise passes fewer (6% of GDN's time with
            # N=128).
            scale = np.exp2(-2 * self.in_frac - self.weight_frac + 2 * (self.out_frac - self.in_frac))[:, None]
            self._igdn_scaled = (self.weight * scale, self.bias[:, None] * scale)
        if self.kind == "conv":
            cout, cin, k, _ = self.weight.shape
            self._matrix = self.weight.reshape(cout, -1)  # (out, in*k*k)
            # No more outputs than inputs (the context networks' layers):
            # scatter each tap's product instead of gathering a k*k-times-the-
            # input column buffer.
            self._stacked = (self.weight.transpose(2, 3, 0, 1).reshape(k * k * cout, cin)
                             if k > 1 and cout <= cin else None)
        elif self.kind == "deconv":
            self._matrix = _subpixel_matrix(self.weight)
            cin, cout = self.weight.shape[:2]
            # Few outputs (the last layer: 3): scatter the input's 25 taps
            # instead of gathering a 9x-the-input column buffer.
            self._taps = _scatter_taps(self._matrix, cin) if 25 * cout < 9 * cin else None
            self._phases = _phase_blocks(self._matrix, cin) if self._taps is None else None

    def _check_state(self) -> None:
        """A model file's integers are checked before use: exactness (the
        bound below) and the output's meaning rest on them."""
        dims = {"conv": 4, "deconv": 4, "igdn": 2}.get(self.kind)
        if dims is None:
            raise ValueError(f"unknown fixed-point layer kind {self.kind!r}")
        if self.weight.ndim != dims:
            raise ValueError(f"a {self.kind} layer's weights have {self.weight.ndim} dimensions, not {dims}")
        outputs = self.weight.shape[1 if self.kind == "deconv" else 0]
        if self.kind == "igdn" and self.weight.shape[1] != outputs:
            raise ValueError("an igdn layer's gamma matrix is not square")
        for name, values, limit in (("weight", self.weight, 2.0**WEIGHT_BITS), ("bias", self.bias, EXACT_LIMIT),
                                    ("weight_frac", self.weight_frac, 62), ("out_frac", self.out_frac, 62)):
            if not (np.all(np.isfinite(values)) and np.all(values == np.rint(values))
                    and np.all(np.abs(values) <= limit)):
                raise ValueError(f"a {self.kind} layer's {name} are not integers within +-{limit:g}")
        for name, values in (("bias", self.bias), ("weight_frac", self.weight_frac), ("out_frac", self.out_frac)):
            if values.shape != (outputs,):
                raise ValueError(f"a {self.kind} layer's {name} has shape {values.shape}, not ({outputs},)")
        if not 0 <= self.in_frac <= MAX_IN_FRAC:
            raise ValueError(f"a {self.kind} layer's in_frac {self.in_frac} is outside 0..{MAX_IN_FRAC}")
        if self.kind == "igdn" and (self.weight.min() < 0 or self.bias.min() <= 0):
            # Its square root needs a positive argument.
            raise ValueError("an igdn layer needs gamma >= 0 and beta > 0")

    @property
    def up(self) -> int:
        """Output rows per input row."""
        return 2 if self.kind == "deconv" else 1

    def input_rows(self, o0: int, o1: int) -> tuple[int, int]:
        """The input rows [i0, i1) that output rows [o0, o1) read (before
        clipping to the image, outside which the layer reads zeros)."""
        if self.kind == "deconv":  # output row 2u + a reads input rows u - 1 .. u + 1
            return o0 // 2 - 1, (o1 - 1) // 2 + 2
        p = self.weight.shape[-1] // 2 if self.kind == "conv" else 0
        return o0 - p, o1 + p

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: (C, H, W) float64 integers -> (C', H', W') float64 integers."""
        if self.kind == "igdn":
            return self._igdn(x)
        acc = self._conv(x) if self.kind == "conv" else self._deconv(x)
        acc += self.bias[:, None, None]
        return self.finish(acc)

    def partial(self, x: np.ndarray, first: int) -> np.ndarray:
        """A stride-1 convolution's accumulator from input channels [first,
        first + len(x)) alone, without the bias. The accumulator is linear in
        the inputs and its integer sums are exact in any order, so the parts
        of a split input add up to the whole layer's."""
        key = (first, x.shape[0])
        if key not in self._parts:  # a race only makes it twice
            self._parts[key] = np.ascontiguousarray(
                self.weight[:, first : first + x.shape[0]].transpose(2, 3, 0, 1).reshape(-1, x.shape[0]))
        return _scattered_conv(self._parts[key], x, self.weight.shape[-1])

    def finish(self, acc: np.ndarray, channels_last: bool = False) -> np.ndarray:
        """Accumulator (weights times inputs plus bias; channels first unless
        channels_last) -> output activations: rescale, round half to even,
        clamp (ReLU clamps at 0)."""
        scale = np.exp2(self.out_frac - self.in_frac - self.weight_frac)
        acc *= scale if channels_last else scale.reshape(-1, *[1] * (acc.ndim - 1))
        np.rint(acc, out=acc)
        return np.clip(acc, 0 if self.relu else -ACT_LIMIT, ACT_LIMIT, out=acc)

    def _conv(self, x: np.ndarray) -> np.ndarray:
        """Stride 1, padding k//2."""
        if self.weight.shape[-1] == 1:
            return (self._matrix @ x.reshape(x.shape[0], -1)).reshape(-1, *x.shape[1:])
        if self._stacked is not None:
            return _scattered_conv(self._stacked, x, self.weight.shape[-1])
        return _banded_matmul(self._matrix, x, self.weight.shape[-1])

    def _deconv(self, x: np.ndarray) -> np.ndarray:
        """Stride 2, padding 2, output padding 1, as a 3x3 convolution to each
        of the four output phases (_subpixel_matrix)."""
        if self._taps is not None:
            return _scattered_deconv(self._taps, x)
        return _phased_deconv(self._phases, x)

    def _igdn(self, x: np.ndarray) -> np.ndarray:
        """In chunks of pixels whose temporaries stay in the CPU's cache: its
        eight elementwise passes then read cache, not memory (a quarter less
        time than whole-band passes)."""
        c, h, w = x.shape
        flat = x.reshape(c, -1)
        out = np.empty_like(flat)
        gamma, beta = self._igdn_scaled
        n = max(1, _IGDN_CHUNK // c)
        squares, acc = np.empty((c, n)), np.empty((c, n))
        for p0 in range(0, flat.shape[1], n):
            f = flat[:, p0 : p0 + n]
            a = np.matmul(gamma, np.multiply(f, f, out=squares[:, : f.shape[1]]), out=acc[:, : f.shape[1]])
            a += beta
            np.sqrt(a, out=a)
            a *= f
            np.rint(a, out=a)
            np.clip(a, -ACT_LIMIT, ACT_LIMIT, out=out[:, p0 : p0 + n])
        return out.reshape(c, h, w)


def _subpixel_matrix(weight: np.ndarray) -> np.ndarray:
    """A 5x5 stride-2 transposed convolution (padding 2, output padding 1) as a
    3x3 convolution with 4x the output channels, one per output phase.

    Output row 2u + a sums input rows u + s, s in {-1, 0, 1}, with kernel row
    a + 2 - 2s (when that lies in 0..4); likewise for columns.
    """
    cin, cout, k, _ = weight.shape
    if k != 5:
        raise ValueError("fixed-point transposed convolutions are 5x5")
    taps = np.zeros((cout, 2, 2, cin, 3, 3))
    for a in range(2):
        for b in range(2):
            for sr, sc in _phase_shifts(a, b):
                taps[:, a, b, :, sr, sc] = weight[:, :, a + 4 - 2 * sr, b + 4 - 2 * sc].T
    return taps.reshape(cout * 4, cin * 9)


def _phase_shifts(a: int, b: int) -> list[tuple[int, int]]:
    """The input shifts (sr, sc) in 0..2 that output phase (a, b) reads: those
    whose kernel index a + 4 - 2 sr (and b + 4 - 2 sc) lies in 0..4 (it is
    never below 0 for shifts up to 2, so only the top bound is tested). Phase
    (0, 0) reads 9, (0, 1) and (1, 0) 6, (1, 1) 4: 25 of the 36 a single
    product over all four phases would multiply."""
    return [(sr, sc) for sr in range(3) for sc in range(3) if a + 4 - 2 * sr < 5 and b + 4 - 2 * sc < 5]


def _phase_blocks(matrix: np.ndarray, cin: int) -> list[tuple[int, int, list]]:
    """Per output phase (a, b), its taps as runs of consecutive shifts: (rows,
    weights) with rows the slice of a shift-major column buffer (shift
    3 sr + sc, then input channel) and weights (out, len(rows)) its block of
    the subpixel matrix."""
    m = matrix.reshape(-1, 2, 2, cin, 3, 3)
    phases = []
    for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)):
        shifts = [3 * sr + sc for sr, sc in _phase_shifts(a, b)]
        # Consecutive shifts are one run: shift minus its position is constant along it.
        runs = [[t for _, t in run] for _, run in groupby(enumerate(shifts), lambda p: p[1] - p[0])]
        phases.append((a, b, [(slice(run[0] * cin, (run[-1] + 1) * cin),
                               np.concatenate([m[:, a, b, :, t // 3, t % 3] for t in run], axis=1))
                              for run in runs]))
    return phases


def _phased_deconv(phases: list, x: np.ndarray) -> np.ndarray:
    """The subpixel deconvolution, phase by phase: each phase's product reads
    only the taps it uses, as contiguous runs of a shift-major column buffer
    (1.44x fewer multiplications than one product to all four phases), and
    its result goes straight to its interleaved place in the output. A
    phase's runs are summed; the integers are those of one product (exact in
    float64 in any order). In bands of rows, for a bounded column buffer."""
    cin, h, w = x.shape
    _, _, first_runs = phases[0]
    cout = first_runs[0][1].shape[0]  # the weights of a run: (out, its rows)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.empty((cout, 2 * h, 2 * w))
    band = max(1, _BAND_ELEMENTS // (cin * 9 * w))
    for r0 in range(0, h, band):
        r1 = min(h, r0 + band)
        windows = np.lib.stride_tricks.sliding_window_view(padded[:, r0 : r1 + 2], (3, 3), axis=(1, 2))
        cols = windows.transpose(3, 4, 0, 1, 2).reshape(9 * cin, (r1 - r0) * w)
        for a, b, blocks in phases:
            acc = None
            for rows, weights in blocks:
                product = weights @ cols[rows]
                acc = product if acc is None else np.add(acc, product, out=acc)
            out[:, 2 * r0 + a : 2 * r1 : 2, b::2] = acc.reshape(cout, r1 - r0, w)
    return out


def _scatter_taps(matrix: np.ndarray, cin: int) -> tuple[np.ndarray, list]:
    """The subpixel matrix's taps (_phase_shifts) stacked for one product with the
    input: (taps * out, in), and per tap its output phase (a, b) and input
    shift (sr, sc) in 0..2."""
    m = matrix.reshape(-1, 2, 2, cin, 3, 3)
    taps = [(a, b, sr, sc) for a in range(2) for b in range(2) for sr, sc in _phase_shifts(a, b)]
    return np.concatenate([m[:, a, b, :, sr, sc] for a, b, sr, sc in taps]), taps


def _scattered_deconv(taps: tuple[np.ndarray, list], x: np.ndarray) -> np.ndarray:
    """The subpixel deconvolution as (taps x in) @ input, each tap's product
    then added into its output phase at its shift. On the input padded by one
    and flattened, a shift is an offset, so every addend is one contiguous
    slice. The sums are the same integers as the gathered form's (exact in
    float64 in any order). In bands of rows, for a bounded product buffer."""
    stacked, where = taps
    cout, (cin, h, w) = stacked.shape[0] // len(where), x.shape
    wp = w + 2
    # One more zero row below: the last row's two widest shifts end 2 past it.
    flat = np.pad(x, ((0, 0), (1, 2), (1, 1))).reshape(cin, -1)
    out = np.empty((cout, h, 2, w, 2))
    band = max(1, _BAND_ELEMENTS // (stacked.shape[0] * wp))
    for r0 in range(0, h, band):
        r1 = min(h, r0 + band)
        n = (r1 - r0) * wp
        products = stacked @ flat[:, r0 * wp : (r1 + 2) * wp + 2]
        phases = np.zeros((2, 2, cout, n))
        for t, (a, b, sr, sc) in enumerate(where):
            off = sr * wp + sc
            phases[a, b] += products[t * cout : (t + 1) * cout, off : off + n]
        out[:, r0:r1] = phases.reshape(2, 2, cout, r1 - r0, wp)[..., :w].transpose(2, 3, 0, 4, 1)
    return out.reshape(cout, 2 * h, 2 * w)


def _banded_matmul(matrix: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """matrix @ im2col(x) for a k x k stride-1 window with padding k//2, in
    bands of rows so that the column buffer stays small on large images."""
    cin, h, w = x.shape
    p = k // 2
    padded = np.pad(x, ((0, 0), (p, p), (p, p)))
    out = np.empty((matrix.shape[0], h, w))
    band = max(1, _BAND_ELEMENTS // (cin * k * k * w))
    for r0 in range(0, h, band):
        r1 = min(h, r0 + band)
        windows = np.lib.stride_tricks.sliding_window_view(padded[:, r0 : r1 + 2 * p], (k, k), axis=(1, 2))
        cols = windows.transpose(0, 3, 4, 1, 2).reshape(cin * k * k, (r1 - r0) * w)
        out[:, r0:r1] = (matrix @ cols).reshape(-1, r1 - r0, w)
    return out


def _scattered_conv(stacked: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """A k x k stride-1 convolution (padding k//2) as (taps x out, in) @ input,
    each tap's product then added at its shift: on the input padded and
    flattened, a shift is an offset, so every addend is one contiguous slice.
    The sums are the same integers as im2col's (exact in float64 in any
    order). In bands of rows, for a bounded product buffer. The padding rows
    above and below the image are zeros: no product is made of them (on a
    latent 32 rows high they were 6% of the work), and the offsets that would
    read them are cut off."""
    cin, h, w = x.shape
    p = k // 2
    cout = stacked.shape[0] // (k * k)
    wp = w + 2 * p
    out = np.empty((cout, h, w))
    band = max(1, _BAND_ELEMENTS // (stacked.shape[0] * wp))
    for r0 in range(0, h, band):
        r1 = min(h, r0 + band)
        n = (r1 - r0) * wp
        q0, q1 = max(r0, p), min(r1 + 2 * p, h + p)  # the padded rows read that are not zeros (row i is x's i - p)
        flat = np.pad(x[:, q0 - p : q1 - p], ((0, 0), (0, 0), (p, p))).reshape(cin, -1)  # the band's rows alone
        products = stacked @ flat
        acc = np.zeros((cout, n))
        for t in range(k * k):
            off = (t // k - (q0 - r0)) * wp + t % k  # acc[j] += products[tap t, j + off]
            j0, j1 = max(0, -off), min(n, products.shape[1] - off)
            if j1 > j0:
                acc[:, j0:j1] += products[t * cout : (t + 1) * cout, j0 + off : j1 + off]
        out[:, r0:r1] = acc.reshape(cout, r1 - r0, wp)[..., :w]
    return out


class FixedPointNetwork:
    """A chain of fixed-point layers; input and output are integer arrays."""

    parallel_bands = True  # numpy releases the GIL: bands can be made in threads

    def __init__(self, layers: list[dict]):
        self.layers = [FixedPointLayer(s) for s in layers]

    @property
    def in_frac(self) -> int:
        return self.layers[0].in_frac

    @property
    def out_frac(self) -> np.ndarray:
        return self.layers[-1].out_frac

    def rows_for(self, o0: int, o1: int, height: int) -> tuple[int, int, list[slice]]:
        """Output rows [o0, o1) of an input `height` rows high: the input rows
        [i0, i1) they depend on, and per layer the rows of its output that the
        layers after it read. network(x[:, i0:i1], crops) computes no row
        more, and gives those rows as one pass over all of x does: each value
        kept reads only rows computed, or the zeros beyond the image."""
        heights = [height]
        for layer in self.layers:
            heights.append(heights[-1] * layer.up)
        needs = [(o0, o1)]
        for layer, h in zip(reversed(self.layers), reversed(heights[:-1])):
            a, b = layer.input_rows(*needs[-1])
            needs.append((max(0, a), min(h, b)))
        needs.reverse()
        crops, start = [], needs[0][0]
        for layer, (n0, n1) in zip(self.layers, needs[1:]):
            crops.append(slice(n0 - start * layer.up, n1 - start * layer.up))
            start = n0
        return *needs[0], crops

    def __call__(self, x: np.ndarray, crops: list[slice] | None = None) -> np.ndarray:
        """crops (from rows_for): the rows of each layer's output to keep."""
        x = np.asarray(x, np.float64)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if crops:
                x = x[:, crops[i]]
        return x

    def from_accumulator(self, acc: np.ndarray) -> np.ndarray:
        """The network's output from its first layer's accumulator (the
        parts FixedPointLayer.partial made, summed; acc is overwritten)."""
        first = self.layers[0]
        acc += first.bias[:, None, None]
        x = first.finish(acc)
        for layer in self.layers[1:]:
            x = layer(x)
        return x


_controller: ThreadpoolController | None = None


def blas_threads(n: int):
    """A context in which BLAS uses n threads. One controller, made once:
    threadpool_limits scans the process's libraries on every call (about
    1 ms, a dozen times per decode)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=n, user_api="blas")


def band_rows(network, width: int, max_elements: int) -> int:
    """Input rows per band of an input `width` wide: the largest layer
    outputs of the WORKERS bands made at once within max_elements."""
    largest, up = 0, 1
    for layer in network.layers:
        up *= layer.up
        largest = max(largest, layer.bias.shape[0] * up * up)
    return max(1, max_elements // (WORKERS * largest * width))


def in_bands(network, x: np.ndarray, max_elements: int, rows: int | None = None,
             workers: int | None = None) -> np.ndarray:
    """network(x) (a FixedPointNetwork, or its torch twin) on bands of input
    rows (rows, or what max_elements allows), each read with the rows around it
    that its output depends on, every layer computing only the rows the
    layers after it read (rows_for). Every output value is the same integer
    arithmetic as in one pass, so the result is identical, whatever the bands
    and the order they are made in; memory follows the band.

    On the numpy backend WORKERS bands are made at once, each with its share
    of the BLAS threads: half the time is numpy's own elementwise work
    (im2col, GDN, rounding), which runs on one core per call, so one band at
    a time left cores idle. A caller that passes workers runs networks
    beside this one and sets BLAS's threads itself (they are the process's)."""
    h = x.shape[1]
    own_blas = workers is None
    workers = (WORKERS if own_blas else workers) if network.parallel_bands else 1
    rows = max(1, min(rows or band_rows(network, x.shape[2], max_elements), -(-h // workers)))
    if rows >= h:
        return network(x)
    up = int(np.prod([layer.up for layer in network.layers]))
    out = np.empty((network.layers[-1].bias.shape[0], h * up, x.shape[2] * up))

    def band(r0: int) -> None:
        r1 = min(h, r0 + rows)
        a, b, crops = network.rows_for(r0 * up, r1 * up, h)
        out[:, r0 * up : r1 * up] = network(x[:, a:b], crops)

    if workers == 1:
        for r0 in range(0, h, rows):
            band(r0)
        return out
    threads = blas_threads(max(1, CORES // workers)) if own_blas else nullcontext()
    with threads, ThreadPoolExecutor(workers) as pool:
        list(pool.map(band, range(0, h, rows)))
    return out
