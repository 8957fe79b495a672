#!/usr/bin/env python3
"""Encode a large collection on many machines with Dask distributed.

    dask scheduler                                        # on one machine
    dask worker tcp://HOST:8786 --nworkers 2 --nthreads 1  # on every machine
    python examples/dask_encode.py tcp://HOST:8786 photos/ streams/ -q 4

Each task is one photo, encoded by scalecodec's library API
(scalecodec.io.batch.process, as `scc encode DIR OUTDIR` uses it). A worker
process loads the model on its first task and keeps it for the rest
(scalecodec.api caches it), so each worker loads it once. Dask schedules,
retries lost workers' tasks and balances the load; this script only maps
files to tasks. The folders must be visible to every worker at the same path
(a shared file system, or object storage mounted as one). An image that fails
is reported and the others finish; run it again to finish what is left:
outputs that exist are skipped unless --force.

Workers need `pip install 'scalecodec[encode]' distributed`; give each worker
process one thread (--nthreads 1) and as many processes as cores, or fewer
processes with `OMP_NUM_THREADS` set to share the cores.
"""

import argparse
import sys
from pathlib import Path

from dask.distributed import Client, as_completed

from scalecodec.io import batch
from scalecodec.io.images import IMAGE_SUFFIXES


def encode_collection(client: Client, src_dir: Path, out_dir: Path, options: dict,
                      force: bool = False, progress=None) -> batch.Summary:
    """Every image under src_dir to out_dir/<name>.scc, one Dask task each."""
    pairs = batch.plan(Path(src_dir), Path(out_dir), IMAGE_SUFFIXES, batch.STREAM_SUFFIX)
    n = len(pairs)
    futures = client.map(batch.process, [batch.encode_work] * n, [options] * n,
                         [str(s) for s, _ in pairs], [str(d) for _, d in pairs], [force] * n, pure=False)
    summary = batch.Summary()
    for future in as_completed(futures):
        summary.outcomes.append(future.result())
        if progress:
            progress(summary.outcomes[-1], n)
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scheduler", help="the Dask scheduler's address, e.g. tcp://host:8786")
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("-q", "--quality", type=float, default=3.0)
    ap.add_argument("--effort", type=int, default=1)
    ap.add_argument("-f", "--force", action="store_true")
    a = ap.parse_args()

    def progress(outcome, total):
        done = len(summary_so_far) + 1
        summary_so_far.append(outcome)
        extra = f": {outcome.error}" if outcome.status == "failed" else ""
        print(f"[{done}/{total}] {outcome.status} {outcome.source}{extra}", file=sys.stderr)

    summary_so_far = []
    with Client(a.scheduler) as client:
        summary = encode_collection(client, a.src, a.out, {"quality": a.quality, "effort": a.effort},
                                    a.force, progress)
    print(summary.line("encoded"), file=sys.stderr)
    return 3 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
