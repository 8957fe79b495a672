"""The project's one reference downscaler.

Every "lower resolution" in scalecodec is measured against this, and the
spatial layers are coded against it: which filter the reference uses moves
a lower resolution's PSNR by several dB (a co-sited decimation flatters
JPEG 2000's half resolution by about 7 dB), so there is exactly one.

It is Pillow's bicubic resize (Keys kernel, a = -0.5), whose kernel widens
by the scale factor when it reduces, so it low-passes like MATLAB's
imresize; pixel centres are aligned (a centred, not co-sited, grid). It runs
in Pillow's fixed-point arithmetic on 8-bit images, so every platform gets
the same bytes.
"""

import numpy as np
from PIL import Image

NAME = "Pillow bicubic (a = -0.5, antialiased, centred grid, 8-bit)"


def reference_downscale(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """An (H, W[, C]) uint8 image reduced to width x height."""
    h, w = pixels.shape[:2]
    if width > w or height > h or width < 1 or height < 1:
        raise ValueError(f"cannot downscale {w}x{h} to {width}x{height}")
    if (width, height) == (w, h):
        return pixels.copy()
    im = Image.fromarray(np.ascontiguousarray(pixels))
    return np.asarray(im.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=None))
