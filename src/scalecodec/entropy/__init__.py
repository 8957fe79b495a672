"""Entropy coding: integer probability tables and the constriction coder.

numpy and constriction only; every bit a stream holds is written here.
"""

from .coder import CodingError, SymbolDecoder, decode_symbols, encode_symbols
from .planes import decode_planes, encode_planes
from .tables import PROB_BITS, PmfTables

__all__ = ["CodingError", "PROB_BITS", "PmfTables", "SymbolDecoder", "decode_planes", "decode_symbols",
           "encode_planes", "encode_symbols"]
