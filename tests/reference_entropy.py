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
