"""Analyses against hand-built predictions tables with known answers, the run folder's bad
inputs, and the spatial-bias map on photos planted off-centre on a large canvas."""

import csv
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from zoomhard import analysis as A
from zoomhard.cli import main
from zoomhard.grid import Zoom, ZoomGrid
from zoomhard.runs.store import FORMAT_VERSION, IMAGES, PREDICTIONS, RunStore

# Four scales: zoom-out (128), the crop size (224), the standard (256) and zoom-in (512).
GRID = ZoomGrid((128, 224, 256, 512))
Z = {z.id: i for i, z in enumerate(GRID)}


def table(solved: dict[str, list[str]], grid: ZoomGrid = GRID, shuffle: bool = False) -> pa.Table:
    """A full predictions table: image -> the transform ids it gets right (the rest wrong)."""
    rows = []
    for image, right in solved.items():
        for z in grid:
            ok = z.id in right
            rows.append({"image_id": image, "scale": z.scale, "row": z.row, "col": z.col,
                         "top1": 1 if ok else 2, "correct": ok, "top5": [1, 2, 3, 4, 5],
                         "top5_prob": [0.5, 0.2, 0.1, 0.1, 0.1], "label_prob": 0.5 if ok else 0.2})
    if shuffle:
        random.Random(0).shuffle(rows)
    return pa.Table.from_pylist(rows, schema=PREDICTIONS)


def matrix(solved, **kw) -> A.Correctness:
    return A.correctness(table(solved, **kw), GRID)


def test_the_matrix_is_keyed_by_image_and_transform_not_by_row_order():
    solved = {"a": ["s512-r2c0"], "b": ["s128-r0c0", "s256-r1c1"], "c": []}
    c1, c2 = matrix(solved), matrix(solved, shuffle=True)
    for c in (c1, c2):
        rows = {i: set(np.flatnonzero(c.matrix[c.image_ids.index(i)])) for i in solved}
        assert rows == {i: {Z[t] for t in ts} for i, ts in solved.items()}


def test_standard_crop_upper_bound_and_unsolved():
    c = matrix({"a": ["s256-r1c1"], "b": ["s512-r0c0"], "c": [], "d": ["s256-r1c1", "s128-r2c2"]})
    assert GRID.standard == Zoom(256, 1, 1)
    assert A.standard_top1(c, GRID) == 0.5
    assert A.upper_bound(c) == 0.75
    assert A.analyze(c, GRID)["unsolved"] == 0.25


def test_per_anchor_is_the_spatial_bias_map_top_to_bottom():
    c = matrix({"a": ["s512-r2c0"], "b": ["s128-r2c0", "s256-r0c2"], "c": ["s224-r0c2", "s512-r0c2"], "d": []})
    got = A.per_anchor(c, GRID)
    want = np.zeros((3, 3))
    want[2, 0] = 2 / 4      # a and b: bottom-left, whatever the scale
    want[0, 2] = 2 / 4      # b and c (c twice, counted once): top-right
    assert np.allclose(got, want)


def test_per_scale_and_centre_per_scale():
    c = matrix({"a": ["s512-r2c0", "s512-r1c1"], "b": ["s512-r0c0"], "c": ["s128-r1c1"], "d": []})
    assert A.per_scale(c, GRID) == {128: 0.25, 224: 0.0, 256: 0.0, 512: 0.5}
    assert A.center_per_scale(c, GRID) == {128: 0.25, 224: 0.0, 256: 0.0, 512: 0.25}


def test_greedy_cover_picks_most_new_images_and_skips_unsolvable():
    # T0 covers 4 images; then T3 adds two new ones while T1 and T2 add one each.
    t0, t1, t2, t3 = "s128-r0c0", "s224-r1c1", "s256-r2c2", "s512-r0c1"
    c = matrix({"i0": [t0, t1], "i1": [t0, t1], "i2": [t0, t2], "i3": [t0, t2],
                "i4": [t1, t3], "i5": [t2, t3], "never": []})
    cover = A.min_cover(c)
    assert [c.zooms[j].id for j in cover.picks] == [t0, t3]
    assert cover.new == [4, 2]
    assert cover.accuracy() == [4 / 7, 6 / 7]
    assert cover.upper_bound_of_first(36) == A.upper_bound(c) == 6 / 7


def test_cover_ties_go_to_the_first_transform_in_the_studys_order():
    """The authors' greedy walks its results location-major (row, then col), the scales in the
    order of their list; analysis.json counts the transforms tied for each pick."""
    # Three transforms each cover the same two images; listed out of any order on purpose.
    tied = ["s224-r2c2", "s224-r0c1", "s512-r0c0"]
    c = matrix({"x": tied + ["s128-r1c1"], "y": tied, "z": ["s128-r1c1", "s512-r2c2"]})
    result = A.analyze(c, GRID)
    # four 2-covers tie; r0c0 is the first location; then z: r1c1 before r2c2
    assert result["min_cover"] == ["s512-r0c0", "s128-r1c1"] and result["cover_ties"] == [4, 2]
    c2 = matrix({"x": tied, "y": tied, "z": ["s512-r2c2"]})
    r2 = A.analyze(c2, GRID)
    assert r2["min_cover"] == ["s512-r0c0", "s512-r2c2"] and r2["cover_ties"] == [3, 1]
    # at one location, the scales in the study's list order: 896 before 122 (its linspace tail)
    study = ZoomGrid()
    c3 = A.correctness(table({"x": ["s122-r1c1", "s896-r1c1"]}, study), study)
    assert A.analyze(c3, study)["min_cover"] == ["s896-r1c1"]


def test_the_study_order_is_location_major_with_the_studys_scale_list():
    from zoomhard.grid import STUDY_SCALE_ORDER, STUDY_SCALES

    assert sorted(STUDY_SCALE_ORDER) == list(STUDY_SCALES)
    zooms = list(ZoomGrid())
    order = [zooms[j] for j in A.study_order(zooms)]
    assert [z.id for z in order[:3]] == ["s10-r0c0", "s16-r0c0", "s32-r0c0"]
    assert [z.id for z in order[26:28]] == ["s896-r0c0", "s122-r0c0"] and order[36].id == "s10-r0c1"
    assert order[-1].id == "s1024-r2c2"


def test_cover_curve_for_every_k_and_top36():
    # 40 images each solved by its own transform: the cover has 40 picks, the first 36 reach 36/41.
    grid = ZoomGrid((128, 224, 256, 512, 1024))
    zooms = list(grid)
    solved = {f"im{i:02d}": [zooms[i].id] for i in range(40)}
    solved["never"] = []
    c = A.correctness(table(solved, grid), grid)
    r = A.analyze(c, grid)
    # every pick ties: they come in the study's order, location by location
    solvable = {zooms[i] for i in range(40)}
    assert r["min_cover"] == [zooms[j].id for j in A.study_order(zooms) if zooms[j] in solvable]
    assert r["cover_ties"] == list(range(40, 0, -1))
    assert r["cover_curve"] == [k / 41 for k in range(1, 41)]
    assert r["top36_upper_bound"] == 36 / 41
    h = r["top36_histograms"]
    assert h["k"] == 36 and sum(map(sum, h["location"])) == 36
    assert h["location"] == [[5, 5, 5], [5, 4, 4], [4, 4, 0]]    # r2c2's four picks come last
    assert h["scale"] == {128: 8, 224: 8, 256: 8, 512: 8, 1024: 4}
    # the paper's per-anchor bound uses the whole cover: picks 37-40 (scale 1024, r0c0-r1c0) count
    cover_map = np.array(r["per_anchor_cover"]) * 41
    assert cover_map.tolist() == [[5, 5, 5], [5, 4, 4], [4, 4, 4]]


def test_disentangle_zoom_in_zoom_out_and_crop_scale():
    c = matrix({"in": ["s512-r0c0"], "in2": ["s256-r1c1"], "out": ["s128-r2c2"], "at": ["s224-r1c1"],
                "in+out": ["s128-r0c0", "s512-r0c0"], "none": []})
    d = A.disentangle(c, GRID)
    n = 6
    assert d["zoom_in"] == {"scales": [256, 512], "upper_bound": 3 / n, "exclusive": 2 / n}
    assert d["zoom_out"] == {"scales": [128], "upper_bound": 2 / n, "exclusive": 1 / n}
    assert d["crop_scale"] == {"scales": [224], "upper_bound": 1 / n, "exclusive": 1 / n}


# Cover: s128-r0c0 (a, b, c), then s512-r2c2 (d, e beat s256-r1c1's d alone); s256-r1c1 and
# s224-r1c1 solve images the cover already has, so they are not in it.
COVERED = {"a": ["s128-r0c0", "s256-r1c1"], "b": ["s128-r0c0"], "c": ["s128-r0c0", "s224-r1c1"],
           "d": ["s512-r2c2", "s256-r1c1"], "e": ["s512-r2c2"], "never": []}


def test_per_anchor_cover_counts_the_cover_transforms_only():
    c = matrix(COVERED)
    cover = A.min_cover(c)
    assert [c.zooms[j].id for j in cover.picks] == ["s128-r0c0", "s512-r2c2"]
    every = np.zeros((3, 3))
    every[0, 0], every[1, 1], every[2, 2] = 3 / 6, 3 / 6, 2 / 6   # centre: a, d (256) and c (224)
    only_cover = every.copy()
    only_cover[1, 1] = 0.0                                        # no pick sits at the centre
    assert np.allclose(A.per_anchor(c, GRID), every)
    assert np.allclose(A.per_anchor_cover(c, GRID, cover), only_cover)
    r = A.analyze(c, GRID)
    assert np.allclose(r["per_anchor"], every) and np.allclose(r["per_anchor_cover"], only_cover)


def test_disentangle_cover_groups_the_cover_transforms_only():
    c = matrix(COVERED)
    n = 6
    r = A.analyze(c, GRID)
    everything, cover = r["disentangle"], r["disentangle_cover"]
    assert everything["zoom_in"] == {"scales": [256, 512], "upper_bound": 3 / n, "exclusive": 2 / n}   # a, d, e; d, e
    assert everything["zoom_out"] == {"scales": [128], "upper_bound": 3 / n, "exclusive": 1 / n}       # a, b, c; b
    assert everything["crop_scale"] == {"scales": [224], "upper_bound": 1 / n, "exclusive": 0.0}       # c
    assert cover["zoom_in"] == {"scales": [512], "upper_bound": 2 / n, "exclusive": 2 / n}             # d, e
    assert cover["zoom_out"] == {"scales": [128], "upper_bound": 3 / n, "exclusive": 3 / n}            # a, b, c
    assert cover["crop_scale"] == {"scales": [], "upper_bound": 0.0, "exclusive": 0.0}
    assert r["partial"] is False and cover["crop"] == 224


def test_per_class_counts_an_image_towards_each_acceptable_label():
    c = matrix({"cat": ["s256-r1c1"], "cat2": ["s512-r0c0"], "dog": [], "both": ["s128-r0c0"]})
    labels = [(281,), (281, 282), (207,), (282,)]
    rows = {r["class"]: r for r in A.per_class(c, GRID, labels)}
    assert rows[281] == {"class": 281, "images": 2, "standard_top1": 0.5, "upper_bound": 1.0}
    assert rows[282] == {"class": 282, "images": 2, "standard_top1": 0.0, "upper_bound": 1.0}
    assert rows[207] == {"class": 207, "images": 1, "standard_top1": 0.0, "upper_bound": 0.0}
    with pytest.raises(ValueError):
        A.per_class(c, GRID, labels[:2])


def test_fixed_by_zoom_picks_the_most_confident_right_transform():
    t = table({"ok": ["s256-r1c1"], "fix": ["s128-r0c0", "s512-r2c2"], "never": []})
    # make s512-r2c2 the more confident fix
    lp = np.array(t.column("label_prob").to_pylist(), dtype=np.float32)
    ids = t.column("image_id").to_pylist()
    zs = [Zoom(s, r, c).id for s, r, c in zip(*(t.column(k).to_pylist() for k in ("scale", "row", "col")))]
    lp[[i for i, (a, b) in enumerate(zip(ids, zs)) if a == "fix" and b == "s512-r2c2"]] = 0.9
    t = t.set_column(t.schema.get_field_index("label_prob"), "label_prob", pa.array(lp, pa.float32()))
    c = A.correctness(t, GRID)
    picks = A.fixed_by_zoom(c, GRID, A.values(t, c, GRID, "label_prob"))
    assert [(c.image_ids[i], c.zooms[j].id) for i, j in picks] == [("fix", "s512-r2c2")]


# -- run folders -----------------------------------------------------------------------------------

def write_run(path: Path, solved: dict[str, list[str]], grid: ZoomGrid = GRID,
              locators: dict[str, str] | None = None, labels: dict[str, list[int]] | None = None) -> Path:
    store = RunStore(path)
    store.open({"model": "hand-built", "weights": None, "grid": grid.to_dict(),
                "data": {"spec": "hand-built"}, "subset": {"name": "none", "classes": 1000}})
    images = pa.Table.from_pylist([
        {"image_id": i, "labels": (labels or {}).get(i, [1]), "origin": "test", "width": 640, "height": 480,
         "locator": (locators or {}).get(i, f"file:{path}/missing/{i}")} for i in solved], schema=IMAGES)
    store.write_part(table(solved, grid), images)
    return path


def test_analyze_writes_json_csvs_and_figures(tmp_path, capsys):
    run = write_run(tmp_path / "run", {"a": ["s512-r2c0"], "b": ["s256-r1c1", "s128-r2c0"], "c": []})
    assert main(["analyze", str(run)]) == 0
    r = json.loads((run / "analysis.json").read_text())
    assert r["n_images"] == 3 and r["standard_top1"] == 1 / 3 and r["upper_bound"] == 2 / 3
    assert r["per_anchor"][2][0] == 2 / 3 and len(r["per_anchor"]) == 3
    # b ties at s256-r1c1 and s128-r2c0: r1c1 is the earlier location
    assert r["min_cover"] == ["s256-r1c1", "s512-r2c0"] and r["cover_curve"] == [1 / 3, 2 / 3]
    # what sweep --order and tta --transforms read back
    assert [z.id for z in A.read_min_cover(str(run / "analysis.json"))] == r["min_cover"]
    (tmp_path / "no-cover.json").write_text(json.dumps({"per_anchor": r["per_anchor"]}))
    for bad, why in [("missing.json", "no such file"), ("no-cover.json", "no min_cover list")]:
        with pytest.raises(ValueError, match=why):
            A.read_min_cover(str(tmp_path / bad))
    with open(run / "analysis" / "per_transform.csv") as f:
        assert len(list(csv.DictReader(f))) == len(GRID)
    with open(run / "analysis" / "per_class.csv") as f:
        assert [row["class"] for row in csv.DictReader(f)] == ["1"]
    for name in ("spatial_bias", "scale_curves", "cover_curve", "top36_histograms"):
        with Image.open(run / "figures" / f"{name}.png") as im:
            assert im.width > 300 and im.height > 300
    # the gallery's image cannot be read back here: it is skipped, not fatal
    assert r["gallery"][0]["image_id"] == "a" and "unreadable" in r["gallery"][0]


@pytest.mark.parametrize("command", ["analyze", "report", "compare"])
def test_bad_run_folders_get_one_line_and_exit_code_2(tmp_path, capsys, command):
    missing = tmp_path / "nope"
    empty = tmp_path / "empty"
    RunStore(empty).open({"model": "x", "grid": GRID.to_dict()})          # run.json, no predictions
    old = write_run(tmp_path / "old", {"a": ["s256-r1c1"]})
    cfg = json.loads((old / "run.json").read_text())
    cfg["format"] = FORMAT_VERSION - 1 if FORMAT_VERSION > 0 else 99
    (old / "run.json").write_text(json.dumps(cfg))
    not_run = tmp_path / "plain"
    not_run.mkdir()
    extra = ["--out", str(tmp_path / "r.html")] if command == "report" else []
    for path, words in ((missing, "no such run folder"), (empty, "incomplete"), (old, "format"),
                        (not_run, "no run.json")):
        capsys.readouterr()
        assert main([command, str(path), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "r.html").exists()


def set_config(run: Path, **changes) -> None:
    """The run as if swept with `changes` to its run.json: its parts carry the new identity."""
    import pyarrow.parquet as pq

    from zoomhard.runs.identity import IDENTITY_META, identity_digest

    cfg = {**json.loads((run / "run.json").read_text()), **changes}
    (run / "run.json").write_text(json.dumps(cfg))
    for part in [*run.glob("predictions/part-*.parquet"), *run.glob("images/part-*.parquet")]:
        t = pq.read_table(part)
        pq.write_table(t.replace_schema_metadata({**t.schema.metadata, IDENTITY_META: identity_digest(cfg).encode()}),
                       part)


def test_compare_table_and_paper_figures(tmp_path, capsys):
    a = write_run(tmp_path / "a", {"x": ["s256-r1c1"], "y": ["s512-r0c0"], "z": []})
    b = write_run(tmp_path / "b", {"x": [], "y": ["s512-r0c0"], "z": ["s128-r0c0"]})
    c = write_run(tmp_path / "c", {"x": [], "y": ["s512-r0c0"], "z": []})
    # the study's ResNet-50 is torchvision's V1 weights; a bare name loads DEFAULT, V2
    set_config(b, model="torchvision:resnet50.IMAGENET1K_V1")
    set_config(c, model="torchvision:resnet50")
    assert main(["compare", str(a), str(b), str(c), "--paper", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    ra, rb, rc = out["runs"]
    assert (ra["crop1"], ra["crop36"], ra["crop_all"]) == (1 / 3, 2 / 3, 2 / 3)
    assert (rb["crop1"], rb["crop36"], rb["crop_all"]) == (0.0, 2 / 3, 2 / 3)
    assert ra["paper"] is None and ra["paper_model"] is None
    assert rb["paper"] == {"model": "ResNet-50", "dataset": "IN", "crop1": 0.7575, "crop36": 0.9446, "crop324": 0.9678}
    assert rb["paper_model"] == "ResNet-50" and rb["paper_note"] == ""
    assert rc["paper"] is None and rc["paper_model"] is None
    assert "torchvision:resnet50.IMAGENET1K_V1" in rc["paper_note"] and "IMAGENET1K_V2" in rc["paper_note"]
    assert len(out["paper"]) == 18
    assert main(["compare", str(a), str(b), "--paper"]) == 0
    text = capsys.readouterr().out
    assert "ResNet-50 IN" in text and "96.78" in text and "33.33" in text


def test_compare_infers_the_papers_column_from_data_and_subset(tmp_path, capsys):
    from zoomhard import labels as L

    a_classes, r_classes = L.subset_indices("imagenet-a"), L.subset_indices("imagenet-r")
    only_a = next(i for i in a_classes if i not in r_classes)
    folder_a = write_run(tmp_path / "a", {"x": ["s256-r1c1"], "y": []}, labels={"x": [only_a], "y": [a_classes[0]]})
    set_config(folder_a, model="torchvision:resnet18", subset={"name": "folders-present", "classes": 200})
    real = write_run(tmp_path / "real", {"x": ["s256-r1c1"]})
    set_config(real, model="torchvision:resnet18", data={"spec": "/val", "real_mode": "real"})
    both = write_run(tmp_path / "both", {"x": ["s256-r1c1"]})
    set_config(both, model="torchvision:resnet18", data={"spec": "/val", "real_mode": "original+real"})
    on = write_run(tmp_path / "on", {"x": ["s256-r1c1"]})
    set_config(on, model="torchvision:resnet18", subset={"name": "objectnet", "classes": 113})
    assert main(["compare", *map(str, (folder_a, real, both, on)), "--paper", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert [r["paper"]["dataset"] for r in rows] == ["IN-A", "ReaL", "IN+ReaL", "ON"]
    assert rows[0]["paper"]["crop1"] == 0.0137  # ResNet-18's IN-A 1-crop figure


def test_objectnet_gets_the_on_column_only_when_scored_as_the_study(tmp_path, capsys):
    """ObjectNet laid out as wnid folders (its 113 representatives) under --subset auto is the
    study's ON; objectnet-groups, or folders of its other mapped classes, get no paper column."""
    from zoomhard import labels as L

    reps = L.subset_indices("objectnet")
    mapped = sorted({i for g in L.objectnet_to_imagenet().values() for i in g} - set(reps))
    only_on = [i for i in reps if i not in L.subset_indices("imagenet-a") and i not in L.subset_indices("imagenet-r")]
    runs = {}
    for name, labels, subset in (("folders", [only_on[0], reps[1]], "folders-present"),
                                 ("groups", [reps[0], reps[1]], "objectnet-groups"),
                                 ("mapped", [only_on[0], mapped[0]], "folders-present")):
        runs[name] = write_run(tmp_path / name, {"x": ["s256-r1c1"], "y": []},
                               labels={"x": [labels[0]], "y": [labels[1]]})
        set_config(runs[name], model="torchvision:resnet18", subset={"name": subset, "classes": 2})
    assert main(["compare", *map(str, runs.values()), "--paper", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert rows[0]["paper"]["dataset"] == "ON" and rows[0]["paper"]["crop1"] is not None
    assert rows[1]["paper"] is None and rows[2]["paper"] is None


# -- real photos ---------------------------------------------------------------------------------

def test_analyze_on_the_samples_sweep(samples_run, capsys):
    assert main(["analyze", str(samples_run)]) == 0
    r = json.loads((samples_run / "analysis.json").read_text())
    summary = json.loads((samples_run / "run.json").read_text())["summary"]
    assert r["n_images"] == 6 and r["n_transforms"] == 324
    assert r["standard_top1"] == summary["standard_top1"] and r["upper_bound"] == summary["upper_bound"]
    assert r["cover_curve"][-1] == r["upper_bound"]
    for v in [r["standard_top1"], r["upper_bound"], *sum(r["per_anchor"], []), *r["per_scale"].values()]:
        assert 0.0 <= v <= 1.0
    # every gallery entry is wrong at the standard crop and right at its best zoom, with both crops cut
    for g in r["gallery"]:
        assert g["standard"]["transform"] == "s256-r1c1" and g["best"]["name"] in g["labels"]
        assert (samples_run / g["best"]["crop"]).is_file()


def planted_folder(folder: Path, canvas: int = 1344) -> None:
    """Each sample photo shrunk into the bottom-left tile of a large gray canvas."""
    from zoomhard.data.samples import SAMPLES, sample_path

    folder.mkdir()
    tile = canvas // 3
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "labels"])
        for image_id, package, rel, labels in SAMPLES:
            photo = Image.open(sample_path(package, rel)).convert("RGB")
            photo.thumbnail((tile, tile), Image.BICUBIC)
            img = Image.new("RGB", (canvas, canvas), (128, 128, 128))
            cx, cy = tile // 2, 2 * tile + tile // 2          # centre of the bottom-left tile
            img.paste(photo, (cx - photo.width // 2, cy - photo.height // 2))
            name = Path(image_id).stem + ".png"
            img.save(folder / name)
            w.writerow([name, " ".join(map(str, labels))])


def test_spatial_bias_peaks_where_the_photos_were_planted(tmp_path, capsys):
    planted_folder(tmp_path / "planted")
    run = tmp_path / "run"
    # at 672 a crop is exactly one tile of the canvas; 896 zooms further in
    assert main(["sweep", "-m", "lite0", "-d", str(tmp_path / "planted"), "-o", str(run),
                 "--scales", "448,672,896", "--no-progress"]) == 0
    assert main(["analyze", str(run), "--gallery", "0"]) == 0
    heat = np.array(json.loads((run / "analysis.json").read_text())["per_anchor"])
    assert np.unravel_index(heat.argmax(), heat.shape) == (2, 0), heat
    assert heat[2, 0] > 0.5 and (np.delete(heat.ravel(), 6) < heat[2, 0]).all(), heat


def test_dictionary_image_ids_read_from_parquet_give_the_same_matrix(tmp_path):
    import pyarrow.parquet as pq

    solved = {"a": ["s512-r2c0"], "b": ["s128-r0c0", "s256-r1c1"], "c": [], "d": ["s224-r1c1"]}
    t = table(solved)
    pq.write_table(t.slice(0, 2 * len(GRID)), tmp_path / "p1.parquet")
    pq.write_table(t.slice(2 * len(GRID)), tmp_path / "p2.parquet")
    parts = [pq.read_table(tmp_path / p, read_dictionary=["image_id"]) for p in ("p1.parquet", "p2.parquet")]
    coded = pa.concat_tables(parts)
    assert pa.types.is_dictionary(coded.schema.field("image_id").type)
    c1, c2 = A.correctness(t, GRID), A.correctness(coded, GRID)
    assert c1.image_ids == c2.image_ids == list(solved)
    assert (c1.matrix == c2.matrix).all() and c2.observed.all()
    assert (A.values(coded, c1, GRID, "label_prob") == A.values(t, c1, GRID, "label_prob")).all()


def test_a_cover_that_starts_with_a_tie_says_so_beside_the_spatial_bias_map(tmp_path):
    """Easy data: every transform is right for every image, so the cover is one transform that
    tied with all others; analysis.json, min_cover.csv and the report say so."""
    every = [z.id for z in GRID]
    run = write_run(tmp_path / "easy", {"a": every, "b": every})
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    r = json.loads((run / "analysis.json").read_text())
    assert r["min_cover"] == ["s128-r0c0"] and r["cover_ties"] == [len(GRID)]
    assert "s128-r0c0,2,36," in (run / "analysis" / "min_cover.csv").read_text()
    assert "first pick, s128-r0c0, tied with 35 other transforms" in out.read_text()
    # no tie, no note
    run2 = write_run(tmp_path / "clear", {"a": ["s512-r2c0"], "b": ["s512-r2c0", "s128-r1c1"]})
    assert main(["report", str(run2), "--out", str(out)]) == 0
    assert json.loads((run2 / "analysis.json").read_text())["cover_ties"] == [1]
    assert "tied with" not in out.read_text()
