"""Spatial streams in trit-planes on real files (issue 29): for each image and
layer configuration, encode once at the spatial model's top quality with
--mode fgs --scales, and at each layer cut the stream to BUDGETS budgets
(`truncate --scale --bytes`: the layers below as it needs them, that one cut), decode
every cut at its layer and measure RGB PSNR on the 8-bit output against the
reference downscale. Anchors: spatial streams of whole symbols encoded
separately at QUALITIES (the same scales; a layer's bytes are the stream
selected to it), and for the dyadic configuration JPEG 2000 (one
LRCP file per image with LAYERS quality layers, cut to its first k layers at
each dyadic size as a file of its own; `opj_decompress -r -l`). JPEG 2000's
lower sizes are its wavelet's low-pass bands, compared with the same
reference downscale as ours.
Times whole-process decodes of cuts against the whole-symbol stream's. Writes
OUT_JSON, and beside it the plot (.png) and the table (.md, naming this
command).

    python scripts/measure-fgs-spatial.py [--resume] [--anchors-from EARLIER_JSON] OUT_JSON IMAGE...
    python scripts/measure-fgs-spatial.py --retime OUT_JSON IMAGE...

--resume goes on with an interrupted run of the same code: the images in
OUT_JSON are kept, the others measured. --anchors-from takes the anchors and
JPEG 2000 points from an earlier run's JSON of the same images and model.
--retime measures the speeds again (on a quiet machine) and rewrites OUT_JSON
and its table.
"""
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from scalecodec import api, container
from scalecodec.codecs.encoder import LOWER_PLANES
from scalecodec.codecs.geometry import layer_sizes
from scalecodec.eval.benchmark import jpeg2000
from scalecodec.eval.benchmark.report import provenance
from scalecodec.eval.benchmark.runner import FASTEST_OF, fastest, run_measured
from scalecodec.eval.metrics import bd_rate, psnr, quality_at
from scalecodec.exact.downscale import reference_downscale
from scalecodec.model.file import default_model_path, load_model

CONFIGS = ((1.0, 2.0, 4.0), (1.0, 1.6, 2.4))
BUDGETS = 12  # per layer, geometric from its smallest cut to its whole (budgets())
QUALITIES = (1.0, 3.0, 5.0, 7.0)  # the anchors', as `scc bench-spatial` encodes them
LAYERS = 24  # JPEG 2000 quality layers, geometric from 1% of our whole stream's bpp to all of it
SCC = [str(Path(sys.executable).parent / "scc")]


def jpeg2000_points(pixels: np.ndarray, references: dict, top_bpp: float, work: Path) -> dict:
    """Per reduction k (0: full size), (bpp at that size, PSNR) of the first
    1..LAYERS quality layers at that size: one LRCP file whose last layer is
    at top_bpp (our whole stream's), cut to each (layers, size) as a real
    file (jpeg2000.reduced_layers_point: the higher resolutions' packets left
    empty), which is what JPEG 2000 serves from one file at a dyadic size."""
    Image.fromarray(pixels).save(work / "in.ppm")
    whole = work / "lrcp.j2k"
    ratios = ",".join(f"{24 / b:g}" for b in np.geomspace(top_bpp / 100, top_bpp, LAYERS))
    run_measured(["opj_compress", "-i", work / "in.ppm", "-o", whole, "-I", "-r", ratios, "-PLT"])
    cs = jpeg2000.parse(whole.read_bytes())
    out = {}
    for k, reference in references.items():
        points = []
        for n in range(1, cs.layers + 1):
            p = jpeg2000.reduced_layers_point(cs, n, k, reference, whole, work)
            if not p["prefix_equals_reduced_decode"]:
                raise RuntimeError(f"JPEG 2000's cut at -r {k} -l {n} decodes otherwise than the whole file")
            points.append((p["bpp"], p["psnr"]))
        out[k] = points
    return out


def measure(path: Path, scales: tuple, quality: float, qualities: list, work: Path,
            reuse: dict | None = None) -> dict:
    """One image at one configuration; with reuse (the image's record of an
    earlier run at this configuration, --anchors-from), its whole-symbol
    anchors and JPEG 2000 points are taken from there, not made again: they
    depend on the image and the model alone."""
    data = path.read_bytes()
    pixels = np.asarray(Image.open(path).convert("RGB"))
    h, w = pixels.shape[:2]
    sizes = layer_sizes(w, h, list(scales))
    references = [pixels if (lw, lh) == (w, h) else reference_downscale(pixels, lw, lh) for lw, lh in sizes]
    planes = api.encode_file(data, quality, scales=list(scales), mode="fgs", device="cpu").stream
    (work / "planes.scc").write_bytes(planes)
    layers = []
    for k, ((lw, lh), reference) in enumerate(zip(sizes, references)):
        scale = lw / sizes[0][0]
        valid = container.ops.cut_sizes(container.parse(planes), k)
        rows = []
        for budget in budgets(valid):
            cut = api.truncate_file(planes, max_bytes=budget, scale=scale).stream
            rows.append({"bytes": len(cut), "bpp": 8 * len(cut) / (lw * lh),
                         "psnr": psnr(reference, api.decode_file(cut).pixels)})
        layers.append({"size": [lw, lh], "scale": scale, "rows": rows, "valid_cuts": len(valid),
                       "monotone": bool(np.all(np.diff([r["psnr"] for r in rows]) >= 0))})
    # The anchors: one whole-symbol spatial stream per quality, each layer
    # selected; `whole` ends as the top quality's, which speed() times.
    if reuse is None:
        anchors = [[] for _ in sizes]
        for q in qualities:
            whole = api.encode_file(data, q, scales=list(scales), device="cpu").stream
            for k, ((lw, lh), reference) in enumerate(zip(sizes, references)):
                part = api.truncate_file(whole, scale=lw / sizes[0][0]).stream
                anchors[k].append((8 * len(part) / (lw * lh), psnr(reference, api.decode_file(part).pixels)))
    else:
        anchors = [[tuple(p) for p in layer["anchor"]] for layer in reuse["layers"]]
        whole = api.encode_file(data, qualities[-1], scales=list(scales), device="cpu").stream
    for layer, anchor in zip(layers, anchors):
        layer["anchor"] = anchor
        try:
            layer["bd_rate"] = bd_rate(anchor, [(r["bpp"], r["psnr"]) for r in layer["rows"]])
        except ValueError:  # the layer's cuts all lie below the lowest anchor's PSNR
            layer["bd_rate"] = None
    (work / "whole.scc").write_bytes(whole)
    record = {"layers": layers, "bytes": len(planes),
              **speed(work / "planes.scc", work / "whole.scc", scales[-1], top_cut(layers), work)}
    if scales == (1.0, 2.0, 4.0):
        if reuse is None:
            j2k = jpeg2000_points(pixels, {2: references[0], 1: references[1], 0: references[2]},
                                  8 * len(planes) / (w * h), work)
        else:
            j2k = {k: layer["jpeg2000"] for k, layer in zip((2, 1, 0), reuse["layers"])}
        for k, layer in zip((2, 1, 0), layers):
            layer["jpeg2000"] = j2k[k]
            ours = [(r["bpp"], r["psnr"]) for r in layer["rows"]]
            layer["vs_jpeg2000_db"] = float(np.nanmean([p - quality_at(j2k[k], b) for b, p in ours]))
    return record


def budgets(valid: list[int]) -> list[int]:
    """BUDGETS of a layer's valid cut sizes (all, if it has fewer), each
    the largest at most a point geometric from the smallest to the whole,
    moved to the next one up or down where two would be the same cut (12
    geometric points fell on 8 or 9 distinct cuts of a layer with 15 to 20)."""
    n = min(BUDGETS, len(valid))
    at = np.searchsorted(valid, np.geomspace(valid[0], valid[-1], n), side="right") - 1
    for i in range(1, n):
        at[i] = max(at[i], at[i - 1] + 1)
    at[-1] = len(valid) - 1
    for i in reversed(range(n - 1)):
        at[i] = min(at[i], at[i + 1] - 1)
    return [int(valid[i]) for i in at]


def top_cut(layers: list[dict]) -> int:
    """The bytes of the timed cut: the top layer's middle budget."""
    return layers[-1]["rows"][len(layers[-1]["rows"]) // 2]["bytes"]


def speed(planes: Path, whole: Path, scale: float, top: int, work: Path) -> dict:
    """Whole processes, each the fastest of FASTEST_OF runs, at the top
    layer: `truncate --scale --bytes` to a cut of it, and the cut's decode
    against the whole-symbol stream's of the top quality (seconds)."""
    cut = work / "cut.scc"
    truncate_s = fastest([*SCC, "truncate", planes, cut, "--scale", scale, "--bytes", top, "--force", "--quiet"])
    decode = {f: fastest([*SCC, "decode", f, work / "o.png", "--force", "--quiet"]) for f in (cut, whole)}
    return {"truncate_s": truncate_s, "decode_cut_s": decode[cut], "decode_whole_symbols_s": decode[whole]}


def retime(out_json: str, *images: str) -> None:
    """The speeds again, on a quiet machine: every stream is encoded before
    any process is timed."""
    out = json.loads(Path(out_json).read_text())
    quality = float(load_model(default_model_path("spatial")).levels)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        jobs = []
        for i, image in enumerate(map(Path, images)):
            data = image.read_bytes()
            for c in CONFIGS:
                planes, whole = work / f"{i}-{len(jobs)}-planes.scc", work / f"{i}-{len(jobs)}-whole.scc"
                planes.write_bytes(api.encode_file(data, quality, scales=list(c), mode="fgs", device="cpu").stream)
                whole.write_bytes(api.encode_file(data, quality, scales=list(c), device="cpu").stream)
                jobs.append((out[image.name][",".join(f"{x:g}" for x in c)], planes, whole, c[-1]))
        for record, planes, whole, scale in jobs:
            record.update(speed(planes, whole, scale, top_cut(record["layers"]), work))
    out.pop("_summary", None)
    out["_timing"] = provenance()
    out["_summary"] = summarize(out)
    Path(out_json).write_text(json.dumps(out, indent=1))
    Path(out_json).with_suffix(".md").write_text(markdown(out, quality, Path(out_json).with_suffix(".png").name))


def summarize(out: dict) -> dict:
    summary = {}
    for config in CONFIGS:
        key = ",".join(f"{s:g}" for s in config)
        records = [r[key] for name, r in out.items() if not name.startswith("_")]
        per_layer = []
        for k in range(len(config)):
            layer = [r["layers"][k] for r in records]
            bds = [x["bd_rate"] for x in layer if x["bd_rate"] is not None]
            entry = {"scale": config[k], "bd_rate_mean": float(np.mean(bds)) if bds else None,
                     "bd_rate_worst": float(np.max(bds)) if bds else None,
                     "no_overlap": len(layer) - len(bds),
                     "monotone_all": all(x["monotone"] for x in layer),
                     "cuts_min": min(len(x["rows"]) for x in layer),
                     "valid_cuts_min": min(x["valid_cuts"] for x in layer)}
            if "vs_jpeg2000_db" in layer[0]:
                entry["vs_jpeg2000_db_mean"] = float(np.nanmean([x["vs_jpeg2000_db"] for x in layer]))
            per_layer.append(entry)
        summary[key] = {"layers": per_layer,
                        "decode_cut_over_whole_max": max(r["decode_cut_s"] / r["decode_whole_symbols_s"]
                                                         for r in records),
                        "truncate_s_max": max(r["truncate_s"] for r in records)}
    return summary


def plot(out: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = next(n for n in out if not n.startswith("_"))
    fig, axes = plt.subplots(len(CONFIGS), 3, figsize=(10, 3.2 * len(CONFIGS)), squeeze=False)
    for row, config in zip(axes, CONFIGS):
        record = out[name][",".join(f"{s:g}" for s in config)]
        for ax, layer in zip(row, record["layers"]):
            ax.plot([r["bpp"] for r in layer["rows"]], [r["psnr"] for r in layer["rows"]], ".-",
                    label="one stream in planes, cut")
            a = sorted(layer["anchor"])
            ax.plot([x for x, _ in a], [y for _, y in a], "s--", ms=3, label="whole-symbol spatial streams")
            if "jpeg2000" in layer:
                j = layer["jpeg2000"]
                ax.plot([x for x, _ in j], [y for _, y in j], "x:", ms=3, label="JPEG 2000, k layers at the size")
            ax.set_title(f"{name} {config} layer {layer['scale']:g}x", fontsize=8)
            ax.set_xlabel("bpp at the layer's size")
            ax.set_ylabel("RGB PSNR (dB)")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def markdown(out: dict, quality: float, plot_name: str) -> str:
    names = [n for n in out if not n.startswith("_")]
    lines = [f"# Spatial streams in trit-planes ({len(names)} images: {', '.join(names)})", "",
             out.get("_made_by", provenance()) + f" Each image is encoded once per configuration (`scc encode "
             f"--mode fgs --scales ... -q {quality:g}`, model `{default_model_path('spatial').name}`); at each "
             f"layer, {BUDGETS} of its valid cut sizes (all, if fewer), near geometric from its smallest to its "
             "whole, each a real file made by "
             "`truncate --scale --bytes` (the layers below it as it needs them) and decoded at that layer; bpp at the layer's "
             "size, RGB PSNR against the reference downscale. Anchor: spatial streams of whole symbols at "
             f"qualities {', '.join(f'{q:g}' for q in QUALITIES)}, each selected to the layer. JPEG 2000 (scales 1,2,4): "
             f"one LRCP file per image with {LAYERS} quality layers up to our whole stream's bpp, its first k layers "
             "at each dyadic size written as a file of their own (the higher resolutions' packets empty) and "
             "checked to decode as `opj_decompress -r -l` of the whole file does; the mean difference is over "
             f"our cuts within its range. The encoder writes every layer whole and codes each enhancement "
             f"layer over {LOWER_PLANES:.0%} of the segments of the layer below (`codecs.encoder.LOWER_PLANES`, "
             "format 1.7), which is what a cut keeps of each layer below it; a layer of N bytes has segments "
             "of sqrt(10 N) bytes, at most 256 or 1% (`entropy.planes._cuts`). Plot (first image): "
             f"`{plot_name}`.", ""]
    if "_anchors_from" in out:
        lines += ["The anchors and the JPEG 2000 points were taken from an earlier run (`--anchors-from`; they "
                  f"depend on the image and the model alone), whose maker: {out['_anchors_from']}", ""]
    for key, s in out["_summary"].items():
        lines += [f"## Scales {key}", "", "| layer | BD-rate vs whole-symbol spatial (mean / worst; target <= +10%) "
                  "| PSNR never falls | cuts measured per layer (min) | valid cuts per layer (min) "
                  "| vs JPEG 2000 at the same bpp |", "|---|---|---|---:|---:|---|"]
        for layer in s["layers"]:
            j = f"{layer['vs_jpeg2000_db_mean']:+.2f} dB" if "vs_jpeg2000_db_mean" in layer else "–"
            bd = (f"{layer['bd_rate_mean']:+.1f}% / {layer['bd_rate_worst']:+.1f}%" if layer["bd_rate_mean"] is not None
                  else "–")
            if layer.get("no_overlap"):
                bd += (f" ({layer['no_overlap']} image(s) left out: the layer's whole is below the lowest "
                       "anchor's PSNR)")
            lines.append(f"| {layer['scale']:g}x | {bd} | "
                         f"{'yes' if layer['monotone_all'] else '**no**'} | {layer['cuts_min']} | "
                         f"{layer['valid_cuts_min']} | {j} |")
        timing = (f"(each the fastest of {FASTEST_OF} runs, measured again on a quiet machine; "
                  f"{out['_timing'].rstrip('.')})" if "_timing" in out else
                  f"(each the fastest of {FASTEST_OF} runs, beside whatever else ran)")
        lines += ["", f"Whole-process decode {timing} of a top-layer cut against the whole-symbol stream's: at most "
                  f"{s['decode_cut_over_whole_max']:.2f}x (target 1.2x); `scc truncate --scale --bytes` at most "
                  f"{s['truncate_s_max'] * 1000:.0f} ms (target 100 ms).", ""]
    return "\n".join(lines)


def main(*args: str) -> None:
    if args[0] == "--retime":
        retime(*args[1:])
        return
    resume = args[0] == "--resume"
    args = args[resume:]
    earlier = None
    if args[0] == "--anchors-from":
        earlier, args = json.loads(Path(args[1]).read_text()), args[2:]
    out_json, *images = args
    quality = float(load_model(default_model_path("spatial")).levels)
    # --resume: an interrupted run of this code goes on, keeping the images it measured.
    out = json.loads(Path(out_json).read_text()) if resume else {}
    out.pop("_summary", None)
    out["_made_by"] = provenance()
    if earlier is not None:
        out["_anchors_from"] = earlier["_made_by"]
    with tempfile.TemporaryDirectory() as tmp:
        for image in map(Path, images):
            if image.name in out:
                continue
            keys = [",".join(f"{s:g}" for s in c) for c in CONFIGS]
            out[image.name] = {k: measure(image, c, quality, QUALITIES, Path(tmp),
                                          earlier[image.name][k] if earlier is not None else None)
                               for k, c in zip(keys, CONFIGS)}
            print(image.name, {k: [l["bd_rate"] and round(l["bd_rate"], 1) for l in v["layers"]]
                               for k, v in out[image.name].items()},
                  file=sys.stderr, flush=True)
            # Written after every image: a run stopped early keeps what it measured.
            out["_summary"] = summarize(out)
            Path(out_json).write_text(json.dumps(out, indent=1))
            Path(out_json).with_suffix(".md").write_text(
                markdown(out, quality, Path(out_json).with_suffix(".png").name))
            del out["_summary"]
    out["_summary"] = summarize(out)
    plot(out, Path(out_json).with_suffix(".png"))
    print(json.dumps(out["_summary"], indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
