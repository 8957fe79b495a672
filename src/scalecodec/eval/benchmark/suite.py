"""`scc bench`: the whole benchmark of one folder, into one results folder."""

import datetime
import importlib.util
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from ...errors import OutputError, UsageError
from ...io.files import write_output
from . import jpeg2000, report
from .codecs import DEBIAN_PACKAGES, PEERS, scalecodec
from .inprocess import SPEED_QUALITY, container_speed, large_photo_speed, library_speed
from .runner import Cache, Points, Progress, prepare_sources, sweep
from .summary import ANCHOR, layers_summary, resolution_summary, summarize

RESULT_FILES = ("results.md", "results.json", "rd-psnr.png", "rd-ms-ssim.png", "effort.png")


def codec_names() -> list[str]:
    return ["scalecodec", *(c.name for c in PEERS)]


def _machine() -> str:
    cpu = platform.processor()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[1] if hasattr(os, "getloadavg") else float("nan")
    # Times taken beside other work are slower: say how busy the machine was.
    return f"{os.cpu_count()} CPUs, {cpu}; 5-minute load average {load:.1f} at the start"


def invocation() -> str:
    """The command that is writing a results file, as a user would type it
    (a program other than scc calling the library is named as itself)."""
    prog = Path(sys.argv[0]).name
    return shlex.join(["scc" if prog in ("scc", "cli.py") else prog, *sys.argv[1:]])


def _scalable_anchors(sources, points: Points, workdir: Path, single_layer) -> dict:
    jpeg2000_version = next(c for c in PEERS if c.name == ANCHOR).version()
    res, lay = [], []
    for kind, settings, fn, sink in (
            ("resolutions", jpeg2000.RESOLUTION_BPP, jpeg2000.resolution_point, res),
            ("layers", (0,), lambda _s, src, wd: jpeg2000.layers_point(src, wd), lay)):
        tag = points.cache.named_tag(f"jpeg2000-{kind}", jpeg2000_version, *jpeg2000.METHOD)
        for setting in settings:
            for src in sources:
                record = points.get(points.cache.path(tag, setting, src),
                                    f"jpeg2000 {kind} {setting:g} {src.name}",
                                    lambda: fn(setting, src, workdir), lambda r: "done")
                if record is not None:
                    sink.append(record)
    return {"resolutions": resolution_summary(res), "layers": layers_summary(lay, single_layer),
            "per_image": {"resolutions": res, "layers": lay}}


def run_benchmark(folder: Path, out: Path, names: list[str] | None = None, model: str | None = None,
                  cache_dir: Path | None = None, scalable: bool = True, force: bool = False,
                  stream=None, efforts: tuple[int, ...] = (1,), large_photo: tuple[int, int] | None = None,
                  qualities: tuple[float, ...] | None = None) -> dict:
    """efforts: scalecodec's encoder efforts; each above 1 is measured as a
    codec of its own beside the default (when scalecodec is benchmarked).
    qualities: scalecodec's quality levels (None: every level of the model).
    large_photo: (width, height) to also time scalecodec on the first image
    enlarged to that size, as whole processes."""
    stream = stream or sys.stderr
    names = names or codec_names()
    unknown = set(names) - set(codec_names())
    if unknown:
        raise UsageError(f"unknown codec(s) {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(codec_names())}")
    if not force and any((out / f).exists() for f in RESULT_FILES):
        raise OutputError(f"{out} already holds results (use --force to replace them)")
    ladder = {e: scalecodec(model, e, qualities) for e in sorted({1, *efforts})}
    all_codecs = list(ladder.values()) + list(PEERS)
    codecs, skipped = [], {}
    for c in all_codecs:
        if c.name.split("-e")[0] not in names:
            continue
        missing = c.missing_tools()
        if missing:
            skipped[c.name] = f"{', '.join(missing)} not found (Debian: apt install {DEBIAN_PACKAGES})"
            print(f"bench: skipping {c.name}: {skipped[c.name]}", file=stream)
        else:
            codecs.append(c)
    if scalable and ANCHOR in skipped:
        skipped["jpeg2000 scalable anchors"] = "needs opj_compress and opj_decompress"
        scalable = False

    can_plot = importlib.util.find_spec("matplotlib") is not None
    if not can_plot:
        print("bench: matplotlib is not installed, so there will be no plots "
              "(pip install 'scalecodec[bench]')", file=stream)

    out.mkdir(parents=True, exist_ok=True)
    cache = Cache(cache_dir or out / "cache")
    workdir = cache.root / "work"
    sources = prepare_sources(folder, workdir / "sources")
    total = len(sources) * (sum(len(c.settings) for c in codecs)
                            + (len(jpeg2000.RESOLUTION_BPP) + 1 if scalable else 0))
    print(f"bench: {len(sources)} images, {len(codecs)} codecs, {total} points "
          f"(cached points are reused: {cache.root})", file=stream, flush=True)
    progress = Progress(total, stream)
    measured = Points(cache, progress)
    points = sweep(codecs, sources, measured, workdir)
    summary = summarize(points, len(sources))

    results = {
        "dataset": Path(folder).resolve().name, "images": len(sources),
        "date": datetime.date.today().isoformat(), "machine": _machine(), "command": invocation(),
        "labels": {c.name: c.label for c in codecs},
        "settings": {c.name: f"{c.setting} {', '.join(f'{s:g}' for s in c.settings)}" for c in codecs},
        "versions": {c.name: c.version() for c in codecs},
        "skipped": skipped, "failures": measured.failures, "summary": summary,
        "efforts": {c.name: e for e, c in ladder.items() if c.name in summary["rows"]},
    }
    if scalable:
        results["jpeg2000_scalable"] = _scalable_anchors(
            sources, measured, workdir, summary["curves"].get(ANCHOR))
    if "scalecodec" in names:
        print("bench: scalecodec library and container speed", file=stream, flush=True)
        results["scalecodec_library"] = {
            "quality": SPEED_QUALITY, "devices": library_speed(sources, model),
            "container": container_speed(sources, model)}
        if large_photo:
            print(f"bench: scalecodec on a {large_photo[0]}x{large_photo[1]} photo", file=stream, flush=True)
            results["scalecodec_library"]["large_photo"] = large_photo_speed(sources[0], model, large_photo)
    results["points"] = points
    print(f"bench: measured {progress.measured} points, reused {progress.done - progress.measured} "
          "from the cache", file=stream)

    write_output(str(out / "results.json"), (json.dumps(results, indent=1) + "\n").encode(), True)
    write_output(str(out / "results.md"), report.markdown(results).encode(), True)
    if can_plot:
        report.plots(results, out)
    written = [out / f for f in RESULT_FILES if (out / f).exists()]
    print(f"bench: wrote {', '.join(map(str, written))}", file=stream)
    return results
