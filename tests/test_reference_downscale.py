"""The reference downscaler (bitstream_spec.md 6.5) against a second
implementation written from the spec alone, without Pillow."""

import numpy as np
import pytest
from PIL import Image

import reference_downscale as ref
from conftest import PHOTO
from scalecodec.exact.downscale import reference_downscale


@pytest.mark.parametrize("size", [(60, 44), (119, 88), (120, 87), (17, 13), (1, 1), (80, 30),
                                  (37, 88), (120, 5), (100, 73), (49, 31)])
def test_the_spec_gives_the_reference_downscalers_pixels(photo, size):
    assert np.array_equal(ref.downscale(photo, *size), reference_downscale(photo, *size))


def test_gray_and_clamped_extremes():
    rng = np.random.default_rng(3)
    # A hard edge between 0 and 255 makes the kernel's negative lobes overshoot: the clamp is exercised.
    board = np.zeros((64, 64), np.uint8)
    board[:, 30:] = 255
    noise = rng.integers(0, 256, (50, 70), dtype=np.uint8)
    for img, size in ((board, (23, 17)), (noise, (31, 29)), (np.asarray(Image.open(PHOTO).convert("L")), (50, 40))):
        got = ref.downscale(img, *size)
        assert np.array_equal(got, reference_downscale(img, *size))
    row = [(2**21 + sum(kj * int(board[0, a + j]) for j, kj in enumerate(k))) >> 22
           for a, k in ref.weights(64, 23)]
    assert min(row) < 0 and max(row) > 255


def test_the_spec_reference_can_tell_a_wrong_kernel(photo):
    ref.A = -0.75  # the Keys kernel LIFF uses, not the downscaler's
    try:
        assert not np.array_equal(ref.downscale(photo, 60, 44), reference_downscale(photo, 60, 44))
    finally:
        ref.A = -0.5
