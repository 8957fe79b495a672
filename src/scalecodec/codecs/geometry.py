"""The layers of a spatially scalable stream: their sizes from scale factors.

Factors are relative to the base layer (BL) and increase; the last one is the
input's own resolution. So for `--scales 1,1.6,2.4` on a W x H input, the BL
is W/2.4 x H/2.4 and the enhancement layers are 1.6x and 2.4x the BL. Sizes
round to the nearest pixel from the top, so every layer is the reference
downscale of the input to that size.
"""

from dataclasses import dataclass

from ..container.format import MAX_LAYER_STEP
from ..errors import UsageError

MIN_LAYERS, MAX_LAYERS = 2, 4
MIN_STEP, MAX_STEP = 1.1, float(MAX_LAYER_STEP)
MIN_SIDE = 16  # smallest layer side: the analysis transform's stride


class ScaleError(UsageError):
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


MAX_PREDICT = MAX_STEP  # LIFF predicts at most this far beyond the top layer


@dataclass(frozen=True)
class DecodePlan:
    """How to produce a requested size from a stream's layers:
    decode layers 0..layer, then `how`: "exact" (that layer is the answer),
    "downscale" (reference downscale of it) or "predict" (LIFF from it)."""

    layer: int
    width: int
    height: int
    how: str


def requested_size(layers: list[tuple[int, int]], scale: float | None = None,
                   width: int | None = None, height: int | None = None) -> tuple[int, int, bool]:
    """(width, height, from_scale) asked for by --scale (relative to the base
    layer) or --width/--height (one alone keeps the top layer's aspect)."""
    (bw, bh), (tw, th) = layers[0], layers[-1]
    if scale is not None:
        if width is not None or height is not None:
            raise ScaleError("give a scale or a target size, not both")
        if not scale > 0:
            raise ScaleError(f"the scale must be above 0, got {scale:g}")
        return max(1, round(bw * scale)), max(1, round(bh * scale)), True
    for value, what in ((width, "width"), (height, "height")):
        if value is not None and value < 1:
            raise ScaleError(f"the target {what} must be at least 1, got {value}")
    if width is None and height is None:
        return tw, th, False
    if width is None:
        width = max(1, round(height * tw / th))
    if height is None:
        height = max(1, round(width * th / tw))
    return width, height, False


def plan_decode(layers: list[tuple[int, int]], width: int, height: int, from_scale: bool = False) -> DecodePlan:
    """The rule of bitstream_spec.md section 6.4. A size asked for as a scale
    matches a coded layer within a pixel (the layer sizes were rounded from
    the top); an explicit size must match exactly."""
    slack = 1 if from_scale else 0
    for k, (lw, lh) in enumerate(layers):
        if abs(lw - width) <= slack and abs(lh - height) <= slack:
            return DecodePlan(k, lw, lh, "exact")
    for k, (lw, lh) in enumerate(layers):
        if lw >= width and lh >= height:
            return DecodePlan(k, width, height, "downscale")
    tw, th = layers[-1]
    if width > MAX_PREDICT * tw or height > MAX_PREDICT * th:
        raise ScaleError(f"{width}x{height} is more than {MAX_PREDICT:g}x the top layer ({tw}x{th}); "
                         f"the enhancement layer predicts at most {MAX_PREDICT:g}x")
    if width < tw or height < th:
        raise ScaleError(f"{width}x{height} does not keep the aspect of the top layer ({tw}x{th})")
    return DecodePlan(len(layers) - 1, width, height, "predict")
