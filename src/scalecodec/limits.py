"""How large an image scc will read or decode unless told otherwise.

A 94-byte stream can claim 16384x16384 pixels, and a 445 KB PNG 144 MP.
Both are checked against this limit from their headers, before any pixel
is allocated; `--max-pixels` (or the max_pixels argument of the API) raises
it. The default is four 24 MP camera photos' worth; panoramas may need
more. Pure Python, so checking it costs nothing.
"""

from .errors import InputError

DEFAULT_MAX_PIXELS = 100_000_000


class LimitError(InputError):
    """The input is larger than the pixel limit allows."""


def check_pixels(width: int, height: int, max_pixels: int | None, what: str) -> None:
    """Refuse width x height above max_pixels (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise LimitError(f"{what} is {width}x{height} ({width * height / 1e6:.1f} MP), over the limit of "
                         f"{max_pixels / 1e6:g} MP; --max-pixels raises it")
