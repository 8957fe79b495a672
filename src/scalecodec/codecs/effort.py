"""Encoder effort levels (scc encode --effort), without torch, so that the
command line can describe them in milliseconds. scalecodec.codecs.refine runs them."""

# Effort level -> refinement iterations per layer. Level 1 is the plain encoder.
# Each level is about 1.4x the one below, up to 100: on two held-out training
# photos (not Kodak) at quality 4, going from 100 to 800 iterations saved only
# a further 0.4-1.1% of the bytes (+0.07-0.13 dB) for 8x the time, so levels
# past 100 would sell time for almost nothing.
ITERATIONS = (0, 5, 10, 15, 25, 35, 50, 70, 100)
EFFORTS = range(1, len(ITERATIONS) + 1)
DEFAULT_EFFORT = 1
# Wall seconds per megapixel per iteration on the 2-core development CPUs,
# from whole-process encodes (timed, never tuned on): on all 24 Kodak images
# effort 9's 100 iterations add 27.4 s to the default's 2.0 s median, 0.70 s/MP
# (results/kodak-effort); a line through all nine levels in one run on kodim01
# and kodim04 gives 0.56 s/MP (results/kodak-effort-timing). The slower is quoted.
# Those are base v2's; a model with a context model searches slice by slice,
# and its effort 3 took 3.2x v2's on kodim04 (models/scc-base-v2-ctx.md).
SECONDS_PER_MEGAPIXEL_ITERATION = 0.7
CONTEXT_TIME_FACTOR = 3


def describe() -> str:
    """The levels with their rough CPU time per megapixel, for help texts."""
    return (", ".join(f"{e}: {n}" + (f" (~{n * SECONDS_PER_MEGAPIXEL_ITERATION:.0f} s/MP)" if n else "")
                      for e, n in zip(EFFORTS, ITERATIONS))
            + f"; about {CONTEXT_TIME_FACTOR}x those times with a model that has a context model")
