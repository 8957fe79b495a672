"""A folder or a glob at a time: `scc encode DIR OUTDIR`, `scc encode "photos/**/*.jpg" OUTDIR`,
`scc decode DIR OUTDIR`.

Each file is one task in a pool of worker processes; a worker loads the model
once (api's encoder and decoder caches) and keeps it for every file it gets.
A file that fails is reported and skipped, so the others still finish;
outputs that exist are skipped unless forced, so an interrupted run can be
run again to finish the rest.
"""

import glob
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, UsageError
from .files import write_output

STREAM_SUFFIX = ".scc"


@dataclass
class Outcome:
    source: str
    output: str
    status: str  # "done", "skipped" (output exists) or "failed"
    bytes_in: int = 0
    bytes_out: int = 0
    error: str = ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def line(self, verb: str) -> str:
        done = [o for o in self.outcomes if o.status == "done"]
        return (f"{verb} {len(done)}, skipped {self.count('skipped')} (output exists), failed "
                f"{self.count('failed')}; {sum(o.bytes_in for o in done):,} bytes in, "
                f"{sum(o.bytes_out for o in done):,} bytes out")


def is_collection(source: str) -> bool:
    """A folder, or a glob pattern (quoted, so the shell left it alone) that
    is not itself the name of a file."""
    return os.path.isdir(source) or (glob.has_magic(source) and not os.path.exists(source))


def _pattern_root(pattern: str) -> Path:
    """The fixed part of a pattern: the folders before the first one with a
    wildcard. Outputs keep their place under it, as under a folder."""
    fixed = []
    for part in Path(pattern).parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def plan(source: str | Path, out_dir: Path, suffixes, out_suffix: str) -> list[tuple[Path, Path]]:
    """(input, output) for every file to process, in name order: every file
    with one of suffixes under a folder, or every file a glob pattern
    matches ('**' reaches into subfolders); subfolders keep their place
    under out_dir."""
    source = str(source)
    if os.path.isdir(source):
        root = Path(source)
        matches = [p for p in root.rglob("*") if p.suffix.lower() in suffixes]
        looked_for = f"looked for {', '.join(sorted(suffixes))}"
    elif is_collection(source):
        root = _pattern_root(source)
        # The pattern chose its files: they are all tried, so a wrong one is reported, not passed over.
        matches = [Path(p) for p in glob.glob(source, recursive=True)]
        looked_for = "the pattern matches no file"
    else:
        raise InputError(f"{source}: not a folder or a pattern")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder; a folder or pattern input needs an "
                         "output folder")
    if out_dir.resolve() == root.resolve():
        raise UsageError("the output folder must differ from the input folder")
    files = sorted(p for p in matches if p.is_file() and out_dir.resolve() not in p.resolve().parents)
    if not files:
        raise InputError(f"{source}: no files to process ({looked_for})")
    pairs = [(f, (out_dir / f.relative_to(root)).with_suffix(out_suffix)) for f in files]
    # photo.png and photo.jpg would both become photo.scc: one would be lost.
    by_output: dict[Path, list[Path]] = {}
    for src, dst in pairs:
        by_output.setdefault(dst, []).append(src)
    clashes = {dst: srcs for dst, srcs in by_output.items() if len(srcs) > 1}
    if clashes:
        dst, srcs = next(iter(clashes.items()))
        more = f" ({len(clashes)} outputs clash)" if len(clashes) > 1 else ""
        raise UsageError(f"{' and '.join(map(str, srcs))} would both be written to {dst}; "
                         f"rename one{more}")
    return pairs


def _run_one(task) -> Outcome:
    return process(*task)


def process(work: Callable, options: dict, src: Path, dst: Path, force: bool = False) -> Outcome:
    """One file through work(data, name, dst, options), written atomically to
    dst: the unit of work of a folder run, or of any task engine's."""
    src, dst = Path(src), Path(dst)
    if dst.exists() and not force:
        return Outcome(str(src), str(dst), "skipped")
    try:
        data = src.read_bytes()
        out = work(data, str(src), dst, options)
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_output(str(dst), out, force=True)
        return Outcome(str(src), str(dst), "done", len(data), len(out))
    except Exception as err:  # one bad file must not stop the others
        return Outcome(str(src), str(dst), "failed", error=f"{type(err).__name__}: {err}")


def encode_work(data: bytes, name: str, dst: Path, options: dict) -> bytes:
    from ..api import encode_file

    return encode_file(data, name=name, **options).stream


def decode_work(data: bytes, name: str, dst: Path, options: dict) -> bytes:
    from ..api import decode_file, output_format

    return decode_file(data, fmt=output_format(str(dst)), **options).image


def _init_worker(threads: int) -> None:
    # Workers share the cores: each uses its share of torch's and BLAS's threads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def run(pairs: list[tuple[Path, Path]], work: Callable, options: dict, jobs: int, force: bool,
        progress: Callable[[Outcome], None] | None = None) -> Summary:
    """Every (input, output) through work(data, name, output, options) in
    jobs worker processes (1: in this process)."""
    tasks = [(work, options, src, dst, force) for src, dst in pairs]
    summary = Summary()
    if jobs <= 1:
        results = map(_run_one, tasks)
        pool = None
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        # spawn: a fresh interpreter per worker, never a fork of a process
        # whose torch or BLAS threads are already running.
        pool = ProcessPoolExecutor(jobs, multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(threads,))
        results = pool.map(_run_one, tasks)
    try:
        for outcome in results:
            summary.outcomes.append(outcome)
            if progress:
                progress(outcome)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    return summary
