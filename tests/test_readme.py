"""The README's Python examples run, as written, on the test photo."""

import re
import shutil
from pathlib import Path

from conftest import PHOTO

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_every_python_example_in_the_readme_runs(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert blocks, "the README has Python examples"
    shutil.copy(PHOTO, tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    assert "bytes" in capsys.readouterr().out
