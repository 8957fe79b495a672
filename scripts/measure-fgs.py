"""Fine-grained scalability on real files (issue 28): encode each image once
at the fine-grained model's top quality with --mode fgs, cut the stream at
BUDGETS (1.5% to 100% of its size, geometric) with the container's truncate,
decode every cut and measure RGB PSNR on the 8-bit output. Compares with
single-layer streams of the same model at every level (encoded here: the
default single-layer model may be another, see model.file.MODEL_FILES) and
with JPEG 2000 quality layers (one LRCP file per image, a layer
at each cut's bpp, every point a real prefix file). Times a whole-process
`scc decode` of cuts and `scc truncate`. Writes OUT_JSON, and beside it the
plot (.png) and the table (.md, naming this command).

    python scripts/measure-fgs.py OUT_JSON IMAGE...
    python scripts/measure-fgs.py --retime OUT_JSON IMAGE...

--retime measures the speeds again (on a quiet machine: the first run's
whole processes ran beside everything else it did) and rewrites OUT_JSON and
its table, which then name both commands.
"""
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from scalecodec import api, container
from scalecodec.eval.benchmark import jpeg2000
from scalecodec.eval.benchmark.report import provenance
from scalecodec.eval.benchmark.runner import FASTEST_OF, fastest, run_measured
from scalecodec.eval.metrics import bd_rate, psnr, quality_at
from scalecodec.model.file import default_model_path, load_model

BUDGETS = np.geomspace(0.015, 1.0, 40)
GAPS = (0.25, 0.5, 0.75)
SCC = [str(Path(sys.executable).parent / "scc")]


def jpeg2000_layers(ppm: Path, bpps: list[float], pixels: np.ndarray, work: Path) -> list[dict]:
    """One LRCP file with a quality layer at each bpp; every prefix of k
    layers as a real file, its bytes (without OpenJPEG's comment) and PSNR."""
    whole = work / "layers.j2k"
    run_measured(["opj_compress", "-i", ppm, "-o", whole, "-I", "-r", ",".join(f"{24 / b:g}" for b in bpps),
                  "-PLT"])
    cs = jpeg2000.parse(whole.read_bytes())
    per_layer = cs.components * cs.resolutions
    return [jpeg2000._prefix_point(cs, k * per_layer, pixels, whole, ["-l", str(k)], work)
            for k in range(1, cs.layers + 1)]


def measure(path: Path, model: str, levels: int, work: Path) -> dict:
    data = path.read_bytes()
    pixels = np.asarray(Image.open(path).convert("RGB"))
    h, w = pixels.shape[:2]
    enc = api.encode_file(data, levels, model_path=model, mode="fgs", device="cpu")
    singles = [api.encode_file(data, q, model_path=model, device="cpu") for q in range(1, levels + 1)]
    single = singles[-1]
    stream = container.parse(enc.stream)
    payload, _, _ = container.fine.unpack(stream.chunks[0].payload)
    valid = container.ops.cut_sizes(stream, 0)
    src = work / "in.scc"
    src.write_bytes(enc.stream)
    rows, seen = [], set()
    for budget in sorted({int(len(enc.stream) * f) for f in BUDGETS}):
        try:
            cut = container.serialize(container.truncate(stream, budget))
        except container.ContainerError:
            continue  # below the basic part
        if len(cut) in seen:
            continue
        seen.add(len(cut))
        rows.append({"budget": budget, "bytes": len(cut), "bpp": 8 * len(cut) / (w * h),
                     "psnr": psnr(pixels, api.decode_file(cut).pixels)})
    whole_same = bool(np.array_equal(api.decode_file(enc.stream).pixels, api.decode_file(single.stream).pixels))
    decode_s, truncate_s = speed(src, len(enc.stream), work)
    Image.fromarray(pixels).save(work / "in.ppm")
    j2k = jpeg2000_layers(work / "in.ppm", [r["bpp"] for r in rows], pixels, work)
    sizes = [len(s) for s in payload.segments]
    coded = len(payload.z_stream) + len(payload.head) + sum(sizes)
    return {"full": len(enc.stream), "single_layer_bytes": len(single.stream), "whole_is_single_layer": whole_same,
            "single_layer": [(8 * len(s.stream) / (w * h), psnr(pixels, api.decode_file(s.stream).pixels))
                             for s in singles],
            "rows": rows, "segments": len(sizes), "smallest_cut": valid[0], "range": len(enc.stream) / valid[0],
            "median_gap": statistics.median(np.diff(valid)) / len(enc.stream),
            "largest_gap": max(np.diff(valid)) / len(enc.stream), "table_bytes": len(enc.stream) - coded,
            "monotone": bool(np.all(np.diff([r["psnr"] for r in rows]) >= 0)),
            "decode_s": decode_s, "truncate_s": truncate_s,
            "jpeg2000": [{k: p[k] for k in ("bytes", "bpp", "psnr", "prefix_equals_reduced_decode")} for p in j2k]}


def speed(src: Path, size: int, work: Path) -> tuple[float, float]:
    """Whole processes, each the fastest of FASTEST_OF runs: the slower `scc
    decode` of the cut at half the stream and of the whole, and `scc
    truncate` to that half (seconds)."""
    half = work / "half.scc"
    truncate_s = fastest([*SCC, "truncate", src, half, "--bytes", size // 2, "--force", "--quiet"])
    decode_s = max(fastest([*SCC, "decode", f, work / "out.png", "--force", "--quiet"]) for f in (half, src))
    return decode_s, truncate_s


def retime(out_json: str, *images: str) -> None:
    out = json.loads(Path(out_json).read_text())
    model = str(default_model_path("fine"))
    quality = float(load_model(model).levels)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # Every stream first: no timed process then shares the CPUs with
        # this one's encoder threads.
        streams = {}
        for i, image in enumerate(map(Path, images)):
            streams[image] = work / f"{i}.scc"
            streams[image].write_bytes(api.encode_file(image.read_bytes(), quality, model_path=model, mode="fgs",
                                                             device="cpu").stream)
        for image, src in streams.items():
            m = out[image.name]
            m["decode_s"], m["truncate_s"] = speed(src, src.stat().st_size, work)
            print(image.name, f"decode {m['decode_s']:.2f} s, truncate {m['truncate_s'] * 1000:.0f} ms",
                  file=sys.stderr, flush=True)
    names = [n for n in out if not n.startswith("_")]
    out["_summary"]["decode_s_max"] = max(out[n]["decode_s"] for n in names)
    out["_summary"]["truncate_s_max"] = max(out[n]["truncate_s"] for n in names)
    out["_timing"] = provenance()
    write(out, out_json, quality)


def write(out: dict, out_json: str, quality: float) -> None:
    """OUT_JSON and its table beside it."""
    Path(out_json).write_text(json.dumps(out, indent=1))
    Path(out_json).with_suffix(".md").write_text(markdown(out, quality, Path(out_json).with_suffix(".png").name))


def summarize(out: dict, single: dict) -> dict:
    names = [n for n in out if not n.startswith("_")]
    bd, gaps, j2k = [], {g: [] for g in GAPS}, []
    for name in names:
        m = out[name]
        fgs = [(r["bpp"], r["psnr"]) for r in m["rows"]]
        m["bd_rate_vs_single_layer"] = bd_rate(single[name], fgs)
        bd.append(m["bd_rate_vs_single_layer"])
        b = np.array([r["bytes"] for r in m["rows"]])
        m["gaps_db"] = {}
        for g in GAPS:
            r = m["rows"][int(np.argmin(abs(b - g * m["full"])))]
            m["gaps_db"][f"{g:.0%}"] = r["psnr"] - quality_at(single[name], r["bpp"])
            gaps[g].append(m["gaps_db"][f"{g:.0%}"])
        anchor = [(p["bpp"], p["psnr"]) for p in m["jpeg2000"]]
        m["vs_jpeg2000_db"] = [r["psnr"] - quality_at(anchor, r["bpp"]) for r in m["rows"]]
        j2k += [d for d in m["vs_jpeg2000_db"] if not np.isnan(d)]
    return {"images": len(names), "bd_rate_vs_single_layer_mean": float(np.mean(bd)),
            "gaps_db_mean": {f"{g:.0%}": float(np.nanmean(v)) for g, v in gaps.items()},
            "gaps_db_worst": {f"{g:.0%}": float(np.nanmin(v)) for g, v in gaps.items()},
            "vs_jpeg2000_db_mean": float(np.mean(j2k)), "ahead_of_jpeg2000_share": float(np.mean(np.array(j2k) > 0)),
            "range_min": min(out[n]["range"] for n in names),
            "median_gap_max": max(out[n]["median_gap"] for n in names),
            "monotone_all": all(out[n]["monotone"] for n in names),
            "whole_is_single_layer_all": all(out[n]["whole_is_single_layer"] for n in names),
            "decode_s_max": max(out[n]["decode_s"] for n in names),
            "truncate_s_max": max(out[n]["truncate_s"] for n in names),
            "table_share_mean": float(np.mean([out[n]["table_bytes"] / out[n]["full"] for n in names]))}


def plot(out: dict, single: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in out if not n.startswith("_")][:8]
    cols = (len(names) + 1) // 2
    fig, axes = plt.subplots(2, cols, figsize=(3.2 * cols, 6.4), squeeze=False)
    for ax, name in zip(axes.flat, names):
        rows = out[name]["rows"]
        ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], ".-", label="one FGS stream, cut")
        ref = sorted(single[name])
        ax.plot([x for x, _ in ref], [y for _, y in ref], "s--", ms=3, label="single-layer, every level")
        j = out[name]["jpeg2000"]
        ax.plot([p["bpp"] for p in j], [p["psnr"] for p in j], "x:", ms=3, label="JPEG 2000 layers, cut")
        ax.set_xscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("bpp (file bytes)")
        ax.set_ylabel("RGB PSNR (dB)")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(out: dict, quality: float, plot_name: str) -> str:
    names = [n for n in out if not n.startswith("_")]
    s = out["_summary"]
    lines = [f"# Fine-grained scalability by trit-planes ({len(names)} images)", "",
             out["_provenance"] + f" Each image is encoded once "
             f"(`scc encode --mode fgs -q {quality:g}`, model `{default_model_path('fine').name}`); every point is a "
             f"real file cut from that one stream by truncate ({len(BUDGETS)} budgets from 1.5% to 100% of "
             "the stream, geometric; budgets under the basic part are refused), decoded, and compared in RGB "
             "PSNR on the 8-bit output. The single-layer points are that model's single-layer streams at "
             "every level, encoded here; JPEG 2000's are prefixes of one LRCP file per image with a layer at each cut's bpp "
             f"(`opj_compress -I -r ... -PLT`, decoded by `opj_decompress -l k`). Plot: `{plot_name}`.", "",
             f"- **BD-rate against the single-layer codec: {s['bd_rate_vs_single_layer_mean']:+.2f}%** "
             "(mean over images; target <= +10%, stretch +6%).",
             "- **Gap to single-layer at 25 / 50 / 75% of the stream: "
             + " / ".join(f"{s['gaps_db_mean'][k]:+.2f}" for k in s["gaps_db_mean"]) + " dB** mean, "
             + " / ".join(f"{s['gaps_db_worst'][k]:+.2f}" for k in s["gaps_db_worst"])
             + " dB worst image (targets at most 0.7 / 0.4 / 0.3 dB below).",
             f"- Against JPEG 2000 quality layers at the same bpp: {s['vs_jpeg2000_db_mean']:+.2f} dB mean; ahead at "
             f"{s['ahead_of_jpeg2000_share']:.0%} of the cuts (it inherits the base codec's distance to JPEG 2000).",
             f"- Range: every stream spans at least {s['range_min']:.0f}x (whole / smallest valid cut); median gap "
             f"between valid cuts at most {s['median_gap_max']:.2%} of the stream; segment table "
             f"{s['table_share_mean']:.2%} of the stream on average.",
             f"- PSNR never falls as bytes grow: {'yes, on every image' if s['monotone_all'] else '**no**'}. "
             f"The whole stream decodes to the single-layer stream's image: "
             f"{'yes, on every image' if s['whole_is_single_layer_all'] else '**no**'}.",
             (f"- Speed (whole processes, the fastest of {FASTEST_OF} runs each, measured again on a quiet machine; "
              f"{out['_timing'].rstrip('.')}): " if "_timing" in out
              else f"- Speed (whole processes, the fastest of {FASTEST_OF} runs each, beside whatever else ran): ")
             + f"`scc decode` of half a stream or the whole at most {s['decode_s_max']:.2f} s; `scc truncate` at "
             f"most {s['truncate_s_max'] * 1000:.0f} ms.", "",
             "| image | stream (bytes) | vs single-layer file | cuts | BD vs single-layer | gap at 25 / 50 / 75% (dB) "
             "| vs JPEG 2000 (dB, mean) | range | median gap | decode / truncate (s) |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for name in names:
        m = out[name]
        j = [d for d in m["vs_jpeg2000_db"] if not np.isnan(d)]
        lines.append(f"| {name} | {m['full']:,} | {m['full'] / m['single_layer_bytes'] - 1:+.1%} | {len(m['rows'])} | "
                     f"{m['bd_rate_vs_single_layer']:+.1f}% | "
                     + " / ".join(f"{v:+.2f}" for v in m["gaps_db"].values())
                     + f" | {np.mean(j):+.2f} | {m['range']:.0f}x | {m['median_gap']:.2%} | "
                     f"{m['decode_s']:.2f} / {m['truncate_s']:.3f} |")
    return "\n".join(lines) + "\n"


def main(out_json: str, *images: str) -> None:
    model = str(default_model_path("fine"))
    levels = load_model(model).levels
    quality = float(levels)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for image in map(Path, images):
            m = out[image.name] = measure(image, model, levels, Path(tmp))
            print(image.name, m["full"], "bytes,", len(m["rows"]), "cuts, monotone:", m["monotone"],
                  file=sys.stderr, flush=True)
    single = {name: m["single_layer"] for name, m in out.items()}
    out["_summary"] = summarize(out, single)
    out["_provenance"] = provenance()
    write(out, out_json, quality)
    plot(out, single, Path(out_json).with_suffix(".png"))
    print(json.dumps(out["_summary"], indent=1))


if __name__ == "__main__":
    if sys.argv[1] == "--retime":
        retime(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
