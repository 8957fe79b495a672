"""A wheel, installed outside the checkout: full, and decode-only (no torch)."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import PHOTO

ROOT = Path(__file__).resolve().parents[1]
# What a decode-only install has: the base dependencies, no torch.
DECODE_ONLY = ("numpy", "numpy.libs", "PIL", "pillow.libs", "click", "constriction", "threadpoolctl.py")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from a copy: building in the checkout would leave build/ behind.
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "results",
                                                             "training-state", "*.egg-info", "build"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", tmp / "dist", src], check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("scalecodec-*.whl"))
    # The fresh venv's own pip installs the wheel (this environment's pip
    # would uninstall the checkout's editable install on the way). No
    # download: the dependencies come from this environment, see run().
    subprocess.run([sys.executable, "-m", "venv", tmp / "venv"], check=True)
    subprocess.run([tmp / "venv" / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-index", "--disable-pip-version-check", wheel], check=True, capture_output=True)
    target = Path(subprocess.run([tmp / "venv" / "bin" / "python", "-c",
                                  "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                 capture_output=True, text=True, check=True).stdout.strip())
    assert (target / "scalecodec").is_dir()
    decode_only = tmp / "decode-only"
    decode_only.mkdir()
    site = Path(sysconfig.get_path("purelib"))
    for name in DECODE_ONLY:
        if (site / name).exists():
            (decode_only / name).symlink_to(site / name)
    work = tmp / "elsewhere"
    work.mkdir()
    return tmp / "venv", site, decode_only, work


def run(installed, deps: Path, *args):
    venv, _, _, work = installed
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCC_", "PYTHON"))}
    env["PYTHONPATH"] = str(deps)
    return subprocess.run([venv / "bin" / "python", "-m", "scalecodec.cli", *map(str, args)],
                          cwd=work, env=env, capture_output=True)


def test_wheel_round_trip_outside_the_checkout_with_its_shipped_models(installed):
    venv, site, _, work = installed
    where = run(installed, site, "--version")
    assert where.returncode == 0
    probe = subprocess.run([venv / "bin" / "python", "-c", "import scalecodec; print(scalecodec.__file__)"],
                           cwd=work, capture_output=True, text=True,
                           env={"PYTHONPATH": str(site), "PATH": os.environ["PATH"]})
    assert str(venv) in probe.stdout  # the installed copy, not the checkout
    for args in (("encode", PHOTO, "a.scc", "-q", 3), ("info", "a.scc"), ("truncate", "a.scc", "b.scc", "--bytes", 100000),
                 ("decode", "b.scc", "a.png"), ("compare", PHOTO, "a.png"),
                 ("encode", PHOTO, "s.scc", "--scales", "1,2"), ("decode", "s.scc", "s.png", "--scale", 1),
                 ("encode", PHOTO, "f.scc", "--mode", "fgs")):
        r = run(installed, site, *args)
        assert r.returncode == 0, (args, r.stderr.decode())
    assert (work / "a.png").stat().st_size > 0
    (work / "photos").mkdir()
    (work / "photos" / "p.png").write_bytes(PHOTO.read_bytes())
    r = run(installed, site, "eval", "photos", "-q", 3, "-o", "eval.json")
    assert r.returncode == 0, r.stderr.decode()
    assert (work / "eval.json").stat().st_size > 0


def test_decode_only_install_decodes_and_says_what_encoding_needs(installed):
    _, site, decode_only, work = installed
    assert run(installed, site, "encode", PHOTO, "d.scc", "-q", 2).returncode == 0
    assert run(installed, decode_only, "decode", "d.scc", "d.png").returncode == 0
    assert run(installed, decode_only, "info", "d.scc").returncode == 0
    r = run(installed, decode_only, "encode", PHOTO, "e.scc")
    assert r.returncode == 2 and b"pip install 'scalecodec[encode]'" in r.stderr
    assert not (work / "e.scc").exists()
    from PIL import Image

    Image.open(PHOTO).resize((240, 176)).save(work / "big.png")  # MS-SSIM needs sides above 160
    r = run(installed, decode_only, "compare", "big.png", "big.png")
    assert r.returncode == 2 and b"pip install 'scalecodec[encode]'" in r.stderr
