"""Golden vectors: committed streams and the SHA-256 of what decoding and
truncating them must give (tests/vectors, written by scripts/make-vectors.py).

Every other test checks the code against itself; these check it against bytes
fixed in the past. A change to the exact arithmetic, the container or
truncation fails here. If the change is intended, the format version must be
bumped (bitstream_spec.md) and the vectors made again, on purpose.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from scalecodec import container
from scalecodec.api import decode_file, truncate_file
from scalecodec.container.format import VERSION_MAJOR, VERSION_MINOR

VECTORS = Path(__file__).parent / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text())
HINT = ("decoded bytes differ from the golden vector: if this is intended, bump the format version "
        "(bitstream_spec.md) and run scripts/make-vectors.py --force")


def sha(data) -> str:
    return hashlib.sha256(np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray)
                          else data).hexdigest()


def check_decodes(data: bytes, decoded: list[dict]):
    for want in decoded:
        got = decode_file(data, **want["request"])
        assert (got.width, got.height) == (want["width"], want["height"]), want["request"]
        assert sha(got.pixels) == want["pixels_sha256"], f"{want['request']}: {HINT}"


def test_vectors_are_of_this_format_version():
    # Vectors of an older version stay decodable, but new ones must be made
    # when the version moves, so that the pinned bytes are this version's.
    assert EXPECTED["format_version"] == f"{VERSION_MAJOR}.{VERSION_MINOR}"
    assert {v["file"] for v in EXPECTED["vectors"].values()} == {p.name for p in VECTORS.glob("*.scc")}


@pytest.mark.parametrize("name", sorted(EXPECTED["vectors"]))
def test_golden_vector_decodes_to_the_pinned_pixels(name):
    vector = EXPECTED["vectors"][name]
    data = (VECTORS / vector["file"]).read_bytes()
    assert sha(data) == vector["stream_sha256"], "the vector file itself was changed"
    # The container writes back exactly the bytes it read.
    assert container.serialize(container.parse(data)) == data
    assert metadata_hashes(data) == vector["metadata_sha256"]
    check_decodes(data, vector["decoded"])


def metadata_hashes(data: bytes) -> dict:
    return {c.kind.name.lower(): sha(c.payload) for c in container.parse(data).metadata}


def older_vectors():
    for folder in sorted(VECTORS.glob("1.*")):
        for name, vector in sorted(json.loads((folder / "expected.json").read_text())["vectors"].items()):
            yield pytest.param(folder, vector, id=f"{folder.name}/{name}")


@pytest.mark.parametrize("folder, vector", list(older_vectors()))
def test_vectors_of_earlier_minor_versions_still_decode_and_cut_the_same(folder, vector):
    # Each minor version keeps what the ones before it wrote: a 1.2 stream
    # (made by the first base codec, still installed) or a 1.3 one with
    # metadata decodes and cuts exactly as it did. Fine-grained streams of
    # the retired channel kind are refused with a note to encode again.
    data = (folder / vector["file"]).read_bytes()
    assert f"1.{data[5]}" == folder.name and sha(data) == vector["stream_sha256"]
    stream = container.parse(data)
    if any(c.kind == container.ChunkKind.CHANNELS for c in stream.chunks):
        with pytest.raises(container.ContainerError, match="encode the image again with --mode fgs"):
            decode_file(data)
        with pytest.raises(container.ContainerError, match="encode the image again"):
            container.truncate(stream, len(data) // 2)
        return
    check_decodes(data, vector["decoded"])
    for want in vector["truncated"]:
        if "request" in want:  # from 1.4: the cut as `scc truncate` was asked for it
            part = truncate_file(data, **want["request"]).stream
        elif want["bytes"] is None:
            part = container.serialize(container.select(stream, max_layer=0))
        else:
            part = container.serialize(container.truncate(stream, want["bytes"]))
        assert sha(part) == want["stream_sha256"]
        check_decodes(part, want["decoded"])


def test_the_alpha_vector_decodes_with_its_alpha():
    data = (VECTORS / EXPECTED["vectors"]["single-q4-alpha"]["file"]).read_bytes()
    assert container.parse(data).alpha is not None
    assert decode_file(data).pixels.shape == (88, 120, 4)


def test_the_metadata_vector_carries_every_kind_through_its_cut():
    vector = EXPECTED["vectors"]["spatial-1-2-q4-metadata"]
    assert set(vector["metadata_sha256"]) == {"icc", "exif", "xmp"}
    assert vector["truncated"][0]["metadata_sha256"] == vector["metadata_sha256"]


@pytest.mark.parametrize("name", [n for n, v in sorted(EXPECTED["vectors"].items()) if v["truncated"]])
def test_golden_vector_truncations_are_the_pinned_streams(name):
    vector = EXPECTED["vectors"][name]
    data = (VECTORS / vector["file"]).read_bytes()
    for want in vector["truncated"]:
        part = truncate_file(data, **want["request"]).stream
        assert len(part) <= (want["request"]["max_bytes"] or len(data))
        assert (len(part), sha(part)) == (want["stream_bytes"], want["stream_sha256"])
        assert metadata_hashes(part) == want["metadata_sha256"]
        check_decodes(part, want["decoded"])


def test_the_context_vector_is_coded_by_a_context_model_and_needs_1_5():
    """Its model codes y slice by slice (section 5.6); the same bytes
    labelled 1.4, older than context models, are refused, not misread."""
    import dataclasses

    from scalecodec.api import open_decoder
    from scalecodec.errors import StreamError
    from scalecodec.model.file import find_model

    data = (VECTORS / EXPECTED["vectors"]["single-q3-context"]["file"]).read_bytes()
    stream = container.parse(data)
    assert open_decoder(str(find_model(stream.header.model_id))).model.context is not None
    older = container.serialize(dataclasses.replace(stream, header=dataclasses.replace(stream.header, minor=4)))
    with pytest.raises(StreamError, match="context model"):
        decode_file(older)
