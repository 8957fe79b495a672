"""Integer probability tables shared by encoder and decoder.

A table set holds T tables. Table t covers the integer values
offset[t] .. offset[t] + length[t] - 1 and ends with one escape bin for any
value outside that range. Counts are integers summing to 2**PROB_BITS, so the
probabilities the coder sees are identical on every machine.
"""

from dataclasses import dataclass

import numpy as np

PROB_BITS = 16


@dataclass
class PmfTables:
    counts: np.ndarray  # (T, max_length + 1) int32; bin length[t] is the escape
    offsets: np.ndarray  # (T,) int32
    lengths: np.ndarray  # (T,) int32

    def __post_init__(self):
        self.counts = np.ascontiguousarray(self.counts, dtype=np.int32)
        self.offsets = np.asarray(self.offsets, dtype=np.int32)
        self.lengths = np.asarray(self.lengths, dtype=np.int32)
        self._check()
        self._models = {}

    def _check(self) -> None:
        """Tables come from model files: each must be a distribution the
        coder can use, or decoding would be garbage or a panic."""
        t = len(self.lengths)
        if self.counts.ndim != 2 or self.counts.shape[0] != t or self.offsets.shape != (t,):
            raise ValueError("probability tables have inconsistent shapes")
        if t and (self.lengths.min() < 1 or self.lengths.max() >= self.counts.shape[1]):
            raise ValueError("a probability table's length does not fit its counts")
        used = np.arange(self.counts.shape[1])[None, :] <= self.lengths[:, None]
        if np.any(self.counts[used] < 1) or np.any(np.where(used, self.counts, 0).sum(1) != 1 << PROB_BITS):
            raise ValueError(f"a probability table's counts are not positive integers summing to 2**{PROB_BITS}")
        if t and np.any(self.offsets.astype(np.int64) + self.lengths > 2**31 - 1):
            raise ValueError("a probability table's values leave the 32-bit range")

    def __len__(self) -> int:
        return len(self.lengths)

    def probabilities(self, t: int) -> np.ndarray:
        n = int(self.lengths[t]) + 1
        return self.counts[t, :n].astype(np.float64) / (1 << PROB_BITS)

    @classmethod
    def from_pmfs(cls, pmfs: list[np.ndarray], offsets: list[int]) -> "PmfTables":
        """Quantize float pmfs (the escape takes the leftover mass) to counts."""
        width = max(len(p) for p in pmfs) + 1
        counts = np.zeros((len(pmfs), width), np.int32)
        for t, pmf in enumerate(pmfs):
            counts[t, : len(pmf) + 1] = quantize_pmf(np.asarray(pmf, np.float64))
        return cls(counts, np.array(offsets), np.array([len(p) for p in pmfs]))


def quantize_pmf(pmf: np.ndarray) -> np.ndarray:
    """pmf over n values -> n+1 positive integer counts (last = escape) summing to 2**PROB_BITS."""
    total = 1 << PROB_BITS
    tail = max(0.0, 1.0 - float(pmf.sum()))
    p = np.append(np.clip(pmf, 0, None), tail)
    counts = np.maximum(1, np.floor(p * total)).astype(np.int64)
    excess = int(counts.sum()) - total
    # Settle the rounding error on the largest bins, never driving any to zero.
    order = np.argsort(-counts, kind="stable")
    i = 0
    while excess != 0:
        j = order[i % len(order)]
        step = -1 if excess > 0 else 1
        if counts[j] + step >= 1:
            counts[j] += step
            excess += step
        i += 1
    return counts.astype(np.int32)
