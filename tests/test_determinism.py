"""Decoded bytes do not depend on thread count or CPU instruction set."""

import hashlib

import pytest

from conftest import scc

VARIANTS = {
    "1 thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "2 threads": {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
    "ATen default ISA": {"ATEN_CPU_CAPABILITY": "default"},
    "ATen avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "oneDNN avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2"},
}


@pytest.fixture(scope="module")
def sample_stream(tmp_path_factory):
    from conftest import DATA

    out = tmp_path_factory.mktemp("det") / "photo.scc"
    scc("encode", DATA / "photo-120x88.png", out, "-q", "4", check=True)
    return out


def test_decoded_png_bytes_are_identical_across_threads_and_isas(sample_stream):
    digests = {}
    for name, env in VARIANTS.items():
        png = scc("decode", sample_stream, "-", env=env, check=True).stdout
        digests[name] = hashlib.sha256(png).hexdigest()
    assert len(set(digests.values())) == 1, digests


def test_stream_from_another_isa_decodes_identically(tmp_path):
    """Encoder and decoder on different instruction sets, as GPU and CPU would be."""
    from conftest import DATA

    stream = scc("encode", DATA / "photo-120x88.png", "-", "-q", "2",
                 env=VARIANTS["ATen default ISA"] | VARIANTS["oneDNN avx2"], check=True).stdout
    outs = {scc("decode", "-", "-", input=stream, env=env, check=True).stdout
            for env in (VARIANTS["ATen avx2"], VARIANTS["2 threads"], VARIANTS["1 thread"])}
    assert len(outs) == 1
