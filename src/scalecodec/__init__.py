"""scalecodec: scalable learned image compression that writes real files."""

__version__ = "0.1.0"
