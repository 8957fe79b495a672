"""The learning curve: a fixed held-out set, measured every few minutes.

Progress is judged per wall-clock minute on photos that training never sees,
never on Kodak (the evaluation set). The held-out photos are chosen from the
training folder by a fixed rule, and PatchPool leaves them out.

The rates here are the model's code length (-log2 of its likelihoods of the
rounded symbols), not file bytes: the learning curve compares a network with
its own past and with a reference network on equal terms; files are measured
by `scc bench` on the exported model.
"""

import json
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import UsageError
from ..eval.benchmark import summary
from ..nn.density import gaussian_likelihood
from ..nn.model import GainedHyperprior
from .data import as_read, find_images

log = logging.getLogger(__name__)

HELD_OUT = 24
SCALE = 0.5
SIZE = 256  # a multiple of 64, so no padding enters the rate
PSNR_AT_BPP = (0.25, 0.5, 1.0)


def held_out_files(root: Path) -> list[Path]:
    """Every k-th photo of the sorted folder: HELD_OUT of them, but never more
    than a tenth of the folder (none from a folder of under ten)."""
    files = find_images(root)
    count = min(HELD_OUT, len(files) // 10)
    return files[:: len(files) // count][:count] if count else []


def load_held_out(root: Path, grey: bool = False) -> torch.Tensor:
    """(HELD_OUT, 3, SIZE, SIZE) in [0, 1]: each photo reduced by SCALE (as
    training reduces its photos) and centre-cropped, enlarged first if small;
    with grey, made grey first (data.as_read)."""
    out = []
    for path in held_out_files(root):
        with Image.open(path) as im:
            im = as_read(im, grey)
            s = max(SCALE, SIZE / min(im.width, im.height))
            im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
            left, top = (im.width - SIZE) // 2, (im.height - SIZE) // 2
            out.append(np.asarray(im.crop((left, top, left + SIZE, top + SIZE))))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def measure(model: GainedHyperprior, images: torch.Tensor, batch: int = 8) -> dict:
    """Mean code length (bpp) and mean PSNR of the 8-bit output per level.
    With a context model, "hyperprior" holds the same for y rounded and
    coded under the hyperprior alone, as fine-grained streams code it: its
    curve follows the transforms apart from the context model's gain."""
    levels = model.levels
    kinds = 1 if model.context is None else 2
    bits = np.zeros((kinds, levels))
    psnr = np.zeros((kinds, levels))
    device = next(model.parameters()).device
    for k in range(levels):
        for i in range(0, len(images), batch):
            x = images[i : i + batch].to(device)
            t = model.latents(x, torch.full((len(x),), float(k), device=device))
            z_bits = -torch.log2(model.z_density.likelihood(torch.round(t["z"]))).flatten(1).sum(1)
            coded = [(t["y_hat"], t["y_rec"], t["mean"], t["scale"])]
            if kinds == 2:
                y_hat = torch.round(t["y"] - t["hyper_mean"]) + t["hyper_mean"]
                coded.append((y_hat, y_hat, t["hyper_mean"], t["hyper_scale"]))
            for j, (y_hat, y_rec, mean, scale) in enumerate(coded):
                b = -torch.log2(gaussian_likelihood(y_hat, mean, scale)).flatten(1).sum(1) + z_bits
                bits[j, k] += b.sum().item()
                x_hat = torch.round(model.g_s(y_rec * t["inverse_gain"]).float().clamp(0, 1) * 255)
                mse = (x_hat - torch.round(x * 255)).pow(2).flatten(1).mean(1)
                psnr[j, k] += (10 * torch.log10(255**2 / mse.clamp(min=1e-10))).sum().item()
    pixels = images.shape[2] * images.shape[3] * len(images)
    curves = [{"bpp": [round(float(v), 5) for v in bits[j] / pixels],
               "psnr": [round(float(v), 3) for v in psnr[j] / len(images)]} for j in range(kinds)]
    return {**curves[0], **({"hyperprior": curves[1]} if kinds == 2 else {})}


def _points(curve: dict) -> list[dict]:
    """A per-level curve as the benchmark's points, by rate."""
    return sorted(({"bpp": b, "psnr": p} for b, p in zip(curve["bpp"], curve["psnr"])), key=lambda p: p["bpp"])


def psnr_at(curve: dict, bpp: float) -> float | None:
    value = summary.psnr_at(_points(curve), bpp)
    return None if value is None else round(value, 3)


def bd_or_none(anchor: dict, test: dict) -> float | None:
    value = summary.bd_or_none(_points(anchor), _points(test), summary.psnr_db)
    return None if value is None else round(value, 3)


class LearningCurve:
    """Measures the model every `minutes` of training and appends to
    workdir/val_log.jsonl; the reference (a base-codec checkpoint, usually the
    shipped one) is measured once and kept in workdir/val_reference.json."""

    def __init__(self, data: Path, workdir: Path, reference: str | None, device: torch.device,
                 grey: bool = False):
        if not held_out_files(data):
            raise UsageError(f"{data}: too few photos to hold any out for validation (ten or more)")
        self.images = load_held_out(data, grey)
        self.path = workdir / "val_log.jsonl"
        ref_path = workdir / "val_reference.json"
        self.reference = None
        if ref_path.exists():
            self.reference = json.loads(ref_path.read_text())
        elif reference:
            state = torch.load(reference, map_location="cpu", weights_only=True)
            c = state["config"]
            ref = GainedHyperprior.from_config(c)
            ref.load_state_dict(state["model"])
            self.reference = {"checkpoint": reference, **measure(ref.to(device), self.images)}
            ref_path.write_text(json.dumps(self.reference) + "\n")
        self.previous = None
        if self.path.exists():
            lines = self.path.read_text().splitlines()
            self.previous = json.loads(lines[-1]) if lines else None

    def __call__(self, model: GainedHyperprior, step: int, minutes: float) -> dict:
        curve = measure(model, self.images)
        record = {"step": step, "minutes": round(minutes, 2), **curve,
                  **{f"psnr_at_{b}_bpp": psnr_at(curve, b) for b in PSNR_AT_BPP}}
        if self.reference:
            record["bd_vs_reference_pct"] = bd_or_none(self.reference, curve)
            if "hyperprior" in curve:
                record["hyperprior_bd_vs_reference_pct"] = bd_or_none(self.reference, curve["hyperprior"])
        if self.previous:
            record["bd_vs_previous_pct"] = bd_or_none(self.previous, curve)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.previous = record
        log.info("validation at %.1f min: BD %s%% vs reference%s, PSNR at 0.25/0.5/1 bpp %s/%s/%s dB",
                 minutes, record.get("bd_vs_reference_pct"),
                 f" ({record['hyperprior_bd_vs_reference_pct']}% under the hyperprior alone)"
                 if "hyperprior_bd_vs_reference_pct" in record else "",
                 *(record[f"psnr_at_{b}_bpp"] for b in PSNR_AT_BPP))
        return record
