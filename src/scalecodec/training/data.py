"""Training patches held in memory.

Each photo is decoded once, downscaled by a few random factors (which hides the
JPEG artefacts of the source photos), and kept as uint8. Batches are random
crops with random flips, drawn without any per-step image decoding.
"""

import logging
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..io.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)



def find_images(root: Path) -> list[Path]:
    files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"{root}: no images found")
    return files


def as_read(im: Image.Image, grey: bool) -> Image.Image:
    """A photo as the codec's input: RGB, or with grey Pillow's luma (what
    scc encode reads from a grey image) in all three channels."""
    return im.convert("L").convert("RGB") if grey else im.convert("RGB")


class PatchPool:
    def __init__(self, root: Path, crop: int, versions: int = 3, scale_range=(0.35, 0.85), seed: int = 0,
                 exclude=(), grey: bool = False):
        """exclude: photos held out for validation, never trained on; grey:
        each photo made grey as scc reads a grey image (as_read)."""
        self.crop = crop
        rng = random.Random(seed)
        self.images: list[np.ndarray] = []
        files = [f for f in find_images(root) if f not in set(exclude)]
        for i, path in enumerate(files):
            with Image.open(path) as im:
                im = as_read(im, grey)
                for _ in range(versions):
                    s = rng.uniform(*scale_range)
                    w, h = round(im.width * s), round(im.height * s)
                    if min(w, h) < crop:
                        s = crop / min(im.width, im.height)
                        w, h = max(crop, round(im.width * s)), max(crop, round(im.height * s))
                    self.images.append(np.asarray(im.resize((w, h), Image.Resampling.LANCZOS)))
            if (i + 1) % 200 == 0:
                log.info("loaded %d/%d photos", i + 1, len(files))
        log.info("patch pool: %d photos, %d scaled versions", len(files), len(self.images))

    def batch(self, size: int, rng: np.random.Generator) -> torch.Tensor:
        out = np.empty((size, self.crop, self.crop, 3), np.uint8)
        c = self.crop
        for b in range(size):
            img = self.images[rng.integers(len(self.images))]
            y = rng.integers(img.shape[0] - c + 1)
            x = rng.integers(img.shape[1] - c + 1)
            patch = img[y : y + c, x : x + c]
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            out[b] = patch
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)
