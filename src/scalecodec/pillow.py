"""Pillow plugin: `import scalecodec.pillow`, then `Image.open("photo.scc")`
decodes and `im.save("photo.scc", quality=4)` encodes.

Opening reads only the container (no torch, no decoding); pixels are decoded
on first use. Like JPEG's draft mode, `im.draft("RGB", (w, h))` (which
`thumbnail` calls) picks the smallest coded spatial layer at least that large,
so the layers above it are never decoded; like JPEG 2000's, `im.reduce = n`
before loading decodes at 1/2**n of the size. Saving takes `quality`,
`scales` (a spatial stream), `mode="fgs"` (fine-grained) and `effort`.

Metadata goes through `im.info` as in Pillow's own formats: an opened stream's
ICC profile, EXIF and XMP are `info["icc_profile"]`, `info["exif"]` and
`info["xmp"]`; saving keeps the image's (EXIF orientation applied to the
pixels), `icc_profile=`, `exif=` and `xmp=` replace them, and `strip=("exif",)`
(or "all") leaves them out.

Errors are the ones Pillow users expect: a file that is not a valid stream
fails Image.open (UnidentifiedImageError); one that cannot be decoded, or a
model that is missing, fails load() with OSError; bad save options raise
ValueError.
"""

from PIL import Image, ImageFile

from . import container
from .container.format import MAGIC
from .errors import ImageInputError, ModelError, UsageError
from .io import metadata

FORMAT = "SCC"


def _accept(prefix: bytes) -> bool:
    return prefix[: len(MAGIC)] == MAGIC


class SccImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "scalecodec learned image stream"

    def _open(self) -> None:
        self._data = self.fp.read()
        try:
            stream = container.parse(self._data)
        except container.ContainerError as err:
            raise SyntaxError(f"not a valid scalecodec stream: {err}") from None
        h = stream.header
        self._mode = ("L" if h.colour == container.ColourFormat.GRAY else "RGB") + ("A" if stream.alpha else "")
        self._size = (h.width, h.height)
        self._layers = container.spatial_layers(stream)
        self._request = None  # the (width, height) draft or reduce chose
        self._reduce = 0
        self.info["quality"] = h.quality
        self.info["layers"] = list(self._layers)
        self.info.update(metadata.as_info(metadata.of_stream(stream)))
        self.tile = []

    def draft(self, mode, size):
        """The smallest coded layer at least size (a spatial stream's only)."""
        if not size or len(self._layers) < 2 or self._request is not None:
            return None
        for lw, lh in self._layers:
            if lw >= size[0] and lh >= size[1]:
                original = self.size
                self._request = self._size = (lw, lh)
                return self.mode, (0, 0, original[0], original[1])
        return None

    @property
    def reduce(self):
        # Shadows Image.reduce (a method) as JPEG 2000's plugin does: an int
        # set before loading decodes smaller; unset, the method is returned.
        return self._reduce or super().reduce

    @reduce.setter
    def reduce(self, value: int) -> None:
        self._reduce = value

    def load(self):
        if self._im is None:
            from .api import decode_file

            if self._reduce:
                power = 1 << self._reduce
                self._request = self._size = (max(1, -(-self.size[0] // power)),
                                              max(1, -(-self.size[1] // power)))
            width, height = self._request or (None, None)
            try:
                decoded = decode_file(self._data, width=width, height=height)
            except (container.ContainerError, ModelError, UsageError) as err:
                raise OSError(f"cannot decode scalecodec stream: {err}") from None
            pixels = decoded.pixels
            self.im = Image.fromarray(pixels).im  # L, LA, RGB or RGBA from its shape
            self._size = (decoded.width, decoded.height)
        return Image.Image.load(self)


def _save(im: Image.Image, fp, filename) -> None:
    from .api import DEFAULT_QUALITY, encode_source
    from .io.images import source_image

    info = im.encoderinfo
    try:
        src = source_image(im, str(filename) or "image")
        given, dropped = metadata.read({k: info[k] for k in ("icc_profile", "exif", "xmp") if k in info})
        src.metadata.update(given)
        src.notes += dropped
        strip = info.get("strip") or ()
        strip = metadata.parse_strip(strip if isinstance(strip, str) else ",".join(strip)) if strip else ()
        result = encode_source(src, float(info.get("quality", DEFAULT_QUALITY)), info.get("model"),
                               info.get("device", "auto"), info.get("scales"),
                               info.get("mode", "single"), int(info.get("effort", 1)), strip=strip)
    except (UsageError, ImageInputError, ValueError) as err:
        raise ValueError(str(err)) from None
    except ModelError as err:
        raise OSError(str(err)) from None
    fp.write(result.stream)


Image.register_open(FORMAT, SccImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".scc")
Image.register_mime(FORMAT, "image/x-scalecodec")
