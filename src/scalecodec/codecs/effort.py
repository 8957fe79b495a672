"""Encoder effort levels (scc encode --effort), without torch, so that the
command line can describe them in milliseconds. scalecodec.codecs.refine runs them."""

# Effort level -> refinement iterations per layer. Level 1 is the plain encoder.
ITERATIONS = (0, 10, 25, 50, 100, 200, 400, 800, 1500)
EFFORTS = range(1, len(ITERATIONS) + 1)
DEFAULT_EFFORT = 1
# CPU seconds per megapixel per iteration on the 2-core development CPU, with
# training beside it: 100 iterations on a 481x321 photo (0.154 MP; the search
# runs on it padded to 0.2 MP) took 119-126 CPU-s. A quiet machine is faster.
SECONDS_PER_MEGAPIXEL_ITERATION = 8


def describe() -> str:
    """The levels with their rough CPU time per megapixel, for help texts."""
    return ", ".join(f"{e}: {n}" + (f" (~{n * SECONDS_PER_MEGAPIXEL_ITERATION:.0f} s/MP)" if n else "")
                     for e, n in zip(EFFORTS, ITERATIONS))
