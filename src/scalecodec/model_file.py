"""Loading shipped model files and finding them by id."""

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .entropy.tables import PmfTables
from .errors import ModelError
from .nn.model import GainedHyperprior
from .prior import FixedPointHyperSynthesis

DEFAULT_MODEL = "scc-hyperprior-n64.pt"


def models_dir() -> Path:
    env = os.environ.get("SCC_MODEL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "models"


def model_id_of(path: Path) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()[:16]


@dataclass
class LoadedModel:
    path: Path
    model_id: bytes
    network: GainedHyperprior
    hyper_synthesis: FixedPointHyperSynthesis
    z_tables: PmfTables
    y_tables: PmfTables
    info: dict


def _tables(state: dict) -> PmfTables:
    return PmfTables(state["counts"].numpy(), state["offsets"].numpy(), state["lengths"].numpy())


def load_model(path: Path | None = None) -> LoadedModel:
    path = Path(path) if path else models_dir() / DEFAULT_MODEL
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    raw = path.read_bytes()
    try:
        state = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        arch = state["architecture"]
        net = GainedHyperprior(arch["n"], arch["m"], arch["lambdas"])
        missing, unexpected = net.load_state_dict(state["weights"], strict=False)
        if unexpected or any(not k.startswith("z_density") for k in missing):
            raise ModelError(f"{path} does not match the network it declares")
    except ModelError:
        raise
    except Exception as err:  # a corrupt or foreign file, whatever torch raises
        raise ModelError(f"cannot read model file {path}: {err}") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return LoadedModel(
        path=path,
        model_id=hashlib.sha256(raw).digest()[:16],
        network=net,
        hyper_synthesis=FixedPointHyperSynthesis(state["hyper_synthesis"]),
        z_tables=_tables(state["z_tables"]),
        y_tables=_tables(state["y_tables"]),
        info={"architecture": arch, "training": state.get("training", {})},
    )


def find_model(model_id: bytes, search: list[Path] | None = None) -> Path:
    """The model file whose id is model_id, among the candidates or models_dir()."""
    candidates = search if search is not None else sorted(models_dir().glob("*.pt"))
    for p in candidates:
        if p.is_file() and model_id_of(p) == model_id:
            return p
    raise ModelError(
        f"this stream was made by model {model_id.hex()}, which is not installed "
        f"(looked in {models_dir()})"
    )
