"""The torch backend of the exact decoder (CUDA's) gives the numpy decoder's
bytes; here it runs on the CPU, on every golden vector and request."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import scc
from scalecodec.codecs.decoder import Decoder
from scalecodec.exact.torch_backend import on_device
from scalecodec.model.file import find_model, load_model
from scalecodec import container

VECTORS = Path(__file__).parent / "vectors"
EXPECTED = json.loads((VECTORS / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED["vectors"]))
def test_torch_backend_decodes_the_same_bytes_as_numpy(name):
    vector = EXPECTED["vectors"][name]
    data = (VECTORS / vector["file"]).read_bytes()
    path = find_model(container.parse(data).header.model_id)
    numpy_decoder = Decoder(load_model(path))
    torch_model = load_model(path)
    on_device(torch_model, "cpu")
    torch_decoder = Decoder(torch_model)
    for want in vector["decoded"]:
        a = numpy_decoder.decode(data, **want["request"]).pixels
        b = torch_decoder.decode(data, **want["request"]).pixels
        assert np.array_equal(a, b), want["request"]


def test_decode_device_option(tmp_path, stream_file):
    r = scc("decode", stream_file, tmp_path / "a.png", "--device", "cpu")
    assert r.returncode == 0
    r = scc("decode", stream_file, tmp_path / "b.png", "--device", "cuda")
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if cuda:
        assert r.returncode == 0 and (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    else:
        assert r.returncode == 2 and b"CUDA is not available" in r.stderr
