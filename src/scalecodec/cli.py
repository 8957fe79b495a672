"""The `scc` command line: a thin layer over the library.

Exit codes (also in README.md):
  0  success
  1  internal error (a bug: please report it)
  2  usage error: bad option or argument
  3  the input cannot be read, or is not an image scc can code
  4  the stream is invalid, corrupt, or does not decode
  5  no usable model: missing, unreadable, or not the one the stream needs
  6  the output cannot be written, or exists and --force was not given
  7  out of memory: the message says what to try
  130  interrupted; `scc bench` keeps its finished points (run it again to resume)

Data goes to stdout only when an output is '-'; everything else goes to stderr.
torch is imported only by the commands that run the encoder or train: `info`
and `truncate` start in milliseconds, and `decode` needs only numpy.
"""

import functools
import json
import math
import os
import sys
import time

import click

from .errors import (
    ContainerError, ImageInputError, InputError, ModelError, OutputError, UsageError,
)
from .api import DEFAULT_QUALITY
from .codecs.effort import describe as describe_efforts
from .io.files import check_output, read_input, write_output
from .limits import DEFAULT_MAX_PIXELS

EXIT_INTERNAL, EXIT_USAGE, EXIT_INPUT, EXIT_STREAM, EXIT_MODEL, EXIT_OUTPUT, EXIT_MEMORY = 1, 2, 3, 4, 5, 6, 7


def _fail(code: int, message: str):
    click.echo(f"scc: error: {message}", err=True)
    sys.exit(code)


def note(message: str):
    click.echo(f"scc: {message}", err=True)


def user_errors(fn):
    """Map the library's exceptions to one-line messages and exit codes."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (InputError, ImageInputError) as err:
            _fail(EXIT_INPUT, str(err))
        except ContainerError as err:
            _fail(EXIT_STREAM, str(err))
        except ModelError as err:
            _fail(EXIT_MODEL, str(err))
        except OutputError as err:
            _fail(EXIT_OUTPUT, str(err))
        except UsageError as err:
            _fail(EXIT_USAGE, str(err))
        except BrokenPipeError:
            sys.stderr.close()
            sys.exit(EXIT_OUTPUT)
        except KeyboardInterrupt:
            _fail(130, "interrupted")
        except MemoryError:
            _fail(EXIT_MEMORY, "out of memory; try a smaller image or --max-pixels below its size, "
                  "fewer -j workers, or a machine with more memory")
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except BaseException as err:  # constriction panics are BaseExceptions
            if os.environ.get("SCC_DEBUG"):
                raise
            _fail(EXIT_INTERNAL, f"internal error: {type(err).__name__}: {err} "
                  "(set SCC_DEBUG=1 for a traceback)")

    return wrapper


device_option = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where the encoder's analysis transforms run (whichever, the stream decodes exactly anywhere).",
)
decode_device_option = click.option(
    "--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
    help="cpu: the numpy decoder; cuda: the same exact integer arithmetic on the GPU through "
         "torch (float64). Both give the same bytes.",
)
model_option = click.option(
    "--model", "model_path", type=click.Path(dir_okay=False), default=None,
    help="Model file (default: the shipped model of the stream's kind; for decode, the one the "
         "stream names).",
)


def size_options(fn):
    fn = click.option("--height", type=int, default=None, help="Target height (keeps the aspect if alone).")(fn)
    fn = click.option("--width", type=int, default=None, help="Target width (keeps the aspect if alone).")(fn)
    return click.option("--scale", type=float, default=None,
                        help="Output scale relative to the base layer (e.g. 2.4).")(fn)


force_option = click.option("-f", "--force", is_flag=True, help="Replace an existing output file.")
jobs_option = click.option("-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
                           help="Worker processes for a folder IN (each loads the model once).")
quiet_option = click.option("--quiet", is_flag=True, help="Print nothing but errors.")
max_pixels_option = click.option(
    "--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS, show_default=True,
    help="Refuse, before any work, an image (to read, or to decode) of more pixels than this.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="scalecodec", prog_name="scc")
def main():
    """scc: scalable learned image compression.

    Use '-' for stdin or stdout. Exit codes: 0 ok, 1 internal error, 2 usage,
    3 unreadable input (or over --max-pixels), 4 invalid stream, 5 model
    problem, 6 output problem, 7 out of memory.
    """


@main.command()
@click.argument("input_path", metavar="IN")
@click.argument("output_path", metavar="OUT")
@click.option("-q", "--quality", type=float, default=DEFAULT_QUALITY, show_default=True,
              help="Quality level from 1 (smallest) to the model's top: 10 for the default model "
                   "(~0.10 to ~1.8 bpp on Kodak; a fine-grained stream's top, cut to any size "
                   "below), 7 for the spatial one; fractions interpolate.")
@click.option("--scales", type=str, default=None, metavar="1,S2,...",
              help="Spatially scalable: layer scale factors relative to the base layer, e.g. 1,1.6,2.4; "
                   "the last is IN's own size. 2 to 4 layers, each 1.1x to 4x the one below.")
@click.option("--mode", type=click.Choice(["single", "fgs"]), default="single", show_default=True,
              help="fgs: fine-grained scalable (trit-planes), cut at about 1% steps by "
                   "'scc truncate --bytes'; -q sets the top of its range (10: the whole range).")
@click.option("-e", "--effort", type=click.IntRange(1, 9), default=1, show_default=True,
              help="Encoder effort: 1 fast ... 9 slowest. Above 1 the encoder searches for symbols "
                   "that cost fewer bits for the same quality; the stream and its decoding are "
                   "unchanged. Refinement iterations per layer: " + describe_efforts() + ".")
@click.option("--strip", default=None, metavar="all|icc,exif,xmp",
              help="Leave out the input's metadata: all of it, or the kinds listed. By default the "
                   "ICC profile, EXIF and XMP are kept (EXIF orientation is applied to the pixels).")
@click.option("-v", "--verbose", is_flag=True, help="Print the search's rate and distortion as it goes.")
@jobs_option
@model_option
@device_option
@max_pixels_option
@force_option
@quiet_option
@user_errors
def encode(input_path, output_path, quality, scales, mode, effort, strip, verbose, jobs, model_path, device,
           max_pixels, force, quiet):
    """Compress image IN into stream OUT.

    IN may be a folder: every image in it (and its subfolders) is encoded to
    OUT/<name>.scc, in -j worker processes; existing outputs are skipped
    unless -f, and an image that fails is reported and skipped. IN may also
    be a quoted glob pattern, e.g. "photos/**/*.jpg": every file it matches,
    placed under OUT as under the pattern's fixed part (photos/)."""
    from .api import encode_file

    from .io import batch

    factors = _parse_scales(scales) if scales is not None else None
    strip = _parse_strip(strip)
    if batch.is_collection(input_path):
        from pathlib import Path

        from .io.images import IMAGE_SUFFIXES

        options = dict(quality=quality, model_path=model_path, device=device, scales=factors, mode=mode,
                       effort=effort, max_pixels=max_pixels, strip=strip)
        pairs = batch.plan(input_path, Path(output_path), IMAGE_SUFFIXES, batch.STREAM_SUFFIX)
        _run_folder(pairs, batch.encode_work, options, jobs, force, quiet, "encoded")
        return
    check_output(output_path, force, input_path)
    t = time.perf_counter()
    with _SearchProgress(verbose, quiet) as report:
        result = encode_file(read_input(input_path), quality, model_path, device,
                             name="stdin" if input_path == "-" else input_path, scales=factors, mode=mode,
                             effort=effort, report=report if effort > 1 else None, max_pixels=max_pixels,
                             strip=strip)
    write_output(output_path, result.stream, force)
    if not quiet:
        for n in result.notes:
            note(n)
        layers = f", {len(factors)} layers" if factors else (", fine-grained" if mode == "fgs" else "")
        note(f"{input_path} -> {output_path}: {result.width}x{result.height}{layers}, quality {quality:g}, "
             f"{len(result.stream)} bytes, {result.bpp:.4f} bpp, {time.perf_counter() - t:.2f} s")


def _parse_strip(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    from .io.metadata import parse_strip

    try:
        return parse_strip(value)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--strip") from None


def _run_folder(pairs, work, options, jobs, force, quiet, verb):
    """A folder's files through work, with a progress bar; exit 3 if any failed."""
    from .io import batch

    with click.progressbar(length=len(pairs), label=f"{len(pairs)} files", file=sys.stderr,
                           hidden=quiet) as bar:
        def progress(outcome):
            if outcome.status == "failed":
                note(f"\nfailed: {outcome.source}: {outcome.error}")
            bar.update(1)

        summary = batch.run(pairs, work, options, jobs, force, progress)
    if not quiet or summary.failed:
        note(summary.line(verb))
    if summary.failed:
        _fail(EXIT_INPUT, f"{len(summary.failed)} of {len(pairs)} files failed (listed above)")


class _SearchProgress:
    """Follows the encoder's search: a progress bar when stderr is a
    terminal, per-iteration rate and distortion with --verbose, else quiet."""

    def __init__(self, verbose: bool, quiet: bool):
        self.verbose, self.bar = verbose and not quiet, None
        self.show_bar = not quiet and not verbose and sys.stderr.isatty()

    def __enter__(self):
        return self

    def __call__(self, layer, iteration, iterations, bpp, mse):
        if self.verbose:
            psnr = 10 * math.log10(255**2 / max(mse, 1e-10))
            note(f"layer {layer} iteration {iteration}/{iterations}: {bpp:.4f} bpp (model), {psnr:.2f} dB")
        elif self.show_bar:
            if self.bar is None or iteration == 1:
                self.close()
                self.bar = click.progressbar(length=iterations, label=f"refining layer {layer}",
                                             file=sys.stderr)
                self.bar.__enter__()
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __exit__(self, *exc):
        self.close()


def _parse_scales(text: str) -> list[float]:
    from .codecs.geometry import check_scales

    try:
        factors = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--scales takes comma-separated numbers, e.g. 1,1.6,2.4; got {text!r}") from None
    check_scales(factors)
    return factors


@main.command()
@click.argument("input_path", metavar="IN")
@click.argument("output_path", metavar="OUT")
@size_options
@jobs_option
@model_option
@decode_device_option
@max_pixels_option
@force_option
@quiet_option
@user_errors
def decode(input_path, output_path, scale, width, height, jobs, model_path, device, max_pixels, force, quiet):
    """Decompress stream IN into image OUT (PNG for '-'; .png, .ppm, .pgm, .bmp, .tif).

    By default the top layer. --scale S (relative to the base layer) or
    --width/--height give any size: a coded layer exactly; a size between
    layers is the layer above, reduced by the reference downscaler; a size
    above the top is predicted from the top by the enhancement layer's LIFF
    (at most 4x).

    Decoding runs on the CPU in exact integer arithmetic, without torch: the
    output is the same bytes on every machine.

    IN may be a folder of .scc files or a quoted glob pattern: each is
    decoded to OUT/<name>.png, as a folder or pattern IN is encoded."""
    from .api import decode_file, output_format
    from .io import batch

    if batch.is_collection(input_path):
        from pathlib import Path

        options = dict(model_path=model_path, scale=scale, width=width, height=height, device=device,
                       max_pixels=max_pixels)
        pairs = batch.plan(input_path, Path(output_path), {batch.STREAM_SUFFIX}, ".png")
        _run_folder(pairs, batch.decode_work, options, jobs, force, quiet, "decoded")
        return

    fmt = output_format(output_path)
    check_output(output_path, force, input_path)
    t = time.perf_counter()
    result = decode_file(read_input(input_path), model_path, fmt, scale, width, height, device, max_pixels)
    for n in result.notes:
        note(f"warning: {n}")
    write_output(output_path, result.image, force)
    if not quiet:
        how = {"exact": "layer", "downscale": "reduced from layer",
               "predict": "predicted from layer"}[result.plan.how]
        note(f"{input_path} -> {output_path}: {result.width}x{result.height} ({how} {result.plan.layer}), "
             f"{time.perf_counter() - t:.2f} s")


@main.command()
@click.argument("input_path", metavar="IN")
@click.argument("output_path", metavar="OUT")
@click.option("--bytes", "max_bytes", type=click.IntRange(min=1), default=None,
              help="Largest size of the output: the whole stream if it fits, else the highest layer "
                   "that fits (whole, or in a fine-grained stream as many of its segments as fit), "
                   "with the layers below it.")
@size_options
@force_option
@quiet_option
@user_errors
def truncate(input_path, output_path, max_bytes, scale, width, height, force, quiet):
    """Cut stream IN to at most N bytes (--bytes: the whole stream if it
    fits, else the highest layer that fits, whole or in a fine-grained
    stream cut to the segments that fit), or to the layers that decoding at a
    scale or size needs (--scale, --width/--height: the result decodes there
    to exactly the pixels IN does), or both: the layers below the one that
    size needs, that one cut to fit N (fine-grained streams), as a valid
    stream OUT. The layers below a layer are kept as far as it needs them:
    whole, or in a fine-grained spatial stream the segments of each that the
    layer above it was coded over."""
    from .api import truncate_file

    check_output(output_path, force, input_path)
    result = truncate_file(read_input(input_path), max_bytes, scale, width, height)
    for n in result.notes:
        note(f"warning: {n}")
    write_output(output_path, result.stream, force)
    if not quiet:
        note(f"kept {result.kept}: {len(result.stream)} bytes")


@main.command()
@click.argument("input_path", metavar="IN")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@user_errors
def info(input_path, as_json):
    """Describe stream IN: header, geometry, chunks, and any damage or cut."""
    from .api import describe_file
    from .container.info import format_text

    desc = describe_file(read_input(input_path))
    click.echo(json.dumps(desc, indent=2) if as_json else format_text(desc))


@main.command()
@click.argument("reference", type=click.Path(dir_okay=False))
@click.argument("test", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@user_errors
def compare(reference, test, as_json):
    """Print PSNR (dB, RGB) and MS-SSIM of image TEST against REFERENCE."""
    from .io.images import load_image
    from .eval.metrics import ms_ssim, psnr

    a = load_image(read_input(reference), reference).pixels
    b = load_image(read_input(test), test).pixels
    if a.shape != b.shape:
        raise ImageInputError(f"sizes differ: {a.shape[1]}x{a.shape[0]} vs {b.shape[1]}x{b.shape[0]}")
    result = {"psnr": round(psnr(a, b), 4)}
    score = ms_ssim(a, b)
    if score == score:  # NaN for images too small for five scales
        result["ms_ssim"] = round(score, 6)
    click.echo(json.dumps(result) if as_json else
               "  ".join(f"{k.upper().replace('_', '-')} {v}" for k, v in result.items()))


@main.command("eval")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("-q", "--quality", "qualities", type=float, multiple=True,
              default=(1, 2, 3, 4, 5, 6, 7), show_default=True, help="Repeat for several points.")
@click.option("-o", "--output", "output_path", default="-", show_default=True,
              help="Results file: JSON, or per-image CSV if it ends in .csv.")
@model_option
@device_option
@force_option
@user_errors
def eval_command(folder, qualities, output_path, model_path, device, force):
    """Encode and decode every image in FOLDER; report bpp (file bytes), PSNR,
    MS-SSIM and times per image and on average."""
    from pathlib import Path

    from .eval.evaluate import evaluate, write_results

    check_output(output_path, force)
    results = evaluate(Path(folder), list(qualities), model_path, device)
    for m in results["mean"]:
        note(f"quality {m['quality']:g}: {m['bpp']:.4f} bpp, {m['psnr']:.2f} dB, "
             f"MS-SSIM {m['ms_ssim']:.4f} (mean of {m['images']})")
    write_results(results, output_path, force)


@main.command("bench-spatial")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", "out_dir", default=None,
              help="Results folder  [default: bench-results/<FOLDER's name>]")
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes (one thread each).")
@model_option
@force_option
@user_errors
def bench_spatial_command(folder, out_dir, jobs, model_path, force):
    """Spatial scalability on the images in FOLDER: COMPASS's table (the top
    layer against simulcast, single-layer and JPEG 2000), every layer's bpp
    and PSNR, LIFF against bicubic, and decoding at any scale.

    Writes spatial.md, spatial.json and rd-spatial.png; finished images are
    cached (OUT/cache/spatial) and reused by a rerun."""
    from pathlib import Path

    from .eval.benchmark.spatial import run_spatial_benchmark

    out = Path(out_dir) if out_dir else Path("bench-results") / Path(folder).resolve().name
    run_spatial_benchmark(Path(folder), out, model_path, jobs, force, log=note)
    note(f"wrote {out / 'spatial.md'}")


@main.command("bench")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", "out_dir", default=None,
              help="Results folder  [default: bench-results/<FOLDER's name>]")
@click.option("--codecs", default=None, metavar="LIST",
              help="Comma-separated subset of: scalecodec, jpeg, jpeg2000, webp, avif420, avif444, "
                   "jpegxl, hevc  [default: all]")
@click.option("--cache", "cache_dir", default=None,
              help="Per-point cache; finished points are reused  [default: OUT/cache]")
@click.option("--no-scalable", is_flag=True, help="Skip the JPEG 2000 scalable anchors.")
@click.option("--effort", "efforts", default="1", show_default=True, metavar="LIST",
              help="scalecodec's encoder efforts, e.g. 1,3,5: each above 1 is measured as a codec "
                   "of its own (scalecodec-eN) against the default.")
@click.option("--large", "large", default="4032x3024", show_default=True, metavar="WxH",
              help="Also time scalecodec's whole encode and decode processes on the first image "
                   "enlarged to this size (a phone photo); 0 skips it.")
@click.option("--qualities", default=None, metavar="LIST",
              help="scalecodec's quality levels, e.g. 2,4,7,10 (a quick check of a model during "
                   "training)  [default: every level of the model]")
@model_option
@force_option
@user_errors
def bench_command(folder, out_dir, codecs, cache_dir, no_scalable, efforts, large, qualities, model_path, force):
    """Rate-distortion, speed and memory of scalecodec and the established
    codecs (each through its real encoder and decoder) on the images in FOLDER.

    Writes results.md, results.json, rd-psnr.png and rd-ms-ssim.png (and
    effort.png with --effort: BD-rate against encode time per level). Progress
    goes to stderr; an interrupted run resumes from its cache. A codec whose
    tools are missing is skipped, and the report says so.
    """
    from pathlib import Path

    from .eval.benchmark.suite import run_benchmark

    out = Path(out_dir) if out_dir else Path("bench-results") / Path(folder).resolve().name
    names = [c.strip() for c in codecs.split(",") if c.strip()] if codecs else None
    from .codecs.effort import EFFORTS

    try:
        levels = tuple(int(v) for v in efforts.split(","))
    except ValueError:
        raise UsageError(f"--effort takes comma-separated levels, e.g. 1,3,5; got {efforts!r}") from None
    if not set(levels) <= set(EFFORTS):
        raise UsageError(f"efforts are {EFFORTS[0]} to {EFFORTS[-1]}; got {efforts}")
    try:
        size = None if large == "0" else tuple(int(v) for v in large.lower().split("x"))
    except ValueError:
        size = ()
    if size is not None and (len(size) != 2 or min(size) < 16):
        raise UsageError(f"--large takes WIDTHxHEIGHT, e.g. 4032x3024, or 0; got {large!r}")
    try:
        settings = tuple(int(float(v)) if float(v).is_integer() else float(v)
                         for v in qualities.split(",")) if qualities else None
    except ValueError:
        raise UsageError(f"--qualities takes comma-separated levels, e.g. 2,4,7,10; got {qualities!r}") from None
    try:
        run_benchmark(Path(folder), out, names, model_path, Path(cache_dir) if cache_dir else None,
                      scalable=not no_scalable, force=force, efforts=levels, large_photo=size,
                      qualities=settings)
    except KeyboardInterrupt:
        _fail(130, "interrupted; finished points are cached, run the same command to resume")


@main.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--workdir", default="runs/train", show_default=True,
              help="Checkpoints and logs; an existing checkpoint there is resumed.")
@click.option("--minutes", type=float, default=120, show_default=True,
              help="Wall-clock budget in total (across resumes); the LR schedule follows it.")
@click.option("--channels", "n", type=int, default=64, show_default=True,
              help="Channels N of the transforms.")
@click.option("--latent-channels", "m", type=int, default=96, show_default=True,
              help="Channels M of the latent.")
@click.option("--batch", type=int, default=8, show_default=True, help="Batch per process.")
@click.option("--crop", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--bf16/--no-bf16", default=None,
              help="bf16 autocast (default: where it is faster: CPUs with AVX512-BF16 or AMX, GPUs).")
@click.option("--ema", type=float, default=0.0, show_default=True,
              help="Keep an exponential moving average of the weights with this decay (e.g. 0.999); "
                   "the learning curve measures it and export ships it.")
@click.option("--threads", type=int, default=0, help="CPU threads (default: torch's choice).")
@click.option("--spatial-base", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Train the spatial enhancement layer over this base-codec checkpoint (kept "
                   "frozen); --crop is then the top layer's size.")
@click.option("--lambdas", default=None, metavar="L1,L2,...",
              help="Rate-distortion trade-offs of the quality levels, increasing "
                   "(default: the shipped codec's seven).")
@click.option("--widen-from", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Widen this base-codec checkpoint to --channels (the transforms; the hyper "
                   "networks keep their width) and --latent-channels (and --lambdas, which must "
                   "include its own).")
@click.option("--new-only-minutes", type=float, default=0, show_default=True,
              help="With --widen-from: train only the new parts for this long, then all.")
@click.option("--joint-lr", type=float, default=None,
              help="With --new-only-minutes: the learning rate once every part trains (default: --lr).")
@click.option("--rate-ramp-minutes", type=float, default=0, show_default=True,
              help="With --widen-from: the new channels' bits weigh fully only after this long.")
@click.option("--val-minutes", type=float, default=0, show_default=True,
              help="Measure held-out training photos every this many minutes "
                   "(WORKDIR/val_log.jsonl; scripts/learning-curve.py plots it). 0: never.")
@click.option("--val-reference", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Base-codec checkpoint the learning curve's BD-rates are measured against.")
@click.option("--context-base", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Add a channel-conditional context model to this base-codec checkpoint and "
                   "train it alone, the base frozen (its shape comes from the checkpoint).")
@click.option("--context-slices", type=click.IntRange(1, 64), default=None,
              help="A channel-conditional context model with this many slices of y: trained alone "
                   "with --context-base, with the codec otherwise.")
@click.option("--context-hidden", default="64,64", show_default=True,
              help="With --context-slices: the widths of the parameter and the LRP networks.")
@click.option("--context-from", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --widen-from and --context-slices: start the context model from this "
                   "--context-base run's checkpoint (else from the hyperprior it refines).")
@click.option("--grey", is_flag=True,
              help="Train and validate on the photos made grey (their luma in all three channels): "
                   "a codec for grey images, usually fine-tuned from a colour one with --widen-from.")
@user_errors
def train(data, workdir, minutes, n, m, batch, crop, lr, bf16, ema, threads, spatial_base,
          lambdas, widen_from, new_only_minutes, joint_lr, rate_ramp_minutes, val_minutes, val_reference,
          context_base, context_slices, context_hidden, context_from, grey):
    """Train the variable-rate codec on the photos in DATA; with
    --spatial-base, the spatial enhancement layer over a trained base codec.

    Resumable: run it again with the same --workdir. For several GPUs, launch
    it with torchrun; each process trains on its own batches (DDP).
    """
    import logging

    from .training.train import DEFAULT_LAMBDAS, Trainer, TrainConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        levels = [float(v) for v in lambdas.split(",")] if lambdas else list(DEFAULT_LAMBDAS)
    except ValueError:
        raise click.BadParameter("a comma-separated list of numbers", param_hint="--lambdas")
    if len(levels) < 2 or any(b <= a for a, b in zip(levels, levels[1:])) or levels[0] <= 0:
        raise click.BadParameter("two or more positive values, increasing", param_hint="--lambdas")
    try:
        hidden = tuple(int(v) for v in context_hidden.split(","))
    except ValueError:
        hidden = ()
    if len(hidden) != 2 or min(hidden) < 1:
        raise click.BadParameter("two positive widths, e.g. 48,16", param_hint="--context-hidden")
    if not 0 <= ema < 1:
        raise click.BadParameter("a decay in [0, 1), e.g. 0.999", param_hint="--ema")
    cfg = TrainConfig(data=data, workdir=workdir, n=n, m=m, lambdas=levels, batch=batch, crop=crop,
                      minutes=minutes, lr=lr, bf16=bf16, ema=ema, threads=threads, spatial_base=spatial_base,
                      widen_from=widen_from, new_only_minutes=new_only_minutes, joint_lr=joint_lr,
                      rate_ramp_minutes=rate_ramp_minutes, val_minutes=val_minutes,
                      val_reference=val_reference, context_base=context_base,
                      context_slices=context_slices or 0, context_hidden=hidden,
                      context_from=context_from, grey=grey)
    Trainer(cfg).run()


@main.command("export")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.argument("output_path", metavar="OUT")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="Training photos, to calibrate the fixed-point prior path.")
@force_option
@user_errors
def export_command(checkpoint, output_path, data, force):
    """Write a shippable model file from a training CHECKPOINT."""
    import logging
    from pathlib import Path

    from .training.export import export

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if not output_path.endswith(".npz"):
        raise click.BadParameter("model files are .npz (that is where decoders look)", param_hint="OUT")
    check_output(output_path, force)
    model_id = export(Path(checkpoint), Path(data), Path(output_path))
    note(f"wrote {output_path} (model id {model_id})")


if __name__ == "__main__":
    main()
