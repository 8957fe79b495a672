"""`scc bench-spatial` on one small image: every table is produced from
real streams, and the decode-at-any-scale rule it measures is the decoder's."""

import json
import shutil

from conftest import PHOTO
from scalecodec.eval.benchmark.spatial import run_spatial_benchmark


def test_spatial_benchmark_writes_its_tables_and_plot(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(PHOTO, images / "photo.png")
    out = tmp_path / "out"
    summary = run_spatial_benchmark(images, out, jobs=1, configs=[[1.0, 2.0]], qualities=(1.0, 4.0, 7.0),
                                    speed_images=1, log=lambda m: None)
    for name in ("spatial.md", "spatial.json", "rd-spatial.png"):
        assert (out / name).stat().st_size > 0
    (row,) = summary["configs"]
    # The whole stream costs more than the top layer alone.
    for (ours, _), (single, _) in zip(row["curve"], row["single"]):
        assert single < ours
    assert [r["step"] for r in summary["prediction"]] == [2.0]
    sweep = {r["scale"]: r for r in summary["sweep"]}
    assert sweep[1.0]["how"] == sweep[2.0]["how"] == sweep[4.0]["how"] == "exact"
    assert sweep[1.5]["how"] == "downscale" and "from_below_psnr" in sweep[1.5]
    assert summary["speed"]["images"][0]["seconds"] > 0
    text = (out / "spatial.md").read_text()
    assert "| 2-layer 2x | 1, 2 |" in text and "Decoding speed" in text
    assert json.loads((out / "spatial.json").read_text())["images"][0]["image"] == "photo.png"
