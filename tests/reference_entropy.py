"""A second implementation of the entropy layer, written from
bitstream_spec.md section 5.1 alone: integer frequencies, the range decoder
and the range encoder with its word count. Pure Python, no constriction,
no numpy; slow, and only has to be right. tests/test_reference_entropy.py
holds it against the codec's own symbol streams (the golden vectors)."""

MASK = (1 << 64) - 1
PRECISION = 24
WORD = 32


def frequencies(counts: list[int]) -> list[int]:
    """Left edges F_0 .. F_n of a table's n bins (counts out of 2**16)."""
    n, total, edges = len(counts), 0, []
    for s, c in enumerate(counts):
        edges.append(total * ((1 << PRECISION) - n) // (1 << 16) + s)
        total += c
    assert total == 1 << 16, "counts must sum to 2**16"
    return edges + [1 << PRECISION]


class RangeDecoder:
    def __init__(self, words: list[int]):
        self.words, self.next = words, 2
        self.lower, self.range = 0, MASK
        first = words[0] if words else 0
        second = words[1] if len(words) > 1 else 0
        self.point = (first << WORD) | second

    def decode(self, edges: list[int]) -> int:
        scale = self.range >> PRECISION
        q = ((self.point - self.lower) & MASK) // scale
        if q >= 1 << PRECISION:
            raise ValueError("invalid data")
        lo, hi = 0, len(edges) - 2  # the bin s with edges[s] <= q < edges[s + 1]
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if edges[mid] <= q else (lo, mid - 1)
        self.lower = (self.lower + scale * edges[lo]) & MASK
        self.range = scale * (edges[lo + 1] - edges[lo])
        if self.range < 1 << WORD:
            self.lower = (self.lower << WORD) & MASK
            self.range <<= WORD
            word = self.words[self.next] if self.next < len(self.words) else 0
            self.point = ((self.point << WORD) & MASK) | word
            self.next += 1
        return lo


class RangeEncoder:
    def __init__(self):
        self.words, self.lower, self.range = [], 0, MASK
        self.pending = None  # (k, u): k words held back, the first u
        self.events = {"pending": 0, "carried": 0}  # so that tests can see these paths were taken

    def _release(self, carried: bool) -> None:
        k, u = self.pending
        self.events["carried"] += carried
        self.words += [u + 1] + [0] * (k - 1) if carried else [u] + [(1 << WORD) - 1] * (k - 1)
        self.pending = None

    def encode(self, s: int, edges: list[int]) -> None:
        scale = self.range >> PRECISION
        self.range = scale * (edges[s + 1] - edges[s])
        new = (self.lower + scale * edges[s]) & MASK
        if self.pending and (new + self.range) & MASK > new:
            self._release(carried=new < self.lower)
        self.lower = new
        if self.range < 1 << WORD:
            self.range <<= WORD
            v = self.lower >> WORD
            self.lower = (self.lower << WORD) & MASK
            if self.pending:
                self.pending = (self.pending[0] + 1, self.pending[1])
            elif (self.lower + self.range) & MASK > self.lower:
                self.words.append(v)
            else:
                self.pending = (1, v)
                self.events["pending"] += 1

    def _seal_words(self) -> list[int]:
        if self.range == MASK:
            return []
        point = (self.lower + (1 << WORD) - 1) & MASK
        out = []
        if self.pending:
            k, u = self.pending
            out = [u + 1] + [0] * (k - 1) if point < self.lower else [u] + [(1 << WORD) - 1] * (k - 1)
        out.append(point >> WORD)
        if ((self.lower + self.range) & MASK) >> WORD == point >> WORD:
            out.append(0)
        return out

    def word_count(self) -> int:
        """Section 5.1's word count: written, held back, and what sealing adds."""
        return len(self.words) + len(self._seal_words())

    def sealed(self) -> list[int]:
        return self.words + self._seal_words()


def split_head(data: bytes) -> tuple[list[int], list[int]]:
    """(escaped values, words) of a symbol stream."""
    count = int.from_bytes(data[:4], "little")
    at = 4 + 4 * count
    escapes = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "little", signed=True) for i in range(count)]
    words = [int.from_bytes(data[i : i + 4], "little") for i in range(at, len(data), 4)]
    return escapes, words


def coding_order(table_ids: list[int]) -> list[int]:
    """Symbol positions in the order they are coded: by table, then raster order."""
    return sorted(range(len(table_ids)), key=lambda i: (table_ids[i], i))


def decode_run(decoder: RangeDecoder, table_ids: list[int], tables) -> list[int]:
    """Bins of one run of symbols (tables: table id -> (edges, offset, length))."""
    bins = [0] * len(table_ids)
    for i in coding_order(table_ids):
        bins[i] = decoder.decode(tables[table_ids[i]][0])
    return bins


def values(bins: list[int], table_ids: list[int], tables, escapes: list[int]) -> list[int]:
    """Bins back to values, escapes taken in raster order."""
    out, used = [], 0
    for b, t in zip(bins, table_ids):
        _, offset, length = tables[t]
        if b == length:
            out.append(escapes[used])
            used += 1
        else:
            out.append(b + offset)
    return out


def decode_symbols(data: bytes, table_ids: list[int], tables) -> list[int]:
    escapes, words = split_head(data)
    bins = decode_run(RangeDecoder(words), table_ids, tables)
    if sum(b == tables[t][2] for b, t in zip(bins, table_ids)) != len(escapes):
        raise ValueError("escape count differs from E")
    return values(bins, table_ids, tables, escapes)


def encode_run(encoder: RangeEncoder, vals: list[int], table_ids: list[int], tables) -> None:
    for i in coding_order(table_ids):
        edges, offset, length = tables[table_ids[i]]
        b = vals[i] - offset
        encoder.encode(b if 0 <= b < length else length, edges)


# Section 8: trit-planes.

class PlaneTables:
    """8.2 for a table set given as (edges, offset, length) per table (as
    ref_tables makes them) and the raw counts: supports, prefix sums of
    counts and of count x value, the plane count, the flags' frequencies."""

    def __init__(self, counts: list[list[int]], offsets: list[int], lengths: list[int]):
        self.lo, self.hi, self.cum0, self.cum1, self.flag_edges = [], [], [], [], []
        for c, off, n in zip(counts, offsets, lengths):
            self.lo.append(off)
            self.hi.append(off + n - 1)
            s0, s1 = [0], [0]
            for j in range(n):
                s0.append(s0[-1] + c[j])
                s1.append(s1[-1] + c[j] * (off + j))
            self.cum0.append(s0)
            self.cum1.append(s1)
            self.flag_edges.append(frequencies([(1 << 16) - c[n], c[n]]))
        reach = max(max(abs(a), abs(b)) for a, b in zip(self.lo, self.hi))
        self.planes = 0
        while (3**self.planes - 1) // 2 < reach:
            self.planes += 1

    def sums(self, t: int, a: int, b: int) -> tuple[int, int]:
        """(mass_t(a, b), moment_t(a, b))."""
        a, b = max(a, self.lo[t]) - self.lo[t], min(b, self.hi[t]) - self.lo[t] + 1
        if b <= a:
            return 0, 0
        return self.cum0[t][b] - self.cum0[t][a], self.cum1[t][b] - self.cum1[t][a]


def trit_counts(m: list[int]) -> list[int]:
    total = sum(m)
    c = [x * ((1 << 16) - 3) // total + (1 if x > 0 else 0) for x in m]
    c[m.index(max(m))] += (1 << 16) - sum(c)
    return c


def walk_planes(pt: PlaneTables, ids: list[int], flags: list[int], trit) -> tuple[list, list, int]:
    """8.3 step 2 over the unescaped elements; trit(i, k, counts, centre)
    gives element i's trit in plane k, or None to stop (a cut). Returns the
    centres, levels and the number of trits coded."""
    centre, level, coded = [0] * len(ids), [pt.planes] * len(ids), 0
    elements = [i for i in range(len(ids)) if not flags[i]]
    for k in range(pt.planes - 1, -1, -1):
        third, half = 3**k, (3**k - 1) // 2
        plane = []
        for i in elements:
            m = [pt.sums(ids[i], centre[i] + d * third - half, centre[i] + d * third + half)[0] for d in (-1, 0, 1)]
            if sum(x > 0 for x in m) == 1:
                centre[i] += ([x > 0 for x in m].index(True) - 1) * third
                level[i] = k
            else:
                plane.append((-ids[i], i, m))
        for _, i, m in sorted(plane):
            s = trit(i, k, trit_counts(m), centre[i])
            if s is None:
                return centre, level, coded
            centre[i] += (s - 1) * third
            level[i] = k
            coded += 1
    return centre, level, coded


def decode_planes(words: list[int], escapes: list[int], ids: list[int], pt: PlaneTables,
                  trits: int, shift: int = 0) -> tuple[list[int], bool]:
    """The flags, then the first `trits` trits; each element's estimate (8.5)
    in units of 1/256, before the mean is added, under the reconstruction
    shift D = shift; and whether those trits complete every plane."""
    dec = RangeDecoder(words)
    flags = [0] * len(ids)
    for i in coding_order(ids):
        flags[i] = dec.decode(pt.flag_edges[ids[i]])
    assert sum(flags) == len(escapes), "escape count differs from E"
    left = [trits]

    def trit(i, k, counts, centre):
        if not left[0]:
            return None
        left[0] -= 1
        s = dec.decode(frequencies(counts))
        assert counts[s] > 0, "a trit in a third of zero mass"
        return s

    centre, level, _ = walk_planes(pt, ids, flags, trit)
    assert not left[0], "more trits declared than the planes hold"
    # After plane 0 every element is at level 0; a cut leaves one above it (the one it stopped at).
    complete = all(level[i] == 0 for i in range(len(ids)) if not flags[i])
    out, esc = [], iter(escapes)
    for i, t in enumerate(ids):
        if flags[i]:
            out.append(next(esc) * 256)
            continue
        h = (3 ** level[i] - 1) // 2
        a, b = max(centre[i] - h, pt.lo[t]), min(centre[i] + h, pt.hi[t])
        mass, moment = pt.sums(min(t + shift, len(pt.lo) - 1), a, b)
        if mass == 0:
            mass, moment = pt.sums(t, a, b)
        out.append((512 * moment + mass) // (2 * mass))
    return out, complete


def encode_planes(values: list[int], ids: list[int], pt: PlaneTables, cuts: list[int]) -> tuple[list[int], list[int]]:
    """The words of 8.3 for these symbols, and the word counts w(S) + 2 of 8.4
    after the flags and after each S in cuts."""
    enc = RangeEncoder()
    flags = [0 if pt.lo[t] <= v <= pt.hi[t] else 1 for v, t in zip(values, ids)]
    for i in coding_order(ids):
        enc.encode(flags[i], pt.flag_edges[ids[i]])
    ends, done = [enc.word_count() + 2], [0]
    wanted = set(cuts)

    def trit(i, k, counts, centre):
        u, half = values[i] - centre, (3**k - 1) // 2
        s = 0 if u < -half else (1 if u <= half else 2)
        enc.encode(s, frequencies(counts))
        done[0] += 1
        if done[0] in wanted:
            ends.append(enc.word_count() + 2)
        return s

    walk_planes(pt, ids, flags, trit)
    return enc.sealed(), ends
