"""Model files: one .npz per model, readable with numpy alone.

A model file holds a JSON tree (`meta`) whose array leaves are stored as npz
members; the string "@array:<key>" in the tree names the member. The decoder
reads only integer tables and fixed-point networks from it, so it needs no
torch. The model id is the first 16 bytes of the file's SHA-256.
"""

import hashlib
import io
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..entropy.tables import PmfTables
from ..errors import ModelError, QualityError
from ..exact.context import FixedPointContext
from ..exact.liff import FixedPointLiff
from ..exact.prior import FixedPointHyperSynthesis
from ..exact.synthesis import FixedPointSynthesis

FORMAT = "scalecodec-model-1"
# The default model file of each kind of stream.
MODEL_FILES = {
    # Base v3 (issue 26: N=128 and a context model); streams of earlier
    # models (v2, scc-hyperprior-n64, still installed) decode by their model id.
    # Grey images too: on Kodak made grey the grey model fine-tuned from v2
    # (scc-base-v2-grey, still installed) needs 5.4% more bytes than v3
    # (results/kodak-grey.md).
    "single": "scc-base-v3.npz",
    # Fine-grained streams code y in planes under the hyperprior alone, so a
    # context model's gain is not theirs: base v2's planes stay within +10%
    # BD-rate of v2's own single-layer streams (results/kodak/fgs.md), v3's
    # would be measured against v3 with its context model.
    "fine": "scc-base-v2.npz",
    "spatial": "scc-spatial-n64.npz",  # streams with enhancement layers
}
_ARRAY = "@array:"


def model_dirs() -> list[Path]:
    """Where models are looked for, in order: the folders of SCC_MODEL_PATH
    (separated by os.pathsep), a checkout's models/, and the shipped models
    of an installed package (its data files, share/scalecodec/models)."""
    env = [Path(p) for p in os.environ.get("SCC_MODEL_PATH", "").split(os.pathsep) if p]
    checkout = Path(__file__).resolve().parents[3] / "models"
    installed = Path(sysconfig.get_path("data")) / "share" / "scalecodec" / "models"
    return [*env, *(d for d in (checkout, installed) if d.is_dir())]


def default_model_path(kind: str = "single") -> Path:
    """The first installed file of the kind's default model."""
    dirs = model_dirs()
    for d in dirs:
        if (d / MODEL_FILES[kind]).is_file():
            return d / MODEL_FILES[kind]
    raise ModelError(f"the default model {MODEL_FILES[kind]} is not installed "
                     f"(looked in {', '.join(map(str, dirs)) or 'no folder'}; SCC_MODEL_PATH adds folders)")


def model_id_of(path: Path) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()[:16]


def write_model(path: Path, tree: dict) -> bytes:
    """Write tree (dicts, lists, scalars, numpy arrays) atomically; returns the id."""
    arrays = {}

    def strip(node, key):
        if isinstance(node, dict):
            return {k: strip(v, f"{key}/{k}") for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [strip(v, f"{key}/{i}") for i, v in enumerate(node)]
        if isinstance(node, np.ndarray):
            arrays[key] = node
            return _ARRAY + key
        return node

    meta = strip(tree, "")
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return model_id_of(path)


def read_model(path: Path) -> tuple[dict, bytes]:
    """(tree, model id) of a model file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    raw = path.read_bytes()
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            meta = json.loads(npz["meta"].tobytes())
            arrays = {k: npz[k] for k in npz.files if k != "meta"}
    except Exception as err:  # whatever a corrupt or foreign file makes numpy raise
        raise ModelError(f"cannot read model file {path}: {err}") from None

    def fill(node):
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str) and node.startswith(_ARRAY):
            return arrays[node[len(_ARRAY):]]
        return node

    tree = fill(meta)
    if tree.get("format") != FORMAT:
        raise ModelError(f"{path} is not a {FORMAT} model file")
    return tree, hashlib.sha256(raw).digest()[:16]


@dataclass
class EnhancementModel:
    """The spatial enhancement layer: LIFF and the residual codec's decoder
    parts; `tree` holds its encoder weights."""

    z_channels: int
    m: int
    liff: FixedPointLiff
    hyper_synthesis: FixedPointHyperSynthesis
    synthesis: FixedPointSynthesis
    z_tables: PmfTables
    y_tables: PmfTables
    tree: dict
    context: FixedPointContext | None = None  # none: enhancement layers have no context model


@dataclass
class DecoderModel:
    """What decoding needs (and what the encoder shares with it)."""

    path: Path
    model_id: bytes
    z_channels: int
    m: int
    levels: int
    hyper_synthesis: FixedPointHyperSynthesis
    synthesis: FixedPointSynthesis
    z_tables: PmfTables
    y_tables: PmfTables
    tree: dict
    # The channel-conditional context model of single-layer streams, if the model has one.
    context: FixedPointContext | None = None
    enhancement: EnhancementModel | None = None

    def check_quality(self, quality: float) -> float:
        """quality as the header carries it (8.8 fixed point), if the model offers it."""
        if not 1 <= quality <= self.levels:  # also refuses NaN
            raise QualityError(f"quality must be between 1 and {self.levels}, got {quality:g}")
        return round(quality * 256) / 256


def _tables(t: dict) -> PmfTables:
    return PmfTables(t["counts"], t["offsets"], t["lengths"])


def _codec_parts(tree: dict) -> dict:
    arch = tree["architecture"]
    return {
        # z's channels: the hyper networks' width, which is n in model
        # files that do not say (bitstream_spec.md section 5).
        "z_channels": int(arch.get("z_channels", arch["n"])),
        "m": int(arch["m"]),
        "hyper_synthesis": FixedPointHyperSynthesis(tree["hyper_synthesis"]),
        "synthesis": FixedPointSynthesis(tree["synthesis"]),
        "z_tables": _tables(tree["z_tables"]),
        "y_tables": _tables(tree["y_tables"]),
        "tree": tree,
        "context": FixedPointContext(tree["context"]) if "context" in tree else None,
    }


def load_model(path: Path | None = None) -> DecoderModel:
    path = Path(path) if path else default_model_path()
    tree, model_id = read_model(path)
    try:
        el = tree.get("enhancement")
        enhancement = EnhancementModel(liff=FixedPointLiff(el["liff"]), **_codec_parts(el)) if el else None
        return DecoderModel(path=path, model_id=model_id, levels=len(tree["architecture"]["lambdas"]),
                            enhancement=enhancement, **_codec_parts(tree))
    except (KeyError, ValueError, TypeError) as err:
        raise ModelError(f"{path} is incomplete or inconsistent: {err}") from None


def find_model(model_id: bytes) -> Path:
    """The installed model file whose id is model_id."""
    dirs = model_dirs()
    for d in dirs:
        for p in sorted(d.glob("*.npz")):
            if model_id_of(p) == model_id:
                return p
    raise ModelError(
        f"this stream was made by model {model_id.hex()}, which is not installed "
        f"(looked in {', '.join(map(str, dirs))}; SCC_MODEL_PATH adds folders)"
    )
