"""The channel-conditional context model (issue 27), at toy scale: it starts
as the hyperprior it refines, trains alone over a frozen base, exports to
exact fixed point, and its streams decode to exactly what the encoder coded."""

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import DATA, scc
from test_training import _photos, _toy_base

from scalecodec import container
from scalecodec.codecs import decoder as codec_decoder
from scalecodec.codecs import layout
from scalecodec.codecs.decoder import Decoder
from scalecodec.codecs.encoder import Effort, Encoder, _image_input
from scalecodec.errors import StreamError
from scalecodec.exact import context
from scalecodec.model.file import load_model
from scalecodec.nn.model import GainedHyperprior
from scalecodec.training.train import trained_codec


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(base checkpoint, context checkpoint, photos) of a toy run."""
    tmp = tmp_path_factory.mktemp("context")
    photos = _photos(tmp / "photos", 3)
    base = _toy_base(tmp, photos)
    args = ("train", photos, "--workdir", tmp / "ctx", "--context-base", base, "--context-slices", 3,
            "--context-hidden", "8,4", "--batch", 4, "--crop", 64, "--threads", 1, "--ema", 0.9)
    scc(*args, "--minutes", 0.04, check=True)
    r = scc(*args, "--minutes", 0.08, check=True)
    assert b"resumed" in r.stderr
    return base, tmp / "ctx" / "checkpoint.pt", photos


def _model(path):
    state = torch.load(path, weights_only=False)
    return trained_codec(state).eval(), state


def test_a_new_context_model_computes_the_hyperprior_it_refines(trained):
    base, _, _ = trained
    old, state = _model(base)
    new = GainedHyperprior.from_config({**state["config"], "context_slices": 3})
    new.load_state_dict(state["model"], strict=False)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for level in (0, 3, 6):
            q = torch.full((2,), float(level))
            a, b = old.latents(x, q), new.latents(x, q)
            for key in ("mean", "scale", "y_hat", "y_rec"):
                assert torch.equal(a[key], b[key]), key


def test_only_the_context_model_trains_over_the_frozen_base(trained, tmp_path):
    base, ctx, photos = trained
    before = torch.load(base, weights_only=False)["model"]
    state = torch.load(ctx, weights_only=False)
    w = state["model"]
    # The checkpoint holds the context model alone; the base it names is unchanged.
    assert w and all(k.startswith("context.") for k in w)
    model, _ = _model(ctx)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())
    # The zero-initialised last layers moved: the context model learned.
    assert w["context.params.0.4.weight"].abs().sum() > 0 and w["context.lrp.2.4.weight"].abs().sum() > 0
    # Its networks have the widths asked for, and a resume with others is refused.
    assert w["context.params.1.0.weight"].shape[0] == 8 and w["context.lrp.1.2.weight"].shape[0] == 4
    r = scc("train", photos, "--workdir", ctx.parent, "--context-base", base, "--context-slices", 3,
            "--context-hidden", "8,8", "--minutes", 0.2)
    assert r.returncode == 2 and b"different network" in r.stderr
    # Only the context model is averaged and has optimizer state.
    assert set(state["ema_delta"]) == {k for k in w if k.startswith("context.")}
    # A checkpoint that already has a context model is not a base for one.
    r = scc("train", photos, "--workdir", tmp_path / "again", "--context-base", ctx, "--context-slices", 2,
            "--minutes", 0.01)
    assert r.returncode == 2 and b"without a context model" in r.stderr


def test_the_codec_and_its_context_model_train_together_from_a_context_run(trained, tmp_path):
    """The base campaign's next step (issue 27): its codec, a context model
    started from a context run's, and every part training."""
    base, ctx, photos = trained
    start = torch.load(base, weights_only=False)
    args = ("train", photos, "--workdir", tmp_path / "joint", "--channels", 8, "--latent-channels", 12,
            "--lambdas", ",".join(map(str, start["config"]["lambdas"])), "--widen-from", base,
            "--context-slices", 3, "--context-hidden", "8,4", "--batch", 2, "--crop", 64, "--threads", 1)
    scc(*args, "--context-from", ctx, "--minutes", 0.05, check=True)
    state = torch.load(tmp_path / "joint" / "checkpoint.pt", weights_only=False)
    w, from_ctx = state["model"], torch.load(ctx, weights_only=False)
    assert state["config"]["context_slices"] == 3 and not state["config"]["context_base"]
    # Both the base's weights and the context model's moved from where they started.
    assert not torch.equal(w["g_a.0.weight"], start["model"]["g_a.0.weight"])
    started = from_ctx["model"]["context.params.2.4.weight"] + from_ctx["ema_delta"]["context.params.2.4.weight"]
    assert not torch.equal(w["context.params.2.4.weight"], started)
    # ... from there, not from zero (where a new context model starts).
    assert torch.cosine_similarity(w["context.params.2.4.weight"].flatten(), started.flatten(), 0) > 0.5
    # It exports as any codec with a context model does.
    model, _ = _model(tmp_path / "joint" / "checkpoint.pt")
    assert model.context is not None and model.context.hidden == (8, 4)
    # A context model of another shape is not a start.
    r = scc(*args[:-6], "--workdir", tmp_path / "other", "--context-slices", 2, "--context-from", ctx,
            "--minutes", 0.01)
    assert r.returncode == 2 and b"is not a context run with 2 slices" in r.stderr


def test_a_codec_with_a_context_model_also_learns_the_hyperprior_fine_grained_streams_use(trained):
    from scalecodec.training.train import HYPER_RATE_WEIGHT, rd_loss

    model, _ = _model(trained[1])
    x = torch.rand(2, 3, 64, 64)
    out = model(x, torch.tensor([1.0, 4.0]))
    hyper_bits = -torch.log2(out["hyper_likelihood"]).flatten(1).sum(1) / (64 * 64)
    with_hyper, stats = rd_loss(out, x, model.lambdas[:2].float())
    alone, _ = rd_loss({k: v for k, v in out.items() if k != "hyper_likelihood"}, x, model.lambdas[:2].float())
    assert torch.allclose(with_hyper - alone, HYPER_RATE_WEIGHT * hyper_bits.mean(), atol=1e-4)
    assert hyper_bits.mean() > 0.01
    # The reported rate is the context model's alone.
    context_bits = sum(-torch.log2(lik).flatten(1).sum(1) for lik in out["likelihoods"]) / (64 * 64)
    assert torch.allclose(stats["bpp"], context_bits)


def test_the_learning_curve_of_a_codec_with_a_context_model_follows_the_hyperprior_too(trained):
    from scalecodec.training.validation import measure

    base, ctx, _ = trained
    images = torch.rand(2, 3, 64, 64)
    plain, _ = _model(base)
    assert "hyperprior" not in measure(plain, images)
    # A new context model is the hyperprior: both curves are the codec's own.
    new = GainedHyperprior.from_config({**torch.load(base, weights_only=False)["config"], "context_slices": 3})
    new.load_state_dict(plain.state_dict(), strict=False)
    curve = measure(new, images)
    assert curve["hyperprior"] == {"bpp": curve["bpp"], "psnr": curve["psnr"]} == measure(plain, images)
    # A trained one codes y in other bits than the hyperprior alone does.
    trained_curve = measure(_model(ctx)[0], images)
    assert trained_curve["hyperprior"] == curve["hyperprior"] and trained_curve["bpp"] != curve["bpp"]


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The toy base and its context model as model files. The context
    model's last layers are set to random values first, so that its means,
    scales and corrections differ clearly from the hyperprior's (a few toy
    steps move them by too little to test the exact path)."""
    base, ctx, photos = trained
    tmp = tmp_path_factory.mktemp("models")
    state = torch.load(ctx, weights_only=False)
    g = torch.Generator().manual_seed(0)
    for key in [k for k in state["model"] if k.startswith("context.") and ".4." in k]:
        state["model"][key] = torch.randn(state["model"][key].shape, generator=g) * 0.05
    state.pop("ema_delta")
    torch.save(state, tmp / "ctx.pt")
    files = {}
    for name, ckpt in (("base", base), ("ctx", tmp / "ctx.pt")):
        files[name] = tmp / f"{name}.npz"
        scc("export", ckpt, files[name], "--data", photos, check=True)
    return {k: load_model(v) for k, v in files.items()}


def _photo():
    return np.asarray(Image.open(DATA / "photo-120x88.png").convert("RGB"))


def test_context_streams_decode_exactly_what_the_encoder_coded(exported):
    model = exported["ctx"]
    assert model.context is not None and model.context.sizes == [4, 4, 4]
    encoder, decoder = Encoder(model, "cpu"), Decoder(model)
    x = encoder._input(_image_input(_photo()))
    for quality in (1.0, 4.5, 7.0):
        payload, y_fixed = encoder._code_layer(encoder.net, model, x, quality, Effort(), size=(88, 120))
        chunk = container.Chunk(container.ChunkKind.BASE, 0, 120, 88, payload)
        assert np.array_equal(codec_decoder.latents(model, chunk, []), y_fixed)
        # The context model's parameters are not the hyperprior's, and LRP corrects.
        y_shape, z_shape = layout.latent_shapes(120, 88, model.m, model.z_channels)
        _, z_bytes, y_bytes = layout.unpack(payload, y_shape, z_shape)
        hyper_mean, _ = model.hyper_synthesis.parameters(codec_decoder._hyper(model, z_bytes, z_shape))
        symbols = codec_decoder.SymbolDecoder(y_bytes, model.y_tables)
        _, mean, _ = layout.code_latent(model, codec_decoder._hyper(model, z_bytes, z_shape),
                                        lambda k, m, index: symbols(index))
        assert (mean != hyper_mean).mean() > 0.5
        corrections = (y_fixed - mean) % 256
        assert (corrections != 0).mean() > 0.5
    data = encoder.encode(_photo(), 3.0)
    pixels = decoder.decode(data).pixels
    assert pixels.shape == (88, 120, 3) and np.array_equal(decoder.decode(data).pixels, pixels)


def test_slices_decode_the_same_with_or_without_the_first_layer_shares_made_ahead(exported, monkeypatch):
    # Small latents make each parameter network's share of the hyper
    # synthesis ahead, on the helper thread; large ones run it whole, in bands.
    model = exported["ctx"]
    data = Encoder(model, "cpu").encode(_photo(), 4.0)
    chunk = container.parse(data).chunks[0]
    ahead = codec_decoder.latents(model, chunk, [])
    monkeypatch.setattr(context, "SHARE_ELEMENTS", 0)
    assert np.array_equal(codec_decoder.latents(model, chunk, []), ahead)
    monkeypatch.setattr(context, "BANDS", 3)  # three bands of a network at once, two networks beside
    assert np.array_equal(codec_decoder.latents(model, chunk, []), ahead)


def test_context_streams_are_not_the_hyperprior_streams_and_damage_is_reported(exported):
    base, ctx = exported["base"], exported["ctx"]
    with_context = Encoder(ctx, "cpu").encode(_photo(), 3.0)
    without = Encoder(base, "cpu").encode(_photo(), 3.0)
    assert container.parse(with_context).chunks[0].payload != container.parse(without).chunks[0].payload
    stream = container.parse(with_context)
    chunk = stream.chunks[0]
    # Damage to the first slice's symbols (past the container's CRC, which
    # would catch it first) changes the parameters of every slice after it,
    # which the prior checksum then reports. (Damage to the last slice's
    # symbols changes no parameter: only the CRC finds it, as without a
    # context model.)
    y_shape, z_shape = layout.latent_shapes(chunk.a, chunk.b, ctx.m, ctx.z_channels)
    _, _, y_bytes = layout.unpack(chunk.payload, y_shape, z_shape)
    escapes = int(np.frombuffer(y_bytes[:4], "<u4")[0])
    first_word = len(chunk.payload) - len(y_bytes) + 4 + 4 * escapes
    bad = bytearray(chunk.payload)
    bad[first_word + 1] ^= 0x5A
    damaged = container.Chunk(chunk.kind, 0, chunk.a, chunk.b, bytes(bad))
    with pytest.raises(StreamError, match="prior checksum|does not decode"):
        codec_decoder.latents(ctx, damaged, [])


def test_fine_grained_streams_keep_the_hyperprior_whatever_the_model_has(exported):
    """Every cut of a stream in planes has only the hyperprior's parameters:
    a model's context model changes nothing in them."""
    base, ctx = exported["base"], exported["ctx"]
    fine = [Encoder(m, "cpu").encode(_photo(), 5.0, planes=True) for m in (base, ctx)]
    assert container.parse(fine[0]).chunks[0].payload == container.parse(fine[1]).chunks[0].payload
    assert Decoder(ctx).decode(fine[1]).pixels.shape == (88, 120, 3)


def test_effort_searches_each_slice_under_its_own_tables(exported):
    """With a context model, --effort searches slice by slice, each with the
    tables the slices chosen before it give; the stream decodes to exactly
    what the encoder coded, and the search chose other symbols than rounding."""
    model = exported["ctx"]
    encoder = Encoder(model, "cpu")
    x = encoder._input(_image_input(_photo()))
    payloads = {}
    for level in (1, 2):
        payload, y_fixed = encoder._code_layer(encoder.net, model, x, 4.0, Effort(level), size=(88, 120))
        chunk = container.Chunk(container.ChunkKind.BASE, 0, 120, 88, payload)
        assert np.array_equal(codec_decoder.latents(model, chunk, []), y_fixed)
        payloads[level] = payload
    assert payloads[1] != payloads[2]


def test_a_dead_hidden_layer_exports_within_the_fixed_point_bounds():
    """A hidden layer that is zero on every calibration input (a dead ReLU,
    as training leaves in some LRP networks) once asked for 40 input fraction
    bits of the layer after it, which fixed point refuses: export caps them."""
    from scalecodec.exact.fixedpoint import MAX_IN_FRAC, FixedPointNetwork
    from scalecodec.training.export import quantize_network

    seq = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Conv2d(8, 8, 1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 3, padding=1))
    with torch.no_grad():
        seq[2].bias.fill_(-1e3)  # never above zero: dead
    x = torch.round(torch.randn(2, 4, 6, 6) * 2**6)
    states = quantize_network(seq, [x], in_frac=6)
    assert all(s["in_frac"] <= MAX_IN_FRAC for s in states)
    out = FixedPointNetwork(states)(x[0].double().numpy()) * np.exp2(-states[-1]["out_frac"])[:, None, None]
    assert np.allclose(out, seq[4].bias.detach().double().numpy()[:, None, None], atol=1e-3)
