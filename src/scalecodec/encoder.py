"""Encoding: 8-bit pixels -> stream bytes.

The analysis transforms run in float on any device (CPU or CUDA); their
results only choose the symbols. The entropy parameters come from the same
exact fixed-point prior path the decoder runs, so any device's stream decodes
the same everywhere.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import base_layer, container
from .container import Chunk, ChunkKind, ColourFormat, Header, Stream
from .entropy import encode_symbols
from .errors import ModelError, QualityError
from .model_file import DecoderModel
from .nn.model import GainedHyperprior
from .prior import MEAN_FRAC_BITS


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda requested but CUDA is not available")
    return torch.device(name)


def analysis_network(model: DecoderModel) -> GainedHyperprior:
    """The float network with the model file's encoder weights (g_a, h_a, gains)."""
    arch = model.tree["architecture"]
    net = GainedHyperprior(int(arch["n"]), int(arch["m"]), list(arch["lambdas"]))
    weights = {k: torch.from_numpy(np.array(v)) for k, v in model.tree["encoder"].items()}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith(("g_s.", "h_s.", "z_density.")) for k in missing):
        raise ModelError(f"{model.path} does not match the network it declares")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class Encoder:
    def __init__(self, model: DecoderModel, device: str = "auto"):
        self.model = model
        self.device = pick_device(device)
        self.net = analysis_network(model).to(self.device)

    @property
    def quality_range(self) -> tuple[float, float]:
        return 1.0, float(self.model.levels)

    @torch.no_grad()
    def encode(self, pixels: np.ndarray, quality: float, colour: ColourFormat = ColourFormat.RGB) -> bytes:
        """pixels: (H, W, 3) uint8 -> a complete container stream."""
        lo, hi = self.quality_range
        if not lo <= quality <= hi:  # also refuses NaN
            raise QualityError(f"quality must be between {lo:g} and {hi:g}, got {quality:g}")
        quality = round(quality * 256) / 256  # what the header carries
        h, w = pixels.shape[:2]
        m = self.model
        gain, _ = self.net.gains(torch.tensor([quality - 1.0], device=self.device))
        x = torch.from_numpy(np.array(pixels, np.uint8)).to(self.device)
        x = x.permute(2, 0, 1)[None].float().div(255)
        pad = base_layer.PAD
        x = F.pad(x, (0, math.ceil(w / pad) * pad - w, 0, math.ceil(h / pad) * pad - h), mode="replicate")
        y = self.net.g_a(x) * gain
        z_hat = torch.round(self.net.h_a(y))[0].cpu().double().numpy()
        mean, index = m.hyper_synthesis(z_hat)
        y = y[0].cpu().double().numpy()
        symbols = np.rint(y - mean / 2**MEAN_FRAC_BITS).astype(np.int64)

        z_bytes = encode_symbols(z_hat.astype(np.int64), base_layer.z_table_ids(z_hat.shape), m.z_tables)
        y_bytes = encode_symbols(symbols, index, m.y_tables)
        payload = base_layer.pack(base_layer.prior_checksum(mean, index), z_hat.size, z_bytes,
                                  symbols.size, y_bytes)
        header = Header(m.model_id, w, h, colour, 8, quality)
        return container.serialize(Stream(header, (Chunk(ChunkKind.BASE, 0, w, h, payload),)))
