"""What a photo carries besides its pixels: ICC profile, EXIF and XMP.

Read from a Pillow image as scc encodes it, and written into decoded files
where the format can hold them. EXIF orientation is applied to the pixels at
encode (bitstream_spec.md section 3.1), so a stream's EXIF never asks a viewer
to turn the decoded image again.
"""

import warnings

from PIL import Image, ImageOps, PngImagePlugin

from .. import container
from ..container import ChunkKind

KINDS = {"icc": ChunkKind.ICC, "exif": ChunkKind.EXIF, "xmp": ChunkKind.XMP}
NAMES = {"icc": "ICC profile", "exif": "EXIF", "xmp": "XMP"}
_EXIF_PREFIX = b"Exif\x00\x00"  # what JPEG's APP1 (and Pillow's info["exif"]) put before the TIFF structure
_ORIENTATION = 0x0112
_TIFF_XMP = 700  # the TIFF tag that holds an XMP packet


def upright(im: Image.Image) -> tuple[Image.Image, list[str]]:
    """im turned as its EXIF orientation says, with the tag removed from its
    EXIF (and XMP), and a note; im itself when it needs no turn."""
    orientation = im.getexif().get(_ORIENTATION)
    if orientation not in range(2, 9):
        return im, []
    return ImageOps.exif_transpose(im), [f"turned upright as its EXIF orientation ({orientation}) says"]


def read(info: dict) -> tuple[dict[str, bytes], list[str]]:
    """The metadata in a Pillow info dict (an image's after upright(), or save
    options) as the chunks carry it, and notes for any that could not be
    carried (the container's rules, section 3.1)."""
    found = {}
    if info.get("icc_profile"):
        found["icc"] = bytes(info["icc_profile"])
    if info.get("exif"):
        exif = bytes(info["exif"])
        found["exif"] = exif[len(_EXIF_PREFIX):] if exif.startswith(_EXIF_PREFIX) else exif
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if xmp:
        found["xmp"] = xmp.encode("utf-8") if isinstance(xmp, str) else bytes(xmp)
    kept, notes = {}, []
    for key, payload in found.items():
        try:
            if len(payload) > container.format.MAX_METADATA_BYTES:
                raise container.ContainerError(f"over {container.format.MAX_METADATA_BYTES} bytes")
            container.format.check_metadata(container.Chunk(KINDS[key], 0, 0, 0, payload))
            kept[key] = payload
        except container.ContainerError as err:
            notes.append(f"left out its {NAMES[key]}, which scc cannot carry ({err})")
    return kept, notes


def profile_fits(metadata: dict[str, bytes], grey: bool) -> tuple[dict[str, bytes], list[str]]:
    """metadata without an ICC profile that does not describe the pixels scc
    codes (its colour space, bytes 16-19, must be RGB, or GRAY for a grey
    image): a CMYK photo's profile on the RGB pixels it was converted to
    would give wrong colours; and a note saying so."""
    icc = metadata.get("icc")
    wanted = b"GRAY" if grey else b"RGB "
    if icc is None or icc[16:20] == wanted:
        return metadata, []
    space = icc[16:20].decode("latin-1").strip() or "unknown"
    kept = {k: v for k, v in metadata.items() if k != "icc"}
    return kept, [f"left out its ICC profile: a {space} profile, and scc codes "
                  f"{'grey' if grey else 'RGB'} pixels"]


def parse_strip(value: str) -> tuple[str, ...]:
    """`--strip` values: "all", or a comma-separated list of icc, exif, xmp."""
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    if names == ["all"]:
        return tuple(KINDS)
    unknown = [n for n in names if n not in KINDS]
    if unknown or not names:
        raise ValueError(f"--strip takes all, or a list of {', '.join(KINDS)}; got {value!r}")
    return tuple(dict.fromkeys(names))


def chunks(metadata: dict[str, bytes]) -> tuple:
    """The stream's metadata chunks, in kind order."""
    return tuple(container.Chunk(KINDS[k], 0, 0, 0, metadata[k]) for k in KINDS if k in metadata)


def of_stream(stream) -> dict[str, bytes]:
    names = {v: k for k, v in KINDS.items()}
    return {names[c.kind]: c.payload for c in stream.metadata}


def save_options(fmt: str, metadata: dict[str, bytes]) -> tuple[dict, list[str]]:
    """Pillow save options that write metadata into a file of format fmt, and
    the names of what that format cannot hold."""
    options = {}
    if fmt not in ("PNG", "TIFF"):
        return options, [NAMES[k] for k in metadata]
    if "icc" in metadata:
        options["icc_profile"] = metadata["icc"]
    if fmt == "PNG":
        if "exif" in metadata:
            options["exif"] = _EXIF_PREFIX + metadata["exif"]
        if "xmp" in metadata:
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", metadata["xmp"].decode("utf-8"), zip=False)
            options["pnginfo"] = info
    elif "exif" in metadata or "xmp" in metadata:
        # A TIFF's EXIF tags and its XMP tag go in its first IFD, together.
        tags = Image.Exif()
        if "exif" in metadata:
            # Pillow keeps what it can read of a damaged block (PNG's eXIf
            # takes the block as it is); its warning is no message for users.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tags.load(_EXIF_PREFIX + metadata["exif"])
        if "xmp" in metadata:
            tags[_TIFF_XMP] = metadata["xmp"]
        options["exif"] = tags
    return options, []


def as_info(metadata: dict[str, bytes]) -> dict:
    """metadata as Pillow's own formats put it in im.info."""
    info = {}
    if "icc" in metadata:
        info["icc_profile"] = metadata["icc"]
    if "exif" in metadata:
        info["exif"] = _EXIF_PREFIX + metadata["exif"]
    if "xmp" in metadata:
        info["xmp"] = metadata["xmp"]
    return info
