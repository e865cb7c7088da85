"""zoomhard curate: selection from run folders, near-duplicates, and the ImageNet-Hard export."""

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image

from zoomhard import labels as L
from zoomhard.cli import main
from zoomhard.curate import apply_quotas, load_runs, near_duplicates, read_relabel, select
from zoomhard.data import DataError, open_locator
from zoomhard.data import LocatorReader as ImageReader
from zoomhard.data.parquet import ParquetSource
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.grid import ZoomGrid
from zoomhard.runs.store import IMAGES, PREDICTIONS, RunError, RunStore

GRID = ZoomGrid((128, 256), 1, 1)  # two transforms: s128-r0c0, s256-r0c0
DATA = {"spec": "hand", "kind": "folder"}


def hand_run(path: Path, images: dict[str, dict], data: dict = DATA, grid: ZoomGrid = GRID) -> str:
    """A run folder written through RunStore from hand-made tables.

    images: id -> {"labels": [...], "top1": [one per transform], "origin": str, "file": Path}."""
    store = RunStore(path)
    # the folders its images lie in, as a sweep records them (readers read images back only there)
    roots = sorted({str(Path(im["file"]).resolve().parent) for im in images.values() if "file" in im})
    store.open({"model": "hand", "weights": None, "grid": grid.to_dict(), "data": data,
                "subset": {"name": "none", "classes": 1000}, "locator_roots": roots})
    zooms = list(grid)
    rows = []
    for image_id, im in images.items():
        for z, top1 in zip(zooms, im["top1"]):
            rows.append({"image_id": image_id, "scale": z.scale, "row": z.row, "col": z.col, "top1": top1,
                         "correct": top1 in im["labels"], "top5": [top1] * 5, "top5_prob": [0.2] * 5,
                         "label_prob": 0.1})
    meta = [{"image_id": i, "labels": im["labels"], "origin": im.get("origin", ""), "width": 1, "height": 1,
             "locator": f"file:{im.get('file', '/nowhere.png')}"} for i, im in images.items()]
    store.write_part(pa.Table.from_pylist(rows, schema=PREDICTIONS), pa.Table.from_pylist(meta, schema=IMAGES))
    return str(path)


def cli(*args) -> int:
    return main([str(a) for a in args])


# Five images, three runs. Labels are [1]; a top-1 of 1 is correct.
#   a: no run solves it          b: run 0 solves it at one transform   c: every run solves it
#   d: runs 0 and 1 solve it     e: run 2 never swept it; no other run solves it
PLAN = {
    "a": [[0, 0], [0, 0], [0, 0]],
    "b": [[1, 0], [0, 0], [0, 0]],
    "c": [[1, 1], [1, 0], [0, 1]],
    "d": [[1, 1], [0, 1], [0, 0]],
    "e": [[0, 0], [0, 0], None],
}


@pytest.fixture
def three_runs(tmp_path):
    rng = np.random.default_rng(0)
    for i in PLAN:  # small noise images, so that the runs can be exported too
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    runs = []
    for r in range(3):
        images = {i: {"labels": [1], "top1": tops[r], "origin": "X" if i in "ab" else "Y",
                      "file": tmp_path / f"{i}.png"}
                  for i, tops in PLAN.items() if tops[r] is not None}
        runs.append(hand_run(tmp_path / f"run{r}", images))
    return runs


def test_selection_matches_hand_built_tables(three_runs):
    c = load_runs(three_runs)
    ids = lambda order: [c.image_ids[i] for i in order]  # noqa: E731
    with pytest.raises(RunError, match="run2 lacks 1 of 5 images"):
        select(c)  # run2 never swept e
    order, removed = select(c, min_runs=2)  # the study's criterion: no run solves it
    assert sorted(ids(order)) == ["a", "e"] and removed == []
    order, _ = select(c, max_solved=1, min_runs=2)
    assert ids(order)[-1] == "b" and sorted(ids(order)) == ["a", "b", "e"]  # hardest first
    order, _ = select(c, max_solved=2, min_runs=2)
    assert ids(order) == ["a", "e", "b", "d"]  # d: two runs; b: one
    order, removed = select(c, min_runs=3)
    assert ids(order) == ["a"]
    assert [(r.image_id, r.reason) for r in removed] == [("e", "too few runs")]
    assert "swept by 2 of 3 runs" in removed[0].detail
    with pytest.raises(ValueError, match="--min-runs 4"):
        select(c, min_runs=4)


def test_quotas_keep_the_hardest_of_each_origin(three_runs):
    c = load_runs(three_runs)
    order, _ = select(c, max_solved=3, min_runs=2)
    kept, removed = apply_quotas(c, order, {"X": 1, "Y": 2})
    assert [c.image_ids[i] for i in kept] == ["a", "e", "d"]  # X: a before b; Y: e, d before c
    assert sorted((r.image_id, r.reason) for r in removed) == [("b", "quota"), ("c", "quota")]
    with pytest.raises(ValueError, match="origins: 'X', 'Y'"):
        apply_quotas(c, order, {"Z": 1})


def test_relabel_merges_labels_and_rescores(three_runs, tmp_path):
    relabel = tmp_path / "relabel.csv"
    relabel.write_text(f"image_id,labels\na,{L.wnids()[0]}\ne,7 8\n")  # a: top-1 0 is now right
    extra = read_relabel(str(relabel))
    assert extra == {"a": (0,), "e": (7, 8)}
    c = load_runs(three_runs, extra)
    assert c.labels[c.image_ids.index("a")] == (0, 1) and c.labels[c.image_ids.index("e")] == (1, 7, 8)
    order, _ = select(c, min_runs=2)
    assert [c.image_ids[i] for i in order] == ["e"]  # a is solved under its merged labels
    relabel.write_text("image_id,labels\na,cat\n")
    with pytest.raises(ValueError, match="line 2"):
        read_relabel(str(relabel))


def test_runs_over_other_data_are_refused(three_runs, tmp_path, capsys):
    other = hand_run(tmp_path / "other", {"a": {"labels": [1], "top1": [0, 0]}}, data={"spec": "elsewhere"})
    assert cli("curate", *three_runs[:2], other, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "different data" in err and f"{other} swept elsewhere" in err
    # Same data, but the third run never swept e: refused unless --min-runs allows it.
    assert cli("curate", *three_runs, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{three_runs[2]} lacks 1 of 5 images" in err and "--min-runs" in err
    # Same data and images, but other labels.
    relabelled = hand_run(tmp_path / "relabelled", {i: {"labels": [2], "top1": [0, 0]} for i in "abcd"})
    assert cli("curate", three_runs[2], relabelled, "--out", tmp_path / "out") == 2
    assert "different labels" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _samples_bytes() -> dict[str, bytes]:
    return {image_id: sample_path(pkg, rel).read_bytes() for image_id, pkg, rel, _ in SAMPLES}


def test_default_selection_is_the_unsolved_images(samples_run, tmp_path):
    out = tmp_path / "hard"
    code = cli("curate", samples_run, "--out", out)
    pred = RunStore(samples_run).predictions(columns=["image_id", "correct"])
    solved = pred.group_by("image_id").aggregate([("correct", "any")])
    unsolved = {i for i, s in zip(solved["image_id"].to_pylist(), solved["correct_any"].to_pylist()) if not s}
    if not unsolved:  # nothing to keep: said in one line, and no empty parquet written
        assert code == 2 and not out.exists()
        return
    assert code == 0
    exported = pq.read_table(out / "data").column("image").to_pylist()
    assert {im["path"] for im in exported} == unsolved
    summary = json.loads((out / "curate.json").read_text())
    assert summary["images"] == len(unsolved) and summary["candidates"] == len(SAMPLES)
    assert len(ParquetSource(f"{out}/data/*.parquet")) == len(unsolved)


def test_export_round_trip_is_byte_exact_sweeps_and_benches(samples_run, tmp_path, capsys):
    out = tmp_path / "set"
    assert cli("curate", samples_run, "--out", out, "--max-solved", 1) == 0  # every sample
    files = sorted((out / "data").glob("*.parquet"))
    assert [f.name for f in files] == ["validation-00000-of-00001.parquet"]
    originals = _samples_bytes()
    want_labels = {image_id: list(labels) for image_id, _, _, labels in SAMPLES}

    table = pq.read_table(files[0])
    assert json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["image"] == {"_type": "Image"}
    rows = table.to_pylist()
    assert sorted(r["image"]["path"] for r in rows) == sorted(originals)
    for r in rows:
        image_id = r["image"]["path"]
        assert r["image"]["bytes"] == originals[image_id]
        assert r["label"] == want_labels[image_id]
        assert r["english_label"] == [L.class_names()[k] for k in want_labels[image_id]]
        assert r["origin"] in ("skimage", "matplotlib")

    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert isinstance(ds.features["image"], datasets.Image)
    card_config = datasets.load_dataset(str(out), split="validation", cache_dir=str(tmp_path / "hf"))  # README.md
    assert card_config.num_rows == len(originals)
    assert all(isinstance(r["image"], Image.Image) and r["image"].size[0] > 0 for r in ds)
    for r in ds.cast_column("image", datasets.Image(decode=False)):
        assert r["image"]["bytes"] == originals[r["image"]["path"]]
        assert r["label"] == want_labels[r["image"]["path"]]

    card = (out / "README.md").read_text()
    assert "| skimage | 5 | 83.3% |" in card and "`lite0`" in card and "load_dataset" in card
    assert (out / "origins.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The exported set is a data spec: sweep it again and get the same predictions as the original run.
    again = tmp_path / "again"
    assert cli("sweep", "-m", "lite0", "-d", f"parquet:{out}/data/*.parquet", "-o", again,
               "--scales", "128,256", "--no-progress") == 0
    cols = ["image_id", "scale", "row", "col", "top1", "correct"]
    new = RunStore(again).predictions(cols).sort_by([(c, "ascending") for c in cols[:4]])
    old = RunStore(samples_run).predictions(cols)
    old = old.filter(pc.is_in(old["scale"], pa.array([128, 256], pa.int16())))
    assert new.equals(old.sort_by([(c, "ascending") for c in cols[:4]]))
    images = RunStore(again).images()
    assert dict(zip(images["image_id"].to_pylist(), images["labels"].to_pylist())) == want_labels

    # ... and benchmark it: the single-crop protocol over the exported labels, per origin.
    capsys.readouterr()
    assert cli("bench", "-m", "lite0", "-d", f"parquet:{out}/data/*.parquet", "--json", "--no-progress") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == len(originals) and set(report["per_origin"]) == {"skimage", "matplotlib"}
    assert 0 < report["top1"] <= report["top5"] <= 1

    # A run over the exported parquet curates again, reading the images back from parquet rows.
    twice = tmp_path / "twice"
    assert cli("curate", again, "--out", twice, "--max-solved", 1) == 0
    rows = pq.read_table(twice / "data").to_pylist()
    assert {r["image"]["path"]: r["image"]["bytes"] for r in rows} == originals
    assert {r["image"]["path"]: r["label"] for r in rows} == want_labels


def test_existing_output_is_not_overwritten_without_force(three_runs, tmp_path, capsys):
    out = tmp_path / "hard"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ["curate", *three_runs[:2], "--out", out, "--dedup-threshold", -1]
    assert cli(*args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists; pass --force" in err
    assert cli(*args, "--force") == 2  # not a curated set: left alone even with --force
    assert (out / "notes.txt").read_text() == "mine"

    out2 = tmp_path / "hard2"
    assert cli(*args[:-3], out2, "--dedup-threshold", -1, "--max-solved", 2) == 0
    first = json.loads((out2 / "curate.json").read_text())
    assert first["images"] == 5
    assert cli("curate", *three_runs[:2], "--out", out2, "--dedup-threshold", -1) == 2
    assert json.loads((out2 / "curate.json").read_text()) == first
    assert cli("curate", *three_runs[:2], "--out", out2, "--dedup-threshold", -1, "--force") == 0
    assert json.loads((out2 / "curate.json").read_text())["images"] == 2  # a and e


def test_near_duplicates_are_removed_and_recorded(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    chelsea = sample_path("skimage", "data/chelsea.png")
    (photos / "chelsea.png").write_bytes(chelsea.read_bytes())
    with Image.open(chelsea) as im:  # a smaller, recompressed copy from another source
        im.convert("RGB").resize((im.width // 2, im.height // 2), Image.BICUBIC) \
            .save(photos / "chelsea_small.jpg", quality=60)
    (photos / "coffee.png").write_bytes(sample_path("skimage", "data/coffee.png").read_bytes())
    images = {
        "chelsea.png": {"labels": [281], "top1": [0, 0], "origin": "original", "file": photos / "chelsea.png"},
        "coffee.png": {"labels": [967], "top1": [0, 967], "origin": "original", "file": photos / "coffee.png"},
        "chelsea_small.jpg": {"labels": [281], "top1": [0, 0], "origin": "copies",
                              "file": photos / "chelsea_small.jpg"},
    }
    run = hand_run(tmp_path / "run", images)
    out = tmp_path / "hard"
    assert cli("curate", run, "--out", out, "--max-solved", 1) == 0
    kept = [im["path"] for im in pq.read_table(out / "data").column("image").to_pylist()]
    assert sorted(kept) == ["chelsea.png", "coffee.png"]
    with open(out / "removed.csv", newline="") as f:
        removed = list(csv.DictReader(f))
    assert len(removed) == 1
    r = removed[0]
    assert (r["image_id"], r["reason"], r["duplicate_of"]) == ("chelsea_small.jpg", "near-duplicate", "chelsea.png")
    assert int(r["distance"]) <= 2

    assert cli("curate", run, "--out", tmp_path / "all", "--max-solved", 1, "--dedup-threshold", -1) == 0
    assert pq.read_table(tmp_path / "all" / "data").num_rows == 3


def test_near_duplicates_keep_the_earlier_harder_copy():
    hashes = np.array([[0] * 8, [255] * 8, [1] + [0] * 7, [255] * 7 + [254]], dtype=np.uint8)
    assert near_duplicates(hashes, 1) == [(2, 0, 1), (3, 1, 1)]
    assert near_duplicates(hashes, 0) == []
    assert near_duplicates(hashes, -1) == []
    # A chain a-b-c with b dropped: c is compared with the kept a only.
    chain = np.array([[0] * 8, [3] + [0] * 7, [15] + [0] * 7], dtype=np.uint8)
    assert near_duplicates(chain, 2) == [(1, 0, 2)]
    assert near_duplicates(chain, 4) == [(1, 0, 2), (2, 0, 4)]
    # Blocks give the same answer as one pass, against a brute-force reference.
    rng = np.random.default_rng(1)
    many = rng.integers(0, 256, (300, 8), dtype=np.uint8)
    many[150:] = many[:150] ^ (rng.random((150, 8)) < 0.02).astype(np.uint8)  # a flipped bit or two
    assert near_duplicates(many, 6, block=7) == near_duplicates(many, 6) == _brute(many, 6)


def _brute(hashes, threshold):
    bits = np.unpackbits(hashes, axis=1)
    kept, out = [], []
    for i in range(len(bits)):
        d = [(int((bits[i] != bits[j]).sum()), j) for j in kept]
        close = [x for x in d if x[0] <= threshold]
        if close:
            out.append((i, min(close)[1], min(close)[0]))
        else:
            kept.append(i)
    return out


def test_cli_quota_relabel_and_min_runs(three_runs, tmp_path, capsys):
    relabel = tmp_path / "relabel.csv"
    relabel.write_text(f"image_id,labels\ne,7;{L.wnids()[8]}\n")
    out = tmp_path / "hard"
    assert cli("curate", *three_runs, "--out", out, "--min-runs", 2, "--max-solved", 3, "--quota", "Y=1",
               "--relabel", relabel, "--dedup-threshold", -1) == 0
    rows = {r["image"]["path"]: r for r in pq.read_table(out / "data").to_pylist()}
    assert sorted(rows) == ["a", "b", "e"]  # Y keeps only its hardest: e
    assert rows["e"]["label"] == [1, 7, 8] and rows["e"]["english_label"][1] == L.class_names()[7]
    with open(out / "removed.csv", newline="") as f:
        assert sorted((r["image_id"], r["reason"]) for r in csv.DictReader(f)) == [("c", "quota"), ("d", "quota")]
    with open(out / "selection.csv", newline="") as f:
        sel = {r["image_id"]: r for r in csv.DictReader(f)}
    assert (sel["b"]["swept_by"], sel["b"]["solved_by"], sel["b"]["solved_in"]) == ("3", "1", three_runs[0])
    summary = json.loads((out / "curate.json").read_text())
    assert summary["origins"] == {"X": 2, "Y": 1} and summary["relabelled"] == 1
    assert "Per-origin quotas" in (out / "README.md").read_text()

    for bad in (["--quota", "Y"], ["--quota", "Z=1"], ["--min-runs", 4]):
        assert cli("curate", *three_runs, "--out", tmp_path / "x", "--min-runs", 2, *bad) == 2
        err = capsys.readouterr().err
        assert err.count("zoomhard: error:") == 1, err
    assert not (tmp_path / "x").exists()


def test_image_reader_reads_parquet_rows_like_open_locator(tmp_path):
    path = tmp_path / "images.parquet"
    blobs = [bytes([k]) * (k + 1) for k in range(7)]
    pq.write_table(pa.table({"image": [{"bytes": b, "path": f"{k}.png"} for k, b in enumerate(blobs)]}),
                   path, row_group_size=2)
    reader = ImageReader(keep_groups=1)
    for k in (6, 0, 3, 2, 5, 1, 4, 0):
        assert reader.read(f"parquet:{path}#{k}") == blobs[k] == open_locator(f"parquet:{path}#{k}")
    with pytest.raises(DataError, match="out of range"):
        reader.read(f"parquet:{path}#7")
