"""The spatial-scalability benchmark (issue 4): COMPASS's table, measured.

For every image, quality and layer configuration the spatial stream is
encoded once; bpp is its bytes (the whole stream for the top layer, the
prefix up to a layer for lower ones), PSNR is on decoded 8-bit pixels against
the reference downscale. The encoder returns each layer's pixels from the
decoder's own exact functions; for the first image of every run, every
configuration and quality is also decoded from its bytes and must be
identical, or the run stops.

Anchors: simulcast (the single-layer codec on every layer's resolution,
bytes summed), single-layer (the top resolution only) and, at the dyadic
totals, JPEG 2000 (its files are resolution scalable; results.json of
`scc bench` holds its points).
"""

import hashlib
import json
import math
import multiprocessing
import os
import statistics
from pathlib import Path

import numpy as np
from PIL import Image

from ... import container
from ...exact.downscale import NAME as DOWNSCALER, reference_downscale
from ...codecs.geometry import layer_sizes, plan_decode
from ...io.images import load_image
from ..metrics import bd_rate, psnr

TWO_LAYER = (1.2, 1.6, 2.0, 2.4, 2.8)
THREE_LAYER = (2.4, 2.8, 3.2, 3.6, 4.0)
QUALITIES = (1.0, 3.0, 5.0, 7.0)
SWEEP_CONFIG = (1.0, 2.0, 4.0)  # the stream decoded at every scale
SWEEP_QUALITY = 3.0
SWEEP_SCALES = tuple(round(1 + 0.1 * i, 1) for i in range(31))  # 1.0 .. 4.0
BELOW_SCALES = (1.5, 3.0)  # where the "predict up from below" alternative is also measured


def configurations() -> list[tuple[float, ...]]:
    return [(1.0, t) for t in TWO_LAYER] + [(1.0, round(math.sqrt(t), 4), t) for t in THREE_LAYER]


def label(scales) -> str:
    return f"{len(scales)}-layer {scales[-1]:g}x"


def _bicubic(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Plain bicubic resizing (Pillow, the usual tool), the naive answer."""
    return np.asarray(Image.fromarray(pixels).resize((width, height), Image.Resampling.BICUBIC))


def _prefix_bytes(stream: bytes, layer: int) -> int:
    return len(container.serialize(container.select(container.parse(stream), max_layer=layer)))


def image_record(path: str, model: str, verify: bool, configs: list, qualities: tuple) -> dict:
    """Every measurement of one image (runs in a worker process)."""
    from ...api import open_decoder, open_encoder

    encoder, decoder = open_encoder(model, "cpu"), open_decoder(model)
    src = load_image(Path(path).read_bytes(), path).pixels
    h, w = src.shape[:2]
    references = {}

    def reference(size):
        if size not in references:
            references[size] = src if size == (w, h) else reference_downscale(src, *size)
        return references[size]

    single = {}

    def single_layer(size, q):
        if (size, q) not in single:
            stream = encoder.encode(reference(size), q)
            pixels = decoder.decode(stream).pixels
            single[size, q] = {"bytes": len(stream), "psnr": psnr(reference(size), pixels)}
        return single[size, q]

    results = []
    for scales in configs:
        sizes = layer_sizes(w, h, list(scales))
        for q in qualities:
            stream, layers = encoder.code_spatial(src, list(scales), q, for_benchmark=True)
            if verify:
                for k, layer in enumerate(layers):
                    decoded = decoder.decode(stream, width=layer.width, height=layer.height).pixels
                    if not np.array_equal(decoded, layer.pixels):
                        raise AssertionError(f"{path} {scales} q{q}: layer {k} decodes differently")
            rows = []
            for k, layer in enumerate(layers):
                ref = reference(sizes[k])
                row = {"width": layer.width, "height": layer.height, "bytes": _prefix_bytes(stream, k),
                       "psnr": psnr(ref, layer.pixels), "single": single_layer(sizes[k], q)}
                if layer.prediction is not None:
                    lower = layers[k - 1].pixels
                    row["liff_psnr"] = psnr(ref, np.clip(np.rint(layer.prediction), 0, 255)
                                            .astype(np.uint8).transpose(1, 2, 0))
                    row["bicubic_psnr"] = psnr(ref, _bicubic(lower, layer.width, layer.height))
                rows.append(row)
            results.append({"scales": list(scales), "quality": q, "layers": rows})
    return {"image": Path(path).name, "width": w, "height": h, "configs": results,
            "sweep": _sweep(encoder, decoder, src, reference, verify)}


def _sweep(encoder, decoder, src, reference, verify: bool) -> list[dict]:
    """One 3-layer stream decoded at every scale by the decoder's rule, the
    naive answer (bicubic resizing of the nearest coded layer) and, at a few
    scales, LIFF predicting up from the layer below instead."""
    stream, layers = encoder.code_spatial(src, list(SWEEP_CONFIG), SWEEP_QUALITY, for_benchmark=True)
    sizes = [(lay.width, lay.height) for lay in layers]
    bw, bh = sizes[0]
    liff = encoder.model.enhancement.liff
    rows = []
    for s in SWEEP_SCALES:
        size = (round(bw * s), round(bh * s))
        plan = plan_decode(sizes, *size, from_scale=True)
        source = layers[plan.layer].pixels
        pixels = source if plan.how == "exact" else reference_downscale(source, plan.width, plan.height)
        if verify and s in BELOW_SCALES + (1.0, 2.0, 2.7):
            if not np.array_equal(pixels, decoder.decode(stream, scale=s).pixels):
                raise AssertionError(f"scale {s} decodes differently from the rule")
        ref = reference((plan.width, plan.height))
        row = {"scale": s, "width": plan.width, "height": plan.height, "how": plan.how, "layer": plan.layer,
               "psnr": psnr(ref, pixels)}
        if plan.how != "exact":
            nearest = min(range(len(sizes)), key=lambda k: abs(math.log(sizes[k][0] / bw) - math.log(s)))
            row["naive_layer"] = nearest
            row["naive_psnr"] = psnr(ref, _bicubic(layers[nearest].pixels, plan.width, plan.height))
        if s in BELOW_SCALES:
            below = layers[plan.layer - 1].pixels
            predicted = np.clip(np.rint(liff.predict(below, plan.width, plan.height)), 0, 255)
            row["from_below_psnr"] = psnr(ref, predicted.astype(np.uint8).transpose(1, 2, 0))
        rows.append(row)
    return rows


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _worker(args):
    import torch

    torch.set_num_threads(1)
    return image_record(*args)


def run(folder: Path, out: Path, model: str, jobs: int = 2, log=print,
        configs: list | None = None, qualities: tuple = QUALITIES) -> list[dict]:
    images = sorted(str(p) for p in Path(folder).glob("*.png"))
    if not images:
        raise FileNotFoundError(f"no PNG images in {folder}")
    cache = out / "cache" / "spatial"
    cache.mkdir(parents=True, exist_ok=True)
    from ...model.file import model_id_of

    configs = configs or configurations()
    # The cache key covers what was measured, so a changed plan measures again.
    tag = hashlib.sha256(json.dumps([model_id_of(Path(model)).hex(), configs, qualities]).encode()).hexdigest()[:12]
    todo = [(p, i == 0) for i, p in enumerate(images) if not (cache / f"{tag}-{Path(p).stem}.json").exists()]
    log(f"spatial benchmark: {len(images)} images, {len(todo)} to measure, {jobs} processes")
    # One BLAS thread per worker (set before they import numpy): `jobs`
    # single-threaded processes use the cores without oversubscribing them.
    saved = {k: os.environ.get(k) for k in _THREAD_VARIABLES}
    os.environ.update({k: "1" for k in _THREAD_VARIABLES})
    try:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            work = [(p, model, v, configs, qualities) for p, v in todo]
            for done, record in enumerate(pool.imap_unordered(_worker, work), 1):
                (cache / f"{tag}-{Path(record['image']).stem}.json").write_text(json.dumps(record))
                log(f"  {done}/{len(todo)} {record['image']}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return [json.loads((cache / f"{tag}-{Path(p).stem}.json").read_text()) for p in images]



def summarize(records: list[dict], jpeg2000: list[dict] | None) -> dict:
    """Mean curves per configuration (over images, per quality) and BD-rates."""
    n = len(records)
    table = []
    plan = []
    for c in records[0]["configs"]:
        if c["scales"] not in plan:
            plan.append(c["scales"])
    for scales in plan:
        per_q = {}
        for rec in records:
            for c in rec["configs"]:
                if c["scales"] == scales:
                    per_q.setdefault(c["quality"], []).append((rec, c))
        ours, simulcast, single, lower = [], [], [], []
        for q, items in sorted(per_q.items()):
            def mean(f):
                return statistics.fmean(f(rec, c) for rec, c in items)

            top = lambda c: c["layers"][-1]  # noqa: E731
            pixels = lambda rec: rec["width"] * rec["height"]  # noqa: E731
            ours.append((mean(lambda r, c: 8 * top(c)["bytes"] / pixels(r)), mean(lambda r, c: top(c)["psnr"])))
            simulcast.append((mean(lambda r, c: 8 * sum(L["single"]["bytes"] for L in c["layers"]) / pixels(r)),
                              mean(lambda r, c: top(c)["single"]["psnr"])))
            single.append((mean(lambda r, c: 8 * top(c)["single"]["bytes"] / pixels(r)),
                           mean(lambda r, c: top(c)["single"]["psnr"])))
            lower.append({"quality": q, "layers": [
                {"bpp": mean(lambda r, c, k=k: 8 * c["layers"][k]["bytes"] / (c["layers"][k]["width"] * c["layers"][k]["height"])),
                 "psnr": mean(lambda r, c, k=k: c["layers"][k]["psnr"])} for k in range(len(scales))]})
        row = {"config": label(scales), "scales": list(scales), "images": n,
               "curve": ours, "simulcast": simulcast, "single": single, "layers": lower,
               "bd_simulcast": _bd(simulcast, ours), "bd_single": _bd(single, ours)}
        if jpeg2000 and scales[-1] in (2.0, 4.0):
            row["bd_jpeg2000"] = _bd(jpeg2000, ours)
        table.append(row)
    return {"configs": table, "prediction": _prediction_summary(records), "sweep": _sweep_summary(records)}


def _bd(anchor, test):
    try:
        return bd_rate(anchor, test)
    except ValueError:
        return None


def _prediction_summary(records: list[dict]) -> list[dict]:
    """LIFF's prediction (no residual) against bicubic upsampling of the same
    decoded layer, per step factor, over images, qualities and layers."""
    by_step = {}
    for rec in records:
        for c in rec["configs"]:
            for k in range(1, len(c["scales"])):
                step = round(c["scales"][k] / c["scales"][k - 1], 2)
                L = c["layers"][k]
                by_step.setdefault(step, []).append((L["liff_psnr"], L["bicubic_psnr"]))
    return [{"step": s, "n": len(v), "liff": statistics.fmean(a for a, _ in v),
             "bicubic": statistics.fmean(b for _, b in v),
             "gain": statistics.fmean(a - b for a, b in v)} for s, v in sorted(by_step.items())]


def _sweep_summary(records: list[dict]) -> list[dict]:
    rows = []
    for i, s in enumerate(SWEEP_SCALES):
        items = [rec["sweep"][i] for rec in records]
        row = {"scale": s, "how": items[0]["how"], "layer": items[0]["layer"],
               "width": items[0]["width"], "height": items[0]["height"],
               "psnr": statistics.fmean(r["psnr"] for r in items)}
        if "naive_psnr" in items[0]:
            row["naive_psnr"] = statistics.fmean(r["naive_psnr"] for r in items)
            row["naive_layer"] = items[0]["naive_layer"]
            row["margin"] = row["psnr"] - row["naive_psnr"]
        if "from_below_psnr" in items[0]:
            row["from_below_psnr"] = statistics.fmean(r["from_below_psnr"] for r in items)
        rows.append(row)
    return rows


def decode_speed(images: list[Path], model: str, log=print) -> dict:
    """Whole `scc decode` processes (wall time, peak memory from GNU time) of
    a 3-layer stream at its top layer, the heaviest decode, one at a time."""
    import sys
    import tempfile

    from .runner import run_measured

    scc = [sys.executable, "-m", "scalecodec.cli"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="scc-spatial-") as tmp:
        for path in images:
            stream, rec = Path(tmp) / "s.scc", Path(tmp) / "r.png"
            run_measured(scc + ["encode", path, stream, "-q", f"{SWEEP_QUALITY:g}", "--model", model,
                                "--scales", ",".join(f"{s:g}" for s in SWEEP_CONFIG), "-f"])
            seconds, peak = run_measured(scc + ["decode", stream, rec, "-f"])
            rows.append({"image": path.name, "seconds": seconds, "peak_mib": peak})
            log(f"  decode {path.name}: {seconds:.2f} s, {peak} MiB")
    return {"config": list(SWEEP_CONFIG), "quality": SWEEP_QUALITY, "images": rows}


def _pct(v):
    return "–" if v is None else f"{v:+.1f}%"


def markdown(summary: dict, meta: dict) -> str:
    lines = [
        f"# Spatial scalability on {meta['dataset']} ({meta['images']} images)",
        "",
        f"Model `{meta['model']}` (id `{meta['model_id']}`); qualities {', '.join(f'{q:g}' for q in meta['qualities'])}; "
        f"{meta['machine']}; {meta['date']}; written by `{meta.get('command', 'scc bench-spatial')}`. Each layer's target is the source reduced by the reference "
        f"downscaler ({DOWNSCALER}). bpp from the bytes of real streams over the top layer's pixels (lower "
        "layers: the bytes of the stream cut after that layer, over that layer's pixels); PSNR (RGB) of "
        "decoded 8-bit pixels. BD-rate: negative means the scalable stream needs fewer bits for the same "
        "top-layer PSNR (PCHIP, overlapping range).",
        "",
        "## COMPASS's table: the top layer, with the bytes of the whole stream",
        "",
        "| configuration | scales | BD vs simulcast | BD vs single-layer | BD vs JPEG 2000 | "
        "top bpp / PSNR at each quality |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary["configs"]:
        pts = "; ".join(f"{b:.3f} / {p:.2f}" for b, p in row["curve"])
        lines.append(f"| {row['config']} | {', '.join(f'{s:g}' for s in row['scales'])} | "
                     f"{_pct(row['bd_simulcast'])} | {_pct(row['bd_single'])} | "
                     f"{_pct(row.get('bd_jpeg2000'))} | {pts} |")
    lines += ["", "Targets (issue 4): at most -15% against simulcast and at most +10% against single-layer "
              "at every factor. COMPASS reports -12% to -50% and -8% to +9%.", "",
              "## Every layer: bpp / PSNR per quality", "",
              "| configuration | quality | " + " | ".join(f"layer {k}" for k in range(3)) + " |",
              "|---|---|---|---|---|"]
    for row in summary["configs"]:
        for entry in row["layers"]:
            cells = [f"{L['bpp']:.3f} / {L['psnr']:.2f}" for L in entry["layers"]]
            cells += [""] * (3 - len(cells))
            lines.append(f"| {row['config']} | {entry['quality']:g} | " + " | ".join(cells) + " |")
    lines += ["", "## Prediction: LIFF (no residual) against bicubic upsampling of the same decoded layer", "",
              "| step | predictions | LIFF PSNR | bicubic PSNR | gain |", "|---|---|---|---|---|"]
    pred = summary["prediction"]
    for r in pred:
        lines.append(f"| {r['step']:g}x | {r['n']} | {r['liff']:.2f} | {r['bicubic']:.2f} | {r['gain']:+.2f} dB |")
    lines.append(f"| all | {sum(r['n'] for r in pred)} | | | "
                 f"{statistics.fmean(r['gain'] for r in pred):+.2f} dB (mean over steps) |")
    lines += ["", f"## Any output size: one {label(SWEEP_CONFIG)} stream ({', '.join(f'{s:g}' for s in SWEEP_CONFIG)}), "
              f"quality {SWEEP_QUALITY:g}", "",
              "PSNR against the reference downscale of the source to each size. Between coded layers the "
              "decoder reduces the layer above (bitstream_spec.md 6.4); *naive* is plain bicubic resizing "
              "(Pillow) of the nearest coded layer; *from below* is LIFF predicting up from the layer below, "
              "the alternative rule.", "",
              "| S | size | decoded as | PSNR | naive | margin | from below |", "|---|---|---|---|---|---|---|"]
    for r in summary["sweep"]:
        how = {"exact": f"layer {r['layer']}", "downscale": f"layer {r['layer']} reduced",
               "predict": f"predicted from layer {r['layer']}"}[r["how"]]
        naive = f"{r['naive_psnr']:.2f} (layer {r['naive_layer']})" if "naive_psnr" in r else ""
        margin = f"{r['margin']:+.2f}" if "margin" in r else ""
        below = f"{r['from_below_psnr']:.2f}" if "from_below_psnr" in r else ""
        lines.append(f"| {r['scale']:g} | {r['width']}x{r['height']} | {how} | {r['psnr']:.2f} | {naive} | "
                     f"{margin} | {below} |")
    speed = summary.get("speed")
    if speed and speed["images"]:
        secs = [r["seconds"] for r in speed["images"]]
        peaks = [r["peak_mib"] for r in speed["images"] if r["peak_mib"] is not None]
        lines += ["", "## Decoding speed and memory", "",
                  f"Whole `scc decode` processes of a {label(speed['config'])} stream to its top layer "
                  f"(quality {speed['quality']:g}), {len(secs)} images, one at a time: median "
                  f"{statistics.median(secs):.2f} s, max {max(secs):.2f} s"
                  + (f"; peak memory max {max(peaks):.0f} MiB" if peaks else "")
                  + ". Targets: at most 3 s, under 4 GiB."]
    return "\n".join(lines) + "\n"


def plot(summary: dict, out: Path, jpeg2000: list | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["configs"]
    fig, axes = plt.subplots(2, 5, figsize=(20, 8), sharey=True)
    for ax, row in zip(axes.flat, rows):
        for key, name, style in (("curve", "scalecodec spatial", "o-"), ("simulcast", "simulcast", "s--"),
                                 ("single", "single-layer (top only)", "^:")):
            b, p = zip(*row[key])
            ax.plot(b, p, style, label=name)
        if jpeg2000 and "bd_jpeg2000" in row:
            b, p = zip(*[pt for pt in jpeg2000 if pt[0] <= 1.6])
            ax.plot(b, p, "x-.", label="JPEG 2000", color="grey")
        ax.set_title(f"{row['config']} ({', '.join(f'{s:g}' for s in row['scales'])})")
        ax.set_xlabel("bpp (top-layer pixels)")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("top-layer PSNR (dB)")
    axes[1, 0].set_ylabel("top-layer PSNR (dB)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Spatial scalability on Kodak: one stream against simulcast and single-layer")
    fig.tight_layout()
    fig.savefig(out / "rd-spatial.png", dpi=80)
    plt.close(fig)


def run_spatial_benchmark(folder: Path, out: Path, model: str | None = None, jobs: int = 2,
                          force: bool = False, log=print, configs: list | None = None,
                          qualities: tuple = QUALITIES, speed_images: int = 6) -> dict:
    """Measure, summarize and write spatial.md, spatial.json and rd-spatial.png
    into out (beside `scc bench`'s results.json, whose JPEG 2000 points it uses)."""
    import datetime

    from ...errors import OutputError
    from ...model.file import default_model_path, model_id_of
    from .suite import _machine, invocation
    from .summary import mean_curve

    model = str(model or default_model_path(kind="spatial"))
    out.mkdir(parents=True, exist_ok=True)
    files = [out / f for f in ("spatial.md", "spatial.json", "rd-spatial.png")]
    if not force and any(f.exists() for f in files):
        raise OutputError(f"{out} already holds spatial results; use --force to replace them")
    records = run(Path(folder), out, model, jobs, log, configs, qualities)
    jpeg2000 = None
    bench = out / "results.json"
    if bench.exists():
        points = json.loads(bench.read_text())["points"].get("jpeg2000")
        if points:
            jpeg2000 = [(p["bpp"], p["psnr"]) for p in mean_curve(points, len(records))]
    summary = summarize(records, jpeg2000)
    summary["speed"] = decode_speed(sorted(Path(folder).glob("*.png"))[:speed_images], model, log)
    meta = {"dataset": Path(folder).name, "images": len(records), "model": Path(model).name,
            "model_id": model_id_of(Path(model)).hex(), "machine": _machine(), "qualities": list(qualities),
            "date": datetime.date.today().isoformat(), "command": invocation()}
    files[0].write_text(markdown(summary, meta))
    files[1].write_text(json.dumps({**meta, "summary": summary, "images": records}, indent=1))
    plot(summary, out, jpeg2000)
    return summary
