"""Decoded bytes do not depend on thread count, instruction set or BLAS.

The image is large enough (480x352) that float32 convolutions would differ
between these settings somewhere; the decoder's exact arithmetic must not.
"""

import hashlib

import pytest
from PIL import Image

from conftest import PHOTO, scc

# The decoder is numpy: what could change its bytes is numpy's SIMD dispatch
# and OpenBLAS's kernels and threads. The encoder is torch: ATen's and
# oneDNN's instruction sets (it only has to be decodable everywhere).
DECODER_VARIANTS = {
    "1 thread": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "2 threads": {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
    "numpy without AVX-512 dispatch": {"NPY_DISABLE_CPU_FEATURES":
                                       "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"},
    "OpenBLAS Haswell kernels": {"OPENBLAS_CORETYPE": "Haswell"},
    "OpenBLAS SandyBridge kernels (no FMA)": {"OPENBLAS_CORETYPE": "SandyBridge"},
}
ENCODER_ELSEWHERE = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2"}


@pytest.fixture(scope="module")
def large_photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("det") / "large.png"
    Image.open(PHOTO).resize((480, 352), Image.Resampling.BICUBIC).save(path)
    return path


def test_decoded_png_bytes_are_identical_across_threads_and_isas(large_photo):
    stream = scc("encode", large_photo, "-", "-q", "4", check=True).stdout
    digests = {name: hashlib.sha256(scc("decode", "-", "-", input=stream, env=env, check=True).stdout)
               .hexdigest() for name, env in DECODER_VARIANTS.items()}
    assert len(set(digests.values())) == 1, digests


def test_stream_from_another_isa_decodes_identically(large_photo):
    """Encoder and decoder on different instruction sets, as GPU and CPU would be."""
    stream = scc("encode", large_photo, "-", "-q", "2", env=ENCODER_ELSEWHERE, check=True).stdout
    outs = {scc("decode", "-", "-", input=stream, env=env, check=True).stdout
            for env in (DECODER_VARIANTS["OpenBLAS SandyBridge kernels (no FMA)"], DECODER_VARIANTS["2 threads"],
                        DECODER_VARIANTS["1 thread"])}
    assert len(outs) == 1


def test_spatial_stream_decodes_identically_everywhere(large_photo):
    """Every layer is predicted from the one below, so a difference anywhere
    would compound: the LIFF prediction is exact too."""
    stream = scc("encode", large_photo, "-", "-q", "3", "--scales", "1,1.5,2.5",
                 env=ENCODER_ELSEWHERE, check=True).stdout
    outs = {scc("decode", "-", "-", input=stream, env=env, check=True).stdout
            for env in (DECODER_VARIANTS["OpenBLAS Haswell kernels"], DECODER_VARIANTS["2 threads"],
                        DECODER_VARIANTS["numpy without AVX-512 dispatch"])}
    assert len(outs) == 1
