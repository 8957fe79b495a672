"""The training loop: resumable, time-budgeted, ready for torchrun.

The learning-rate schedule is a function of the fraction of the wall-clock
budget spent, because on a 2-core CPU the budget is what is fixed, not the step
count. Resuming restores that fraction along with the weights and optimiser.
"""

import copy
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ..errors import UsageError
from ..nn.model import GainedHyperprior
from .data import PatchPool
from .spatial import SpatialChain, sample_chain, spatial_rd_loss
from .validation import LearningCurve, held_out_files
from .widen import NewOnly, averaged_weights, load_widened

log = logging.getLogger(__name__)

DEFAULT_LAMBDAS = [0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932]


@dataclass
class TrainConfig:
    data: str
    workdir: str
    n: int = 64
    m: int = 96
    lambdas: list = field(default_factory=lambda: list(DEFAULT_LAMBDAS))
    crop: int = 128
    batch: int = 8
    minutes: float = 120.0
    lr: float = 1e-3
    clip: float = 1.0
    # bf16 autocast; None: where the hardware makes it faster (bf16_is_fast).
    bf16: bool | None = None
    # Decay of the weights' exponential moving average (0: none); validation
    # measures the average, and export ships it.
    ema: float = 0.0
    threads: int = 0
    checkpoint_minutes: float = 5.0
    seed: int = 0
    # A base-codec checkpoint: train the spatial enhancement layer over it
    # (frozen) instead of the base codec.
    spatial_base: str | None = None
    # A base-codec checkpoint to widen to n transforms' channels and m latent
    # channels (and these lambdas).
    widen_from: str | None = None
    # The hyper networks' width (None: n); a widening keeps its base's.
    z_channels: int | None = None
    # Slices of a channel-conditional context model over the hyperprior (0: none).
    context_slices: int = 0
    # The widths of its parameter and LRP networks.
    context_hidden: tuple[int, int] = (64, 64)
    # A base-codec checkpoint to add the context model to, every part of the
    # base frozen: the context model's gain on fixed transforms (issue 27).
    context_base: str | None = None
    # A context run's checkpoint (context_base) whose context model a codec
    # with one (context_slices, no context_base) starts from.
    context_from: str | None = None
    # Training minutes behind the widened checkpoint, so that the learning
    # curve continues its base's (set from the checkpoint, not by hand).
    prior_minutes: float = 0.0
    # Train only the widened codec's new parts for this many minutes, then all.
    new_only_minutes: float = 0.0
    # The learning rate once every part trains (None: lr).
    joint_lr: float | None = None
    # The new channels' rate counts fully only after this many minutes.
    rate_ramp_minutes: float = 0.0
    # Measure the held-out photos every this many minutes (0: never) ...
    val_minutes: float = 0.0
    # ... against this base-codec checkpoint.
    val_reference: str | None = None
    # Train (and validate) on the photos made grey: a codec for grey images
    # (issue 30), usually fine-tuned from a colour one (widen_from, same shape).
    grey: bool = False


# No training step takes this long (seconds); an iteration that did was
# stopped (SIGSTOP to free the cores for a quiet timing, a suspended machine),
# and only this much of it counts as training time.
STALL_SECONDS = 30.0


class TrainingClock:
    """The clock the learning curve and the schedule run on: each
    iteration's wall time, less what the process did not spend training. A
    stopped process's pause is not training time (an iteration counts at most
    STALL_SECONDS), and on a CPU an iteration counts no more than the CPU time
    its threads had, over their number: a run starved by other work on the
    same cores (a benchmark beside it) does not spend its schedule."""

    def __init__(self, elapsed: float, threads: int | None):
        self.elapsed, self.threads = elapsed, threads
        self.restart()

    def restart(self) -> None:
        """Time from here on counts (after work that is not training)."""
        self.wall, self.cpu = time.monotonic(), time.process_time()

    def advance(self) -> float:
        """Count the iteration that ends now; the clock's seconds."""
        wall, cpu = time.monotonic(), time.process_time()
        spent = min(wall - self.wall, STALL_SECONDS)
        if self.threads:
            spent = min(spent, (cpu - self.cpu) / self.threads)
        self.elapsed += max(spent, 0.0)
        self.wall, self.cpu = wall, cpu
        return self.elapsed


def learning_rate(cfg: TrainConfig, progress: float) -> float:
    """Warm-up, constant, then a linear decay to 1% over the last 60% of the
    budget: under a fixed budget a long linear decay beats step decays."""
    warmup, decay_from = 0.02, 0.4
    if progress < warmup:
        return cfg.lr * max(progress / warmup, 0.05)
    if progress < decay_from:
        return cfg.lr
    t = min(1.0, (progress - decay_from) / (1 - decay_from))
    return cfg.lr * (1 - 0.99 * t)


# The weight of y's bits under the hyperprior alone beside those under the
# context model, in a codec trained with one: fine-grained streams code with
# the former, single-layer streams (the product's first) with the latter.
HYPER_RATE_WEIGHT = 0.5


def rd_loss(model_out: dict, x: torch.Tensor, lambdas: torch.Tensor,
            y_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Per-sample R + lambda * 255^2 * MSE, averaged over the batch; y_weights
    (M,) weighs each latent channel's bits in the loss (not in the reported bpp).
    With a context model, R adds HYPER_RATE_WEIGHT times y's bits under the
    hyperprior alone (hyper_likelihood; not in the reported bpp either).
    x_hat may hold the first k crops only: their distortion stands for the
    batch's, and the others report a PSNR of NaN."""
    pixels = x.shape[2] * x.shape[3]
    y_bits, z_bits = (-torch.log2(lik) for lik in model_out["likelihoods"])
    bpp = (y_bits.flatten(1).sum(1) + z_bits.flatten(1).sum(1)) / pixels
    weighted = bpp
    if y_weights is not None:
        weighted = ((y_bits * y_weights[:, None, None]).flatten(1).sum(1) + z_bits.flatten(1).sum(1)) / pixels
    if "hyper_likelihood" in model_out:
        hyper_bits = -torch.log2(model_out["hyper_likelihood"]).flatten(1).sum(1)
        weighted = weighted + HYPER_RATE_WEIGHT * hyper_bits / pixels
    k = len(model_out["x_hat"])
    mse = (model_out["x_hat"] - x[:k]).pow(2).flatten(1).mean(1)
    loss = weighted.mean() + (lambdas[:k] * 255**2 * mse).mean()
    psnr = torch.full_like(bpp, float("nan"))
    psnr[:k] = -10 * torch.log10(mse.detach().clamp(min=1e-10))
    return loss, {"bpp": bpp.detach(), "psnr": psnr}


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        if self.world > 1:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        if torch.cuda.is_available():
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
            if cfg.threads:
                torch.set_num_threads(cfg.threads)
        self.workdir = Path(cfg.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ckpt_path = self.workdir / "checkpoint.pt"

        torch.manual_seed(cfg.seed + self.rank)
        if cfg.bf16 is None:
            cfg.bf16 = bf16_is_fast(self.device)
        log.info("bf16 autocast %s on %s", "on" if cfg.bf16 else "off", describe_hardware(self.device, self.world))
        # channels-last convolutions are about 1.5x faster on these CPUs.
        self.model, masks = build_model(cfg)
        self.model = self.model.to(self.device, memory_format=torch.channels_last)
        self.new_only = NewOnly(self.model, masks) if masks and cfg.new_only_minutes > 0 else None
        # The widened codec's new channels: the first latent channel no mask freezes.
        self.first_new = int((~masks["g_a.6.bias"]).sum()) if masks else None
        self.loss = (spatial_step_loss if cfg.spatial_base else
                     context_step_loss if cfg.context_base else base_step_loss)
        self.opt = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=cfg.lr)
        # The average starts at the starting weights (a widened codec's are
        # already trained, so no bias correction is needed).
        self.ema = ({k: p.detach().clone() for k, p in self.model.named_parameters() if p.requires_grad}
                    if cfg.ema else None)
        self.step = 0
        self.skipped = 0
        self.elapsed = 0.0
        if self.ckpt_path.exists():
            self._resume()
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.rng = np.random.default_rng(cfg.seed * 1000 + self.rank * 7919 + self.step)

    def _resume(self):
        state = torch.load(self.ckpt_path, map_location=self.device, weights_only=True)
        # The base under a spatial run is inside its checkpoint: what must
        # match is the kind of run, not the path it was first read from.
        saved = {**{k: state["config"][k] for k in ("n", "m", "lambdas")},
                 "z_channels": state["config"].get("z_channels") or state["config"]["n"],
                 "spatial": bool(state["config"].get("spatial_base")),
                 "widen": bool(state["config"].get("widen_from")),
                 "context": state["config"].get("context_slices", 0),
                 "context_hidden": tuple(state["config"].get("context_hidden", (64, 64)))}
        wanted = {**{k: getattr(self.cfg, k) for k in ("n", "m", "lambdas")},
                  "z_channels": self.cfg.z_channels or self.cfg.n,
                  "spatial": bool(self.cfg.spatial_base),
                  "widen": bool(self.cfg.widen_from),
                  "context": self.cfg.context_slices,
                  "context_hidden": tuple(self.cfg.context_hidden)}
        if saved != wanted:
            raise UsageError(f"{self.ckpt_path} holds a different network ({saved}); "
                             f"use another --workdir or the same options")
        # A context run's checkpoint holds its context model only (save).
        self.model.load_state_dict(state["model"], strict=not self.cfg.context_base)
        self.opt.load_state_dict(restore_optimizer_state(state["optimizer"]))
        if self.ema is not None:
            averaged = averaged_weights(state)
            self.ema = {k: averaged[k] for k in self.ema}
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.cfg.prior_minutes = state["config"].get("prior_minutes", 0.0)
        if self.new_only:
            self.new_only.active = state.get("new_only_active", True)
        log.info("resumed from %s at step %d (%.1f min trained)", self.ckpt_path, self.step, self.elapsed / 60)

    def save(self):
        if self.rank != 0:
            return
        tmp = self.ckpt_path.with_suffix(".tmp")
        # A frozen base is its own checkpoint's (cfg.context_base): not copied.
        weights = {k: v for k, v in self.model.state_dict().items()
                   if not self.cfg.context_base or k.startswith("context.")}
        torch.save(
            {
                "model": weights,
                "optimizer": compact_optimizer_state(self.opt.state_dict()),
                # The average as its (small) difference from the weights, in
                # bfloat16: half the bytes of a second copy, and the
                # difference keeps bfloat16's relative precision.
                **({"ema_delta": {k: (e - weights[k]).to(torch.bfloat16)
                                  for k, e in self.ema.items()}} if self.ema else {}),
                "step": self.step,
                "elapsed": self.elapsed,
                "new_only_active": bool(self.new_only and self.new_only.active),
                "config": asdict(self.cfg),
                "hardware": describe_hardware(self.device, self.world),
            },
            tmp,
        )
        os.replace(tmp, self.ckpt_path)

    def run(self):
        cfg = self.cfg
        pool = PatchPool(Path(cfg.data), cfg.crop, seed=cfg.seed + self.rank,
                         exclude=held_out_files(Path(cfg.data)), grey=cfg.grey)
        curve = (LearningCurve(Path(cfg.data), self.workdir, cfg.val_reference, self.device, cfg.grey)
                 if cfg.val_minutes and self.rank == 0 else None)
        # Validation every val_minutes of the training clock: a starved run is not measured more often.
        last_val = -float("inf") if curve and curve.previous is None else self.elapsed
        val_step = self.step
        budget = cfg.minutes * 60
        lambdas = self.model.lambdas.to(self.device, torch.float32)
        levels = self.model.levels
        log_file = open(self.workdir / "train_log.jsonl", "a") if self.rank == 0 else None
        window = {"loss": [], "bpp": [[] for _ in range(levels)], "psnr": [[] for _ in range(levels)]}
        last_ckpt = last_log = time.monotonic()
        clock = TrainingClock(self.elapsed, torch.get_num_threads() if self.device.type == "cpu" else None)
        while not self._should_stop(budget):
            if curve and self.elapsed - last_val >= cfg.val_minutes * 60:
                curve(self.averaged(), self.step, cfg.prior_minutes + self.elapsed / 60)
                val_step = self.step
                # Validation time is not training time: the clock restarts.
                clock.restart()
                last_val = self.elapsed
            self._phase()
            lr = learning_rate(cfg, self.elapsed / budget) * self._rewarm()
            for g in self.opt.param_groups:
                g["lr"] = lr
            x = pool.batch(cfg.batch, self.rng).to(
                self.device, memory_format=torch.channels_last, non_blocking=True
            )
            level = torch.from_numpy(self.rng.integers(levels, size=cfg.batch)).to(self.device)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss, stats = self.loss(self.net, x, level, lambdas[level], self.rng, self._y_weights())
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
            if not torch.isfinite(grad_norm):
                # One bad batch must not end a run of hours; skip its update.
                self.skipped += 1
                if self.skipped > 100:
                    raise FloatingPointError(f"over 100 non-finite updates by step {self.step}")
                self.elapsed = clock.advance()
                continue
            self.opt.step()
            if self.ema is not None:
                params = dict(self.model.named_parameters())
                with torch.no_grad():
                    for k, e in self.ema.items():
                        e.lerp_(params[k], 1 - cfg.ema)
            self.step += 1
            self.elapsed = clock.advance()

            window["loss"].append(loss.item())
            for k, b, p in zip(level.tolist(), stats["bpp"].tolist(), stats["psnr"].tolist()):
                window["bpp"][k].append(b)
                if p == p:  # NaN: a crop whose distortion was not measured
                    window["psnr"][k].append(p)
            now = time.monotonic()
            if now - last_log > 60 and self.rank == 0:
                record = {
                    "step": self.step,
                    "minutes": round(self.elapsed / 60, 2),
                    "lr": lr,
                    "loss": float(np.mean(window["loss"])),
                    "bpp": [round(float(np.mean(v)), 4) if v else None for v in window["bpp"]],
                    "psnr": [round(float(np.mean(v)), 2) if v else None for v in window["psnr"]],
                }
                log.info(
                    "step %d  %.1f/%.0f min  lr %.1e  loss %.3f  bpp %s  psnr %s",
                    self.step, self.elapsed / 60, budget / 60, lr, record["loss"],
                    record["bpp"], record["psnr"],
                )
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
                window = {"loss": [], "bpp": [[] for _ in range(levels)], "psnr": [[] for _ in range(levels)]}
                last_log = now
            if now - last_ckpt > cfg.checkpoint_minutes * 60:
                self.save()
                last_ckpt = now
        if curve and val_step != self.step:
            # The budget ended between two points: the curve ends where training did.
            curve(self.averaged(), self.step, cfg.prior_minutes + self.elapsed / 60)
        self.save()
        if log_file:
            log_file.close()
        if self.world > 1:
            # Leave together: a rank that exits while its peer still holds the
            # connection makes gloo abort that peer.
            dist.barrier()
            dist.destroy_process_group()
        log.info("finished: %d steps, %.1f min", self.step, self.elapsed / 60)


    def averaged(self) -> torch.nn.Module:
        """The network with the averaged weights (the network itself without EMA)."""
        if self.ema is None:
            return self.model
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.ema, strict=False)
        return model

    def _phase(self):
        """End the new-only phase: every part trains from here, with a fresh
        Adam (the old parts' moments are zero, and Adam's first steps on zero
        moments would be lr-sized jumps of a trained codec's weights)."""
        if self.new_only and self.new_only.active and self.elapsed >= self.cfg.new_only_minutes * 60:
            # Kept: the joint phase can undo what the new-only phase reached.
            self.save()
            if self.rank == 0:
                shutil.copy(self.ckpt_path, self.workdir / "checkpoint-new-only.pt")
            self.new_only.active = False
            self.opt.state.clear()
            log.info("new-only phase over at step %d: every parameter trains now", self.step)

    def _rewarm(self) -> float:
        """After the new-only phase the learning rate ramps up again over 5
        minutes, to joint_lr: at the full rate (1e-3) the trained parts were
        measured to lose 30% BD-rate in 10 minutes."""
        if not self.new_only:
            return 1.0
        since = self.elapsed - self.cfg.new_only_minutes * 60
        if since < 0:
            return 1.0
        return min(1.0, max(since / 300, 0.05)) * (self.cfg.joint_lr or self.cfg.lr) / self.cfg.lr

    def _y_weights(self) -> torch.Tensor | None:
        if self.first_new is None or not self.cfg.rate_ramp_minutes:
            return None
        w = torch.ones(self.model.m, device=self.device)
        w[self.first_new:] = min(1.0, max(self.elapsed / 60 / self.cfg.rate_ramp_minutes, 0.02))
        return w

    def _should_stop(self, budget: float) -> bool:
        stop = self.elapsed >= budget
        if self.world > 1:
            # Ranks' clocks drift; they must agree on the last step or DDP hangs.
            flag = torch.tensor([float(stop)], device=self.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        return stop


def base_step_loss(net, x, level, lambdas, rng, y_weights=None):
    return rd_loss(net(x, level.float()), x, lambdas, y_weights)


# Of a frozen base's batch, the crops whose distortion is measured (one in DISTORTION_SHARE).
DISTORTION_SHARE = 4


def context_step_loss(net, x, level, lambdas, rng, y_weights=None):
    """The base's rate-distortion loss over a frozen base: only the context
    model has gradients, and autograd builds no graph for the analysis. The
    rate of every crop; the distortion, which only LRP needs (through the
    fixed synthesis), of one crop in DISTORTION_SHARE (the synthesis's
    forward and backward pass measured 0.036 s for two crops, beside 0.26 s
    for the rest of a batch-8 step on one thread). (A latent-domain error in
    its place, which spares the synthesis, trained an LRP that lowered the
    held-out PSNR by 0.05-0.12 dB: the synthesis mixes neighbouring elements
    and channels, so a correction that is better element by element can be
    worse in pixels.)"""
    t = net.latents(x, level.float())
    k = max(1, len(x) // DISTORTION_SHARE)
    x_hat = net.g_s(t["y_rec"][:k] * t["inverse_gain"][:k]).float()
    return rd_loss({"x_hat": x_hat, "likelihoods": net.noisy_likelihoods(t)[:2]}, x, lambdas)


def spatial_step_loss(net, x, level, lambdas, rng, y_weights=None):
    return spatial_rd_loss(net(x, level.float(), sample_chain(rng)), lambdas)


def build_model(cfg: TrainConfig) -> tuple[torch.nn.Module, dict | None]:
    """The network, and for a widened codec the masks of its new parts."""
    if sum(map(bool, (cfg.spatial_base, cfg.widen_from, cfg.context_base))) > 1:
        raise UsageError("train one of: a spatial layer, a widened codec, a context model over a frozen base")
    if cfg.context_base:
        return frozen_with_context(cfg), None
    if cfg.context_from and not (cfg.context_slices and cfg.widen_from):
        raise UsageError("--context-from starts the context model of --widen-from with --context-slices")
    if cfg.widen_from:
        model, masks = load_widened(cfg.widen_from, cfg.n, cfg.m, cfg.lambdas)
        base = torch.load(cfg.widen_from, map_location="cpu", weights_only=True)
        cfg.z_channels = model.z_channels
        cfg.prior_minutes = base["config"].get("prior_minutes", 0.0) + base["elapsed"] / 60
        return with_context(model, cfg), masks
    if not cfg.spatial_base:
        return GainedHyperprior(cfg.n, cfg.m, cfg.lambdas, z_channels=cfg.z_channels,
                                context_slices=cfg.context_slices, context_hidden=cfg.context_hidden), None
    path = cfg.spatial_base
    state = torch.load(path, map_location="cpu", weights_only=True)
    base_cfg = state["config"]
    same = [base_cfg[k] for k in ("n", "m")] + list(base_cfg["lambdas"]) == [cfg.n, cfg.m] + list(cfg.lambdas)
    # The enhancement layer starts from the base codec's weights: same shape.
    if base_cfg.get("spatial_base") or base_cfg.get("fine_base") or not same:
        raise UsageError(f"{path} is not a base-codec checkpoint with the same "
                         f"width (n={cfg.n}, m={cfg.m}) and quality levels")
    base = GainedHyperprior.from_config(base_cfg)
    base.load_state_dict(state["model"])
    chain = SpatialChain(base, cfg.n, cfg.m, cfg.lambdas)
    chain.el.warm_start(base)
    return chain, None


def with_context(model: GainedHyperprior, cfg: TrainConfig) -> GainedHyperprior:
    """model with a context model of cfg.context_slices slices (none: model
    itself), new (computing model's own prior) or cfg.context_from's, and
    everything training: the base campaign's codec and its entropy model
    become one (issue 27)."""
    if not cfg.context_slices:
        return model
    out, _, _ = _codec_with_context(cfg, model.n, model.m, model.lambdas.tolist(), model.z_channels,
                                    model.state_dict())
    if cfg.context_from:
        state = torch.load(cfg.context_from, map_location="cpu", weights_only=True)
        c = state["config"]
        if not c.get("context_base") or (c["context_slices"], tuple(c.get("context_hidden", (64, 64)))) != (
                cfg.context_slices, tuple(cfg.context_hidden)):
            raise UsageError(f"{cfg.context_from} is not a context run with {cfg.context_slices} slices "
                             f"and widths {cfg.context_hidden}")
        out.load_state_dict(averaged_weights(state), strict=False)
    return out


def frozen_with_context(cfg: TrainConfig) -> GainedHyperprior:
    """cfg.context_base's codec with a new context model of
    cfg.context_slices slices, which alone trains (the base's shape is taken
    from its checkpoint)."""
    if not cfg.context_slices:
        raise UsageError("--context-base needs --context-slices")
    state = torch.load(cfg.context_base, map_location="cpu", weights_only=True)
    base_cfg = state["config"]
    if base_cfg.get("spatial_base") or base_cfg.get("context_slices"):
        raise UsageError(f"{cfg.context_base} is not a base-codec checkpoint without a context model")
    cfg.n, cfg.m, cfg.lambdas, cfg.z_channels = (base_cfg["n"], base_cfg["m"], list(base_cfg["lambdas"]),
                                                  base_cfg.get("z_channels"))
    cfg.prior_minutes = 0.0  # the context model's own curve starts here
    model, missing, unexpected = _codec_with_context(cfg, cfg.n, cfg.m, cfg.lambdas, cfg.z_channels,
                                                     averaged_weights(state))
    if unexpected or any(not k.startswith("context.") for k in missing):
        raise UsageError(f"{cfg.context_base} does not match the network its config declares")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("context."))
    return model


def _codec_with_context(cfg: TrainConfig, n: int, m: int, lambdas: list, z_channels,
                        weights: dict) -> tuple:
    """A codec of cfg's context model around the given shape, loaded with
    weights that lack (some of) it: (model, missing keys, unexpected keys)."""
    model = GainedHyperprior(n, m, lambdas, z_channels=z_channels,
                             context_slices=cfg.context_slices, context_hidden=cfg.context_hidden)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    return model, missing, unexpected


def trained_codec(state: dict) -> GainedHyperprior:
    """A base-codec checkpoint's network with the weights that ship (its
    average, where it kept one). A context run's checkpoint holds only its
    context model; the frozen base comes from the checkpoint it names."""
    cfg = state["config"]
    if not cfg.get("context_base"):
        model = GainedHyperprior.from_config(cfg)
        model.load_state_dict(averaged_weights(state))
        return model
    model = frozen_with_context(TrainConfig(**cfg))
    weights = averaged_weights(state)
    if any(not k.startswith("context.") for k in weights):
        raise UsageError("a context run's checkpoint holds weights beyond its context model")
    model.load_state_dict(weights, strict=False)
    return model


# Adam's second moments are kept to within half a step of 64 octaves / 254
# below their tensor's largest: the square roots Adam divides by, within 4.5%.
# Smaller ones come back at that floor, where Adam's eps (1e-8) is larger.
_V_OCTAVES = 64.0


def compact_optimizer_state(state: dict) -> dict:
    """Adam's second moments as one byte each on a log scale, its first
    moments left out: base v3 phase 2's checkpoint is then 45 MiB instead of 51
    with them in bfloat16 (each is committed whole). Resuming loses little: Adam divides by the second
    moments' square roots, which come back within 4.5%, and the first (a
    10-step average, beta1 0.9) is rebuilt from zero by
    restore_optimizer_state within a few steps."""
    return {**state, "state": {k: _compact_moments(st) for k, st in state["state"].items()}}


def _compact_moments(st: dict) -> dict:
    st = {n: v for n, v in st.items() if n != "exp_avg"}
    v = st.pop("exp_avg_sq", None)
    if v is None:
        return st
    v = v.float()
    positive = v > 0
    if not positive.any():
        return {**st, "exp_avg_sq_log2": torch.zeros_like(v, dtype=torch.uint8),
                "exp_avg_sq_range": torch.zeros(2)}
    logs = torch.log2(v[positive])
    hi = logs.max()
    lo = torch.maximum(logs.min(), hi - _V_OCTAVES)
    scale = (hi - lo).clamp_min(1e-6) / 254
    codes = torch.zeros_like(v, dtype=torch.uint8)
    # 0 is an exact zero; 1..255 span [lo, hi].
    codes[positive] = (((logs.clamp_min(lo) - lo) / scale).round() + 1).to(torch.uint8)
    return {**st, "exp_avg_sq_log2": codes, "exp_avg_sq_range": torch.stack([lo, hi])}


def restore_optimizer_state(state: dict) -> dict:
    """A compact optimizer state as Adam loads it: second moments back from
    their log-scale bytes (or from bfloat16, as earlier checkpoints kept
    them), zero first moments where compact_optimizer_state left them out."""
    return {**state, "state": {k: _restore_moments(st) for k, st in state["state"].items()}}


def _restore_moments(st: dict) -> dict:
    st = dict(st)
    if "exp_avg_sq_log2" in st:
        codes = st.pop("exp_avg_sq_log2")
        lo, hi = st.pop("exp_avg_sq_range").tolist()
        v = torch.exp2(lo + (codes.float() - 1) * (max(hi - lo, 1e-6) / 254))
        st["exp_avg_sq"] = torch.where(codes > 0, v, torch.zeros(()))
    if "exp_avg_sq" not in st:
        return st
    return {"exp_avg": torch.zeros_like(st["exp_avg_sq"], dtype=torch.float32), **st}


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 autocast pays where the hardware computes in bf16: GPUs that
    support it, CPUs with AVX512-BF16 or AMX. Elsewhere it was measured 2x
    slower (../shared/notes/compute.md)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def describe_hardware(device: torch.device, world: int) -> str:
    if device.type == "cuda":
        return f"{world}x {torch.cuda.get_device_name(device)}"
    return f"{world}x CPU ({torch.get_num_threads()} threads)"
