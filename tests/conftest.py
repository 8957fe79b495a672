import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

DATA = Path(__file__).parent / "data"
PHOTO = DATA / "photo-120x88.png"


def scc(*args, input=None, env=None, check=False):
    """Run the real `scc` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "scalecodec.cli", *map(str, args)],
                          input=input, capture_output=True, env=full_env)
    if check and proc.returncode != 0:
        raise AssertionError(f"scc {args} failed ({proc.returncode}): {proc.stderr.decode()}")
    return proc


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return np.asarray(Image.open(PHOTO).convert("RGB"))


@pytest.fixture(scope="session")
def encoder():
    from scalecodec.api import open_encoder

    return open_encoder(None, "cpu")


@pytest.fixture(scope="session")
def decoder():
    from scalecodec.api import open_decoder

    return open_decoder(None)


@pytest.fixture(scope="session")
def stream(encoder, photo) -> bytes:
    return encoder.encode(photo, 3.0)


@pytest.fixture
def stream_file(tmp_path, stream) -> Path:
    p = tmp_path / "photo.scc"
    p.write_bytes(stream)
    return p
