"""Coverage-guided fuzzing (atheris, libFuzzer) of the container parser and of
the whole decoder, seeded with valid streams of every kind (tests/vectors).

    python tests/fuzz.py parse  -runs=1000000          # one target
    python tests/fuzz.py decode -runs=10000
    python tests/fuzz.py campaign --parse-runs N --decode-runs N --out results/fuzz.md   # make fuzz
    python tests/fuzz.py replay                         # tests/fuzz-regressions/, no atheris needed

A crash is any exception other than the documented errors (ContainerError,
including StreamError; ModelError; UsageError; InputError, including the
pixel limit): those become exit codes 2-5, anything else would be exit 1, a
bug. Half of the inputs have their CRCs made right again (the input's first
byte chooses), so that mutations get past the checksums into the layouts,
the range decoder and the prior path instead of stopping at the first CRC.
"""

import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEEDS = HERE / "vectors"
REGRESSIONS = HERE / "fuzz-regressions"
# The decoder target refuses images above this before decoding: the fuzzer
# is after wrong answers and crashes, not after slow large decodes.
DECODE_MAX_PIXELS = 1 << 18



def fix_crcs(data: bytes) -> bytes:
    """data with every complete chunk's CRC32 and the header CRC recomputed
    (bitstream_spec.md sections 2-3); anything too short is left as it is."""
    # The container's own layouts, imported here so that atheris instruments them.
    from scalecodec.container.format import _ENTRY, _HEADER, MAX_CHUNKS

    if len(data) < _HEADER.size:
        return data
    count = _HEADER.unpack_from(data)[-1]
    table_end = _HEADER.size + count * _ENTRY.size
    if count > MAX_CHUNKS or len(data) < table_end + 4:
        return data
    out, pos = bytearray(data), table_end + 4
    for i in range(count):
        at = _HEADER.size + i * _ENTRY.size
        kind, layer, flags, a, b, length, _ = _ENTRY.unpack_from(out, at)
        if pos + length <= len(out):
            _ENTRY.pack_into(out, at, kind, layer, flags, a, b, length, zlib.crc32(out[pos : pos + length]))
        pos += length
    struct.pack_into("<I", out, table_end, zlib.crc32(out[:table_end]))
    return bytes(out)


def _documented():
    from scalecodec.container import ContainerError
    from scalecodec.errors import InputError, ModelError, UsageError

    return ContainerError, ModelError, UsageError, InputError


def _prepare(data: bytes) -> bytes:
    return fix_crcs(data[1:]) if data and data[0] & 1 else data[1:]


def parse_target(data: bytes) -> None:
    """The container alone: parse, describe, truncate (what `scc info` and
    `scc truncate` run)."""
    from scalecodec import api, container

    stream = _prepare(data)
    try:
        container.parse(stream)
        api.describe_file(stream)
        api.truncate_file(stream, max_bytes=max(1, len(stream) // 2))
    except _documented():
        pass


def decode_target(data: bytes) -> None:
    """The whole decoder: container, layouts, range decoder, prior path,
    synthesis, LIFF; at the stream's size and at half of it."""
    from scalecodec import api

    stream = _prepare(data)
    for scale in (None, 0.5):
        try:
            api.decode_file(stream, scale=scale, max_pixels=DECODE_MAX_PIXELS)
        except _documented():
            pass


TARGETS = {"parse": parse_target, "decode": decode_target}


def seed_corpus(folder: Path) -> None:
    """Every golden-vector stream and some of its cuts, each in both
    variants (as is, and with CRCs fixed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in sorted(SEEDS.glob("*.scc")) + sorted(REGRESSIONS.glob("*.scc")):
        data = f.read_bytes()
        for cut in (len(data), len(data) * 3 // 4, len(data) // 2):
            for flag in (0, 1):
                (folder / f"{f.stem}-{cut}-{flag}").write_bytes(bytes([flag]) + data[:cut])


def fuzz(target: str, args: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["scalecodec"]):
        import scalecodec.api  # noqa: F401
        import scalecodec.codecs.decoder  # noqa: F401
        import scalecodec.container.info  # noqa: F401
    corpus = [a for a in args if not a.startswith("-")]
    if not corpus:
        corpus = [tempfile.mkdtemp(prefix=f"scc-fuzz-{target}-")]
        seed_corpus(Path(corpus[0]))
        args = args + corpus
    atheris.Setup([sys.argv[0], *args], TARGETS[target])
    atheris.Fuzz()


def replay() -> int:
    """Run every kept regression input through both targets; returns how many."""
    files = sorted(REGRESSIONS.glob("*.scc"))
    for f in files:
        data = f.read_bytes()
        for flag in (0, 1):
            for target in TARGETS.values():
                target(bytes([flag]) + data)
    return len(files)


def run_target(target: str, runs: int, seed: int = 1, workdir: Path | None = None) -> dict:
    """One bounded libFuzzer run in a child process: runs, seconds, rate,
    and whether it found a crash (the child's exit status)."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="scc-fuzz-"))
    corpus = workdir / f"corpus-{target}"
    seed_corpus(corpus)
    cmd = [sys.executable, __file__, target, f"-runs={runs}", f"-seed={seed}", "-print_final_stats=1",
           f"-artifact_prefix={workdir}/", "-max_len=65536", "-rss_limit_mb=4096", str(corpus)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - t
    done = re.findall(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    executed = int(done[-1]) if done else 0
    return {"target": target, "runs": executed, "seconds": seconds, "per_second": executed / max(seconds, 1e-9),
            "crashes": 0 if proc.returncode == 0 else 1, "returncode": proc.returncode,
            "log_tail": proc.stderr[-3000:]}


def campaign(parse_runs: int, decode_runs: int, out: Path) -> int:
    command = f"python tests/fuzz.py campaign --parse-runs {parse_runs} --decode-runs {decode_runs} --out {out}"
    results = [run_target("parse", parse_runs), run_target("decode", decode_runs)]
    regressions = replay()
    lines = [f"# Fuzzing campaign", "", f"Written by `{command}` (`make fuzz`) on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average at the end "
             f"{os.getloadavg()[0]:.1f} (rates are under that load). atheris {_atheris_version()}, "
             "libFuzzer, seeded with the golden vectors (tests/vectors) and the kept regressions; half of "
             "the inputs get their CRCs made right again.", "",
             "| target | inputs | seconds | inputs/s | crashes |", "|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['target']} | {r['runs']:,} | {r['seconds']:.0f} | {r['per_second']:,.0f} | "
                     f"{r['crashes']} |")
    lines += ["", f"Regression inputs replayed through both targets: {regressions} "
              "(tests/fuzz-regressions/), no crash."]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    for r in results:
        if r["crashes"]:
            print(r["log_tail"], file=sys.stderr)
    return 1 if any(r["crashes"] for r in results) else 0


def _atheris_version() -> str:
    from importlib.metadata import version

    return version("atheris")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    if len(sys.argv) > 1 and sys.argv[1] in TARGETS:
        fuzz(sys.argv[1], sys.argv[2:])
    elif sys.argv[1:2] == ["replay"]:
        print(f"replayed {replay()} regression inputs: no crash")
    elif sys.argv[1:2] == ["campaign"]:
        import argparse

        ap = argparse.ArgumentParser()
        ap.add_argument("--parse-runs", type=int, default=1_000_000)
        ap.add_argument("--decode-runs", type=int, default=10_000)
        ap.add_argument("--out", type=Path, default=HERE.parent / "results" / "fuzz.md")
        a = ap.parse_args(sys.argv[2:])
        sys.exit(campaign(a.parse_runs, a.decode_runs, a.out))
    else:
        sys.exit(__doc__)
