"""User-facing error types, kept free of heavy imports so the CLI can map
them to exit codes without loading torch."""

from .container import ContainerError


class InputError(OSError):
    """The input cannot be read."""


class ImageInputError(ValueError):
    """The input is not an image this codec can take."""


class OutputError(OSError):
    """The output cannot be written (or would replace a file without --force)."""


class ModelError(Exception):
    """No usable model: missing, unreadable, or not the one a stream needs."""


class UsageError(ValueError):
    """An option or argument the command cannot work with."""


class QualityError(UsageError):
    """The requested quality is outside what the model offers."""


class StreamError(ContainerError):
    """The stream is well-formed but its content does not decode."""
