"""Folders: scc encode DIR OUTDIR and scc decode DIR OUTDIR, in worker processes."""

import numpy as np
from PIL import Image

from conftest import PHOTO, scc


def test_folder_encode_and_decode_with_workers_skip_and_report(tmp_path):
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    im = Image.open(PHOTO)
    im.save(src / "a.png")
    im.rotate(90, expand=True).save(src / "sub" / "b.jpg")
    im.convert("L").save(src / "c.bmp")
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    (src / "notes.txt").write_text("not an image: not even tried")
    out = tmp_path / "streams"

    r = scc("encode", src, out, "-q", 2, "-j", 2)
    assert r.returncode == 3, r.stderr.decode()
    err = r.stderr.decode()
    assert "broken.png" in err and "encoded 3, skipped 0 (output exists), failed 1" in err
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.scc"))
    assert made == ["a.scc", "c.scc", "sub/b.scc"]
    assert not list(out.rglob("*.part")) and not (out / "broken.scc").exists()

    # Run again: what exists is kept, unless -f.
    before = (out / "a.scc").stat().st_mtime_ns
    r = scc("encode", src, out, "-q", 2)
    assert "encoded 0, skipped 3" in r.stderr.decode() and (out / "a.scc").stat().st_mtime_ns == before
    (src / "broken.png").unlink()
    r = scc("encode", src, out, "-q", 2, "-f", "--quiet")
    assert r.returncode == 0 and r.stderr == b"" and (out / "a.scc").stat().st_mtime_ns != before

    pngs = tmp_path / "decoded"
    assert scc("decode", out, pngs, "-j", 2, check=True).returncode == 0
    assert np.asarray(Image.open(pngs / "sub" / "b.png")).shape == (120, 88, 3)
    assert Image.open(pngs / "c.png").mode == "L"


def test_folder_mode_refusals(tmp_path):
    src = tmp_path / "empty"
    src.mkdir()
    assert scc("encode", src, tmp_path / "o").returncode == 3  # nothing to encode
    (src / "a.png").write_bytes(PHOTO.read_bytes())
    assert scc("encode", src, src).returncode == 2  # the output folder must differ
    (tmp_path / "file").write_text("x")
    assert scc("encode", src, tmp_path / "file").returncode == 2


def test_dask_recipe_encodes_a_collection_on_a_local_cluster_of_two_workers(tmp_path):
    import importlib.util
    from pathlib import Path

    from dask.distributed import Client, LocalCluster

    spec = importlib.util.spec_from_file_location(
        "dask_encode", Path(__file__).resolve().parents[1] / "examples" / "dask_encode.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    src = tmp_path / "photos"
    src.mkdir()
    for i in range(4):
        Image.open(PHOTO).rotate(90 * i, expand=True).save(src / f"p{i}.png")
    (src / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "streams"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        summary = recipe.encode_collection(client, src, out, {"quality": 2.0, "device": "cpu"})
        workers = len(client.scheduler_info()["workers"])
    assert workers == 2
    assert summary.count("done") == 4 and [o.source for o in summary.failed] == [str(src / "broken.jpg")]
    for i in range(4):
        assert scc("decode", out / f"p{i}.scc", tmp_path / f"p{i}.png").returncode == 0


def test_glob_pattern_input_keeps_places_under_its_fixed_part(tmp_path):
    src = tmp_path / "photos"
    (src / "2024" / "trip").mkdir(parents=True)
    im = Image.open(PHOTO)
    im.save(src / "top.jpg")
    im.rotate(90, expand=True).save(src / "2024" / "trip" / "deep.jpg")
    im.save(src / "2024" / "left-out.png")  # not matched by *.jpg
    (src / "2024" / "fake.jpg").write_bytes(b"not a jpeg")  # matched: tried, reported
    out = tmp_path / "streams"

    # The pattern is quoted: scc expands it, '**' reaching into subfolders.
    r = scc("encode", f"{src}/**/*.jpg", out, "-q", 2)
    assert r.returncode == 3 and "fake.jpg" in r.stderr.decode()
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.scc"))
    assert made == ["2024/trip/deep.scc", "top.scc"]

    # The fixed part is the folder before the first wildcard: here photos/2024.
    r = scc("decode", f"{out}/2024/*/*.scc", tmp_path / "pngs", check=True)
    assert [p.relative_to(tmp_path / "pngs").as_posix() for p in (tmp_path / "pngs").rglob("*.png")] == \
        ["trip/deep.png"]
    assert np.asarray(Image.open(tmp_path / "pngs" / "trip" / "deep.png")).shape == (120, 88, 3)

    r = scc("encode", f"{src}/*.webp", tmp_path / "none")
    assert r.returncode == 3 and "matches no file" in r.stderr.decode()
    assert not (tmp_path / "none").exists()


def test_two_inputs_for_one_output_are_refused_before_any_work(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    Image.open(PHOTO).save(src / "a.png")
    Image.open(PHOTO).save(src / "a.jpg")
    for source in (src, f"{src}/a.*"):
        r = scc("encode", source, tmp_path / "out")
        assert r.returncode == 2, r.stderr.decode()
        assert "would both be written to" in r.stderr.decode() and "a.scc" in r.stderr.decode()
        assert not (tmp_path / "out").exists()
