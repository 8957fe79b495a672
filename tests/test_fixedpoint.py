"""The fixed-point layers against float64 torch: the same integer arithmetic
done by another library. Every product and partial sum is an integer below
2**53 (the layer checks the bound), so the results must be equal, not
merely close; and outside the bound the layer refuses to be built."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from scalecodec.exact import fixedpoint
from scalecodec.exact.fixedpoint import ACT_LIMIT, FixedPointLayer, FixedPointNetwork


def _state(kind, rng, cin=6, cout=5, k=3):
    shape = {"conv": (cout, cin, k, k), "deconv": (cin, cout, 5, 5), "igdn": (cout, cout)}[kind]
    weight = rng.integers(-2**15 if kind != "igdn" else 0, 2**15, shape)
    weight_frac = rng.integers(8, 14, cout)
    if kind == "igdn":
        out_frac = rng.integers(0, 4, cout)
    else:
        # Accumulators of random +-2**15 products grow as the root of the
        # fan-in: scaled to about 2**13, so that few outputs saturate.
        fan_in = cin * (k * k if kind == "conv" else 25 / 4)
        shift = int(np.log2(2.0**30 * np.sqrt(fan_in))) - 13
        out_frac = weight_frac + 10 - shift + rng.integers(-1, 2, cout)
    return {"kind": kind, "weight": weight, "bias": rng.integers(1 if kind == "igdn" else -2**20, 2**20, cout),
            "weight_frac": weight_frac, "in_frac": 10, "out_frac": out_frac, "relu": int(kind == "conv")}


def _torch(state, x):
    w, b = torch.tensor(state["weight"], dtype=torch.float64), torch.tensor(state["bias"], dtype=torch.float64)
    wf, of = (torch.tensor(state[k], dtype=torch.float64) for k in ("weight_frac", "out_frac"))
    t = torch.tensor(x)[None]
    if state["kind"] == "igdn":
        acc = torch.einsum("oi,bihw->bohw", w, t * t) + b[:, None, None]
        acc = torch.sqrt(acc * torch.exp2(-2 * state["in_frac"] - wf)[:, None, None]) * t
        acc = acc * torch.exp2(of - state["in_frac"])[:, None, None]
        low = -ACT_LIMIT
    else:
        acc = (F.conv2d(t, w, padding=w.shape[-1] // 2) if state["kind"] == "conv"
               else F.conv_transpose2d(t, w, stride=2, padding=2, output_padding=1)) + b[:, None, None]
        acc = acc * torch.exp2(of - state["in_frac"] - wf)[:, None, None]
        low = 0 if state["relu"] else -ACT_LIMIT
    return torch.clamp(torch.round(acc), low, ACT_LIMIT)[0].numpy()  # torch.round is half to even


# Each way a layer computes: convolutions gathering a column buffer (more
# outputs than inputs) or scattering each tap's product (as many or fewer), of every
# kernel size; transposed ones by phases or by scattered taps (few outputs).
@pytest.mark.parametrize("kind, cin, cout, k", [("conv", 6, 5, 3), ("conv", 6, 6, 3), ("conv", 5, 7, 3), ("conv", 9, 4, 5),
                                                ("conv", 6, 5, 1), ("deconv", 6, 5, 5), ("deconv", 12, 2, 5),
                                                ("igdn", 5, 5, 1)])
def test_fixed_point_layers_equal_float64_torch(kind, cin, cout, k):
    rng = np.random.default_rng(cin * 100 + cout * 10 + k)
    state = _state(kind, rng, cin=cin, cout=cout, k=k)
    x = rng.integers(-2**15 + 1, 2**15, (cin, 9, 11)).astype(np.float64)
    got, want = FixedPointLayer(state)(x), _torch(state, x)
    assert got.shape == want.shape and np.array_equal(got, want)
    assert np.mean(np.abs(got) < ACT_LIMIT) > 0.3 and len(np.unique(got)) > 15  # not all clamped


def test_a_layer_that_could_leave_the_exact_range_is_refused():
    # IGDN squares its inputs: 300 products of up to 2**15 * 2**30 can exceed 2**53.
    state = _state("igdn", np.random.default_rng(4), cout=300)
    with pytest.raises(ValueError, match="exact integer range"):
        FixedPointLayer(state)


@pytest.mark.parametrize("cin, cout, k, band_rows", [(6, 5, 3, 1), (6, 5, 3, 2), (9, 4, 5, 1), (9, 4, 5, 3)])
def test_scattered_convolutions_in_bands_equal_one_pass(monkeypatch, cin, cout, k, band_rows):
    # Bands of a few rows: each band's first and last rows read the padding
    # rows (cut off) or the rows of the bands beside it.
    rng = np.random.default_rng(cin + band_rows)
    state = _state("conv", rng, cin=cin, cout=cout, k=k)
    x = rng.integers(-2**15 + 1, 2**15, (cin, 9, 11)).astype(np.float64)
    monkeypatch.setattr(fixedpoint, "_BAND_ELEMENTS", band_rows * cout * k * k * (11 + k - 1))
    assert np.array_equal(FixedPointLayer(state)(x), _torch(state, x))


def test_a_first_layer_made_from_parts_of_its_input_equals_the_whole():
    # The context model makes a parameter network's first layer from two
    # shares: the hyper synthesis's channels early, the decoded slices later.
    rng = np.random.default_rng(11)
    states = [_state("conv", rng, cin=10, cout=6), _state("conv", rng, cin=6, cout=6, k=1)]
    states[1]["in_frac"] = 10
    net = FixedPointNetwork(states)
    x = rng.integers(-2**15 + 1, 2**15, (10, 7, 9)).astype(np.float64)
    first = net.layers[0]
    acc = first.partial(x[:4], 0) + first.partial(x[4:7], 4) + first.partial(x[7:], 7)
    assert np.array_equal(net.from_accumulator(acc), net(x))
    assert not np.array_equal(net.from_accumulator(first.partial(x[:4], 0) + first.partial(x[4:], 3)), net(x))
