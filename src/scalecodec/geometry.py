"""The layers of a spatially scalable stream: their sizes from scale factors.

Factors are relative to the base layer (BL) and increase; the last one is the
input's own resolution. So for `--scales 1,1.6,2.4` on a W x H input, the BL
is W/2.4 x H/2.4 and the enhancement layers are 1.6x and 2.4x the BL. Sizes
round to the nearest pixel from the top, so every layer is the reference
downscale of the input to that size.
"""

MIN_LAYERS, MAX_LAYERS = 2, 4
MIN_STEP, MAX_STEP = 1.1, 4.0
MIN_SIDE = 16  # smallest layer side: the analysis transform's stride


class ScaleError(ValueError):
    """Scale factors a spatial stream cannot have."""


def check_scales(scales: list[float]) -> None:
    if not MIN_LAYERS <= len(scales) <= MAX_LAYERS:
        raise ScaleError(f"a spatial stream has {MIN_LAYERS} to {MAX_LAYERS} layers, got {len(scales)}")
    if scales[0] != 1:
        raise ScaleError(f"scales are relative to the base layer, so the first is 1, got {scales[0]:g}")
    for lo, hi in zip(scales, scales[1:]):
        if not hi > lo:
            raise ScaleError(f"scales must increase, got {lo:g} then {hi:g}")
        step = hi / lo
        # A small tolerance: 2.4 / 1.6 is 1.4999999999999998 in binary.
        if not MIN_STEP - 1e-9 <= step <= MAX_STEP + 1e-9:
            raise ScaleError(f"each layer is {MIN_STEP:g}x to {MAX_STEP:g}x the one below; "
                             f"{lo:g} -> {hi:g} is {step:.3g}x")


def layer_sizes(width: int, height: int, scales: list[float]) -> list[tuple[int, int]]:
    """(width, height) of every layer, BL first; the last is the input's."""
    check_scales(scales)
    top = scales[-1]
    sizes = [(max(1, round(width * s / top)), max(1, round(height * s / top))) for s in scales[:-1]]
    sizes.append((width, height))
    small = min(min(size) for size in sizes)
    if small < MIN_SIDE:
        raise ScaleError(f"the base layer would be {sizes[0][0]}x{sizes[0][1]}; layers need at least "
                         f"{MIN_SIDE} pixels a side (use smaller factors or a larger image)")
    return sizes
