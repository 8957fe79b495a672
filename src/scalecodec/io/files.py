"""Input and output files: '-' for stdin/stdout, and atomic writes.

A failed or interrupted run must leave no half-written output, and an existing
file is replaced only when the user says so.
"""

import os
import sys
import tempfile
from pathlib import Path

from ..errors import InputError, OutputError


def read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None


def check_output(path: str, force: bool, input_path: str | None = None) -> None:
    """Fail before any work if the output could not or should not be written."""
    if path == "-":
        return
    p = Path(path)
    if input_path not in (None, "-") and p.exists() and p.resolve() == Path(input_path).resolve():
        raise OutputError(f"{path}: output would overwrite the input")
    if p.is_dir():
        raise OutputError(f"{path}: is a directory")
    if p.exists() and not force:
        raise OutputError(f"{path}: already exists (use --force to replace it)")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: directory {parent} does not exist")


def write_output(path: str, data: bytes, force: bool) -> None:
    """Write data to path atomically: readers see the whole file or none.
    Without force, a file that appears meanwhile (another scc racing to the
    same path) is never replaced: the rename is a link that fails if the
    name exists."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    check_output(path, force)
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if force:
            os.replace(tmp, p)
        else:
            _link_or_fail(tmp, p)
    except FileExistsError:
        raise OutputError(f"{path}: already exists (use --force to replace it)") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _link_or_fail(tmp: str, p: Path) -> None:
    try:
        os.link(tmp, p)
    except FileExistsError:
        raise
    except OSError:
        # No hard links here (some network and FAT file systems): claim the
        # name with an exclusive create, then rename over the claim.
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        os.replace(tmp, p)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
