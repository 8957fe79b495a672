"""The layout's rules, checked on the source: the decoding side never imports
torch, and the container is bytes only (no numpy, no torch)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "scalecodec"
# module (relative to scalecodec) -> what it must never import
RULES = {
    "container": ("torch", "numpy", "PIL"),
    "entropy": ("torch",),
    "exact": ("torch",),
    "model": ("torch",),
    "codecs/decoder.py": ("torch",),
    "codecs/layout.py": ("torch",),
    "codecs/geometry.py": ("torch",),
    "codecs/effort.py": ("torch", "numpy"),
    "io/images.py": ("torch",),
    "io/files.py": ("torch",),
}
# The one module of exact/ that exists to run it on torch (a GPU).
ALLOWED = {"exact/torch_backend.py"}


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def violations() -> list[str]:
    found = []
    for where, banned in RULES.items():
        files = [SRC / where] if where.endswith(".py") else sorted((SRC / where).rglob("*.py"))
        assert files and all(f.exists() for f in files), where
        for f in files:
            rel = f.relative_to(SRC).as_posix()
            if rel in ALLOWED:
                continue
            bad = imported_roots(f.read_text()) & set(banned)
            found += [f"{rel} imports {b}" for b in sorted(bad)]
    return found


def test_the_decoding_side_never_imports_torch_and_the_container_is_bytes_only():
    assert violations() == []


def test_the_check_finds_a_banned_import():
    assert imported_roots("import numpy as np\nfrom torch.nn import functional\n") == {"numpy", "torch"}
    assert imported_roots("from . import torch_backend\n") == set()  # relative: a module of ours


@pytest.mark.parametrize("package", ["container", "entropy", "exact", "codecs", "model", "io", "eval", "nn",
                                     "training"])
def test_every_concept_folder_says_what_it_holds(package):
    doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text()))
    assert doc and len(doc) > 20


def test_the_api_and_the_limits_load_neither_numpy_nor_torch():
    """`scc truncate` and `info` go through scalecodec.api: importing it (and
    truncating and describing a stream with it) must stay at the container."""
    import subprocess
    import sys

    code = ("import sys; import scalecodec.api as api, scalecodec.limits; "
            "data = open(sys.argv[1], 'rb').read(); api.truncate_file(data, max_bytes=len(data)); "
            "api.describe_file(data); "
            "print(sorted(m for m in ('numpy', 'torch', 'PIL') if m in sys.modules))")
    vector = Path(__file__).parent / "vectors" / "spatial-1-2-q4.scc"
    out = subprocess.run([sys.executable, "-c", code, str(vector)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
