"""Entropy coding: integer probability tables and the constriction coder.

numpy and constriction only; every bit a stream holds is written here.
"""

from .coder import CodingError, decode_segments, decode_symbols, encode_segments, encode_symbols
from .tables import PROB_BITS, PmfTables

__all__ = ["CodingError", "PROB_BITS", "PmfTables", "decode_segments", "decode_symbols", "encode_segments", "encode_symbols"]
