"""Train, resume and export end to end, at toy scale, through the CLI."""

import json
import shutil

import numpy as np
from PIL import Image

from conftest import DATA, scc


def test_train_resume_export_and_use(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, angle in enumerate((0, 90, 180)):
        Image.open(DATA / "photo-120x88.png").rotate(angle, expand=True).save(photos / f"p{i}.jpg")
    work = tmp_path / "run"
    args = ("train", photos, "--workdir", work, "--channels", 8, "--latent-channels", 12,
            "--batch", 2, "--crop", 64, "--threads", 1)
    scc(*args, "--minutes", 0.05, check=True)
    state_steps = _steps(work)
    r = scc(*args, "--minutes", 0.1, check=True)
    assert b"resumed" in r.stderr and _steps(work) > state_steps

    model = tmp_path / "models" / "toy.npz"
    model.parent.mkdir()
    scc("export", work / "checkpoint.pt", model, "--data", photos, check=True)
    env = {"SCC_MODEL_DIR": str(model.parent)}
    scc("encode", DATA / "photo-120x88.png", tmp_path / "t.scc", "--model", model, "-q", 3, check=True)
    scc("decode", tmp_path / "t.scc", tmp_path / "t.png", env=env, check=True)
    assert np.asarray(Image.open(tmp_path / "t.png")).shape == (88, 120, 3)
    shutil.rmtree(photos)


def _steps(work):
    import torch

    return torch.load(work / "checkpoint.pt", weights_only=False)["step"]


def test_torchrun_two_processes_train_together(tmp_path):
    """The engine scales out with torchrun (gloo on CPU here, NCCL on GPUs)."""
    import subprocess
    import sys

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(DATA / "photo-120x88.png").save(photos / "p.png")
    work = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "scalecodec.cli", "train", str(photos), "--workdir", str(work),
           "--channels", "8", "--latent-channels", "12", "--batch", "2", "--crop", "64",
           "--threads", "1", "--minutes", "0.05"]
    proc = subprocess.run(cmd, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert _steps(work) > 0


def test_spatial_enhancement_layer_trains_over_a_frozen_base_and_resumes(tmp_path):
    import torch

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, angle in enumerate((0, 180)):
        Image.open(DATA / "photo-120x88.png").rotate(angle, expand=True).save(photos / f"p{i}.png")
    toy = ("--channels", 8, "--latent-channels", 12, "--batch", 2, "--crop", 64, "--threads", 1)
    scc("train", photos, "--workdir", tmp_path / "base", *toy, "--minutes", 0.03, check=True)
    base_ckpt = tmp_path / "base" / "checkpoint.pt"
    base_before = torch.load(base_ckpt, weights_only=False)["model"]
    args = ("train", photos, "--workdir", tmp_path / "el", *toy, "--spatial-base", base_ckpt)
    scc(*args, "--minutes", 0.05, check=True)
    first = _steps(tmp_path / "el")
    r = scc(*args, "--minutes", 0.1, check=True)
    assert b"resumed" in r.stderr and _steps(tmp_path / "el") > first > 0
    state = torch.load(tmp_path / "el" / "checkpoint.pt", weights_only=False)["model"]
    # The base layer stayed frozen; the enhancement layer learned.
    assert all(torch.equal(state[f"base.{k}"], v) for k, v in base_before.items())
    assert state["el.liff.mlp.4.weight"].abs().sum() > 0  # the last 1x1 conv starts at zero
    log = [json.loads(line) for line in (tmp_path / "el" / "train_log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in log)

    # A spatial checkpoint is not a base: refused with a usage error.
    r = scc("train", photos, "--workdir", tmp_path / "el2", *toy,
            "--spatial-base", tmp_path / "el" / "checkpoint.pt", "--minutes", 0.01)
    assert r.returncode == 2 and b"not a base-codec checkpoint" in r.stderr
