"""Train, resume and export end to end, at toy scale, through the CLI."""

import io
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
    env = {"SCC_MODEL_PATH": str(model.parent)}
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


def _toy_base(tmp_path, photos, *extra):
    toy = ("--channels", 8, "--latent-channels", 12, "--batch", 2, "--crop", 64, "--threads", 1)
    scc("train", photos, "--workdir", tmp_path / "base", *toy, *extra, "--minutes", 0.03, check=True)
    return tmp_path / "base" / "checkpoint.pt"


def _photos(folder, count):
    """count distinct photos cut from the test photo (rotations, crops, tints)."""
    folder.mkdir()
    src = Image.open(DATA / "photo-120x88.png").convert("RGB")
    for i in range(count):
        im = src.rotate(90 * (i % 4), expand=True)
        tint = np.asarray(im).astype(np.int16) + (i * 7) % 40 - 20
        Image.fromarray(tint.clip(0, 255).astype(np.uint8)).save(folder / f"p{i:02d}.png")
    return folder


def test_widened_codec_starts_as_the_old_one_and_trains_only_its_new_parts(tmp_path):
    import torch

    from scalecodec.nn.model import GainedHyperprior
    from scalecodec.training.widen import load_widened

    photos = _photos(tmp_path / "photos", 3)
    base = _toy_base(tmp_path, photos)
    state = torch.load(base, weights_only=False)
    old = GainedHyperprior(8, 12, state["config"]["lambdas"])
    old.load_state_dict(state["model"])
    lambdas = [0.001] + state["config"]["lambdas"] + [0.2]
    new, _ = load_widened(str(base), 8, 20, lambdas)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for level in range(old.levels):
            q = torch.full((2,), float(level))
            y = old.g_a(x) * old.gains(q)[0]
            y2 = new.g_a(x) * new.gains(q + 1)[0]
            params, params2 = old.h_s(torch.round(old.h_a(y))), new.h_s(torch.round(new.h_a(y2)))
            # The old channels, their means and their scales are exactly the old ones.
            assert torch.equal(y, y2[:, :12])
            assert torch.equal(params[:, :12], params2[:, :12])
            assert torch.equal(params[:, 12:], params2[:, 20:32])

    args = ("train", photos, "--workdir", tmp_path / "wide", "--channels", 8, "--latent-channels", 20,
            "--lambdas", ",".join(map(str, lambdas)), "--widen-from", base, "--new-only-minutes", 10,
            "--rate-ramp-minutes", 1, "--batch", 2, "--crop", 64, "--threads", 1)
    scc(*args, "--minutes", 0.05, check=True)
    r = scc(*args, "--minutes", 0.08, check=True)
    assert b"resumed" in r.stderr
    trained = torch.load(tmp_path / "wide" / "checkpoint.pt", weights_only=False)
    w = trained["model"]
    assert torch.equal(w["g_a.0.weight"], state["model"]["g_a.0.weight"])
    assert torch.equal(w["g_a.6.weight"][:12], state["model"]["g_a.6.weight"])
    assert torch.equal(w["g_s.0.weight"][:12], state["model"]["g_s.0.weight"])
    assert torch.equal(w["log_gain"][1:8, :12], state["model"]["log_gain"])
    assert not torch.equal(w["g_a.6.weight"][12:], new.g_a[6].weight[12:])
    assert not torch.equal(w["log_gain"][0, :12], new.log_gain[0, :12])
    # Adam's second moments are stored as a byte each and its first left
    # out (smaller commits); the run above resumed from them.
    moments = next(iter(trained["optimizer"]["state"].values()))
    assert moments["exp_avg_sq_log2"].dtype == torch.uint8 and "exp_avg" not in moments

    # A widening must keep every old level and add channels.
    r = scc("train", photos, "--workdir", tmp_path / "bad", "--channels", 8, "--latent-channels", 20,
            "--lambdas", "0.001,0.2", "--widen-from", base, "--minutes", 0.01)
    assert r.returncode == 2 and b"must include" in r.stderr


def test_widened_transforms_start_as_the_old_codec_and_their_average_ships(tmp_path):
    import torch

    from scalecodec.model.file import read_model
    from scalecodec.nn.model import GainedHyperprior
    from scalecodec.training.train import averaged_weights
    from scalecodec.training.widen import load_widened

    photos = _photos(tmp_path / "photos", 3)
    base = _toy_base(tmp_path, photos, "--ema", 0.9)
    state = torch.load(base, weights_only=False)
    lambdas = state["config"]["lambdas"]
    # The widened codec starts from the base's average, the weights that
    # were measured and shipped, not from its last step's.
    old = GainedHyperprior.from_config(state["config"])
    old.load_state_dict(averaged_weights(state))
    assert not torch.equal(averaged_weights(state)["g_a.0.weight"], state["model"]["g_a.0.weight"])
    new, masks = load_widened(str(base), 16, 12, lambdas)
    assert masks is None and (new.n, new.z_channels) == (16, 8)
    x = torch.rand(2, 3, 64, 64)
    for level in (0.0, 2.5, 6.0):
        q = torch.full((2,), level)
        assert torch.equal(old.reconstruct(x, q), new.reconstruct(x, q))

    args = ("train", photos, "--workdir", tmp_path / "wide", "--channels", 16, "--latent-channels", 12,
            "--lambdas", ",".join(map(str, lambdas)), "--widen-from", base, "--ema", 0.9,
            "--batch", 2, "--crop", 64, "--threads", 1, "--no-bf16")
    r = scc(*args, "--minutes", 0.05, check=True)
    assert b"bf16 autocast off" in r.stderr
    r = scc(*args, "--minutes", 0.08, check=True)
    assert b"resumed" in r.stderr
    trained = torch.load(tmp_path / "wide" / "checkpoint.pt", weights_only=False)
    cfg = trained["config"]
    assert cfg["z_channels"] == 8 and cfg["prior_minutes"] == state["elapsed"] / 60
    assert all(d.dtype == torch.bfloat16 for d in trained["ema_delta"].values())
    # Every parameter trains from the first step, the old ones included.
    assert not torch.equal(trained["model"]["g_a.0.weight"][:8], state["model"]["g_a.0.weight"])
    averaged = averaged_weights(trained)

    model = tmp_path / "models" / "wide.npz"
    model.parent.mkdir()
    scc("export", tmp_path / "wide" / "checkpoint.pt", model, "--data", photos, check=True)
    tree, _ = read_model(model)
    assert (tree["architecture"]["n"], tree["architecture"]["z_channels"]) == (16, 8)
    shipped = torch.from_numpy(tree["encoder"]["g_a.0.weight"])
    assert torch.equal(shipped, averaged["g_a.0.weight"])
    assert not torch.equal(shipped, trained["model"]["g_a.0.weight"])
    scc("encode", DATA / "photo-120x88.png", tmp_path / "w.scc", "--model", model, check=True)
    scc("decode", tmp_path / "w.scc", tmp_path / "w.png", env={"SCC_MODEL_PATH": str(model.parent)}, check=True)
    assert Image.open(tmp_path / "w.png").size == (120, 88)


def test_new_only_phase_ends_and_then_every_part_trains(tmp_path):
    import torch

    photos = _photos(tmp_path / "photos", 3)
    base = _toy_base(tmp_path, photos)
    lambdas = torch.load(base, weights_only=False)["config"]["lambdas"]
    r = scc("train", photos, "--workdir", tmp_path / "wide", "--channels", 8, "--latent-channels", 16,
            "--lambdas", ",".join(map(str, lambdas)), "--widen-from", base, "--new-only-minutes", 0.02,
            "--batch", 2, "--crop", 64, "--threads", 1, "--minutes", 0.06, check=True)
    assert b"new-only phase over" in r.stderr
    snapshot = torch.load(tmp_path / "wide" / "checkpoint-new-only.pt", weights_only=False)
    assert snapshot["new_only_active"] and 0 < snapshot["step"]
    w = torch.load(tmp_path / "wide" / "checkpoint.pt", weights_only=False)["model"]
    old = torch.load(base, weights_only=False)["model"]
    assert not torch.equal(w["g_a.0.weight"], old["g_a.0.weight"])


def test_learning_curve_measures_held_out_photos_that_training_never_sees(tmp_path):
    import subprocess
    import sys

    from scalecodec.training.data import PatchPool
    from scalecodec.training.validation import held_out_files

    photos = _photos(tmp_path / "photos", 20)
    held = held_out_files(photos)
    assert len(held) == 2 and len(PatchPool(photos, 64, versions=1, exclude=held).images) == 18
    base = _toy_base(tmp_path, photos)
    (tmp_path / "run").mkdir()
    shutil.copy(base, tmp_path / "run" / "checkpoint.pt")  # resumed: first measured as the reference
    scc("train", photos, "--workdir", tmp_path / "run", "--channels", 8, "--latent-channels", 12,
        "--batch", 2, "--crop", 64, "--threads", 1, "--minutes", 0.1, "--val-minutes", 0.04,
        "--val-reference", base, check=True)
    records = [json.loads(line) for line in (tmp_path / "run" / "val_log.jsonl").read_text().splitlines()]
    assert len(records) >= 2
    # The budget ends between two points; the curve still ends where training did.
    assert records[-1]["step"] == _steps(tmp_path / "run")
    assert all(len(r["bpp"]) == len(r["psnr"]) == 7 and min(r["bpp"]) > 0 for r in records)
    # The first point is the reference network itself, measured the same way;
    # training then moves the curve.
    ref = json.loads((tmp_path / "run" / "val_reference.json").read_text())
    assert (records[0]["bpp"], records[0]["psnr"]) == (ref["bpp"], ref["psnr"])
    assert records[-1]["psnr"] != ref["psnr"] and "bd_vs_reference_pct" in records[-1]
    out = tmp_path / "curve"
    proc = subprocess.run([sys.executable, "scripts/learning-curve.py", tmp_path / "run", "--out", out],
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert (tmp_path / "curve.png").stat().st_size > 1000
    assert "bd_vs_reference" not in (tmp_path / "curve.md").read_text()  # a table for people
    assert f"| {records[-1]['step']} |" in (tmp_path / "curve.md").read_text()

    r = scc("train", _photos(tmp_path / "few", 5), "--workdir", tmp_path / "few-run", "--val-minutes", 1,
            "--minutes", 0.01)
    assert r.returncode == 2 and b"too few photos" in r.stderr


def test_compact_optimizer_state_keeps_adams_denominators_and_reads_older_checkpoints():
    import torch

    from scalecodec.training.train import compact_optimizer_state, restore_optimizer_state

    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(300)), torch.nn.Parameter(torch.randn(40)),
              torch.nn.Parameter(torch.randn(5))]
    opt = torch.optim.Adam(params, lr=1e-3)
    for _ in range(3):
        # Gradients over many octaves, and a parameter that never had one.
        params[0].grad = torch.randn(300) * torch.logspace(-12, 2, 300)
        params[1].grad = torch.zeros(40)
        params[2].grad = None
        opt.step()
    original = opt.state_dict()
    compact = compact_optimizer_state(original)
    v0 = original["state"][0]["exp_avg_sq"]
    assert compact["state"][0]["exp_avg_sq_log2"].dtype == torch.uint8
    assert "exp_avg" not in compact["state"][0] and 2 not in compact["state"]

    restored = restore_optimizer_state(compact)
    back = restored["state"][0]["exp_avg_sq"]
    kept = v0 > v0.max() * 2.0 ** -64
    assert 150 < kept.sum() < 300
    ratio = (back[kept] / v0[kept]).sqrt()
    assert (ratio - 1).abs().max() < 0.045 and (ratio - 1).abs().max() > 0
    # Those far below come back at the floor, where Adam's eps dominates.
    assert torch.all(back[~kept] >= v0[~kept]) and back[~kept].max().sqrt() < 1e-8
    assert torch.equal(restored["state"][1]["exp_avg_sq"], torch.zeros(40))
    assert torch.equal(restored["state"][0]["exp_avg"], torch.zeros(300))
    again = torch.optim.Adam(params, lr=1e-3)
    again.load_state_dict(restored)
    assert again.state[params[0]]["exp_avg_sq"].dtype == torch.float32

    # Checkpoints before the byte form kept the second moments in bfloat16.
    older = {**original, "state": {k: {"step": s["step"], "exp_avg_sq": s["exp_avg_sq"].bfloat16()}
                                   for k, s in original["state"].items()}}
    assert torch.equal(restore_optimizer_state(older)["state"][0]["exp_avg_sq"], v0.bfloat16())


def test_the_training_clock_counts_neither_a_pause_nor_a_starved_share(monkeypatch):
    from scalecodec.training import train

    wall = iter([100.0, 100.9, 1000.9, 1002.9, 0.0, 1.0, 901.0])
    cpu = iter([10.0, 11.8, 13.6, 15.6, 0.0, 0.1, 0.2])
    monkeypatch.setattr(train.time, "monotonic", lambda: next(wall))
    monkeypatch.setattr(train.time, "process_time", lambda: next(cpu))
    clock = train.TrainingClock(60.0, threads=2)
    # Two threads busy for 0.9 s: all of it counts.
    assert abs(clock.advance() - 60.9) < 1e-9
    # Stopped for 15 minutes inside the next iteration (kill -STOP for a quiet
    # timing): only its 0.9 s of work count.
    assert abs(clock.advance() - 61.8) < 1e-9
    # 2 s in which the threads had 2 CPU seconds of their 4 (a benchmark beside them): 1 s.
    assert abs(clock.advance() - 62.8) < 1e-9
    # On a GPU (no thread count) wall time counts, a pause at most STALL_SECONDS.
    gpu = train.TrainingClock(0.0, threads=None)
    assert abs(gpu.advance() - 1.0) < 1e-9
    assert abs(gpu.advance() - (1.0 + train.STALL_SECONDS)) < 1e-9


def test_a_grey_codec_fine_tunes_and_validates_on_the_photos_made_grey(tmp_path, monkeypatch):
    import torch

    from scalecodec.nn.model import GainedHyperprior
    from scalecodec.training.data import PatchPool
    from scalecodec.training.validation import load_held_out, measure

    photos = _photos(tmp_path / "photos", 20)
    for grey in (False, True):
        image = PatchPool(photos, 64, versions=1, grey=grey).images[0]
        assert np.array_equal(image[..., 0], image[..., 2]) == grey
    held = load_held_out(photos, grey=True)
    assert torch.equal(held[:, 0], held[:, 1]) and torch.equal(held[:, 1], held[:, 2])
    # Pillow's luma, as scc reads a grey image: the held-out crops' grey levels
    # are among those of the colour crops made grey by Pillow.
    colour = load_held_out(photos)
    made = torch.from_numpy(np.stack([np.asarray(Image.fromarray(
        (c.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).convert("L")) for c in colour])).float() / 255
    assert (held[:, 0] - made).abs().mean() < 0.01 and (colour[:, 0] - made).abs().mean() > 0.01

    base = _toy_base(tmp_path, photos)
    toy = ("--channels", 8, "--latent-channels", 12, "--batch", 2, "--crop", 64, "--threads", 1)
    scc("train", photos, "--workdir", tmp_path / "grey", "--grey", "--widen-from", base, *toy,
        "--minutes", 0.05, "--val-minutes", 0.02, "--val-reference", base, check=True)
    state = torch.load(tmp_path / "grey" / "checkpoint.pt", weights_only=False)
    assert state["config"]["grey"] and state["step"] > 0
    # Its learning curve measured the reference on the grey photos.
    ref = json.loads((tmp_path / "grey" / "val_reference.json").read_text())
    start = torch.load(base, weights_only=True)
    net = GainedHyperprior.from_config(start["config"])
    net.load_state_dict(start["model"])
    assert ref["bpp"] == measure(net, held)["bpp"] != measure(net, colour)["bpp"]
    # Exported (calibrated on grey patches), it codes a grey photo.
    from scalecodec.api import decode_file, encode_file
    from scalecodec.training import export

    calibrated = []
    monkeypatch.setattr(export, "PatchPool", lambda *a, **k: calibrated.append(k["grey"]) or PatchPool(*a, **k))
    export.export(tmp_path / "grey" / "checkpoint.pt", photos, tmp_path / "grey.npz")
    assert calibrated == [True]
    grey = Image.open(DATA / "photo-120x88.png").convert("L")
    buf = io.BytesIO()
    grey.save(buf, "PNG")
    decoded = decode_file(encode_file(buf.getvalue(), 4, model_path=tmp_path / "grey.npz").stream,
                          model_path=tmp_path / "grey.npz")
    assert Image.open(io.BytesIO(decoded.image)).mode == "L"
