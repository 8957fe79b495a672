"""The codecs: stream layouts, geometry, the encoder (torch) and the decoder (numpy)."""
