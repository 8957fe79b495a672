"""Measurement: metrics, evaluation and the benchmark against peer codecs."""
