"""Runs that are not full sweeps (--until-correct): their analysis keeps only what stays exact,
and analyze, report and compare show only that."""

import json

import pyarrow as pa
import pytest

from zoomhard import analysis as A
from zoomhard.cli import main
from zoomhard.grid import ZoomGrid
from zoomhard.runs.store import IMAGES, PREDICTIONS, RunStore

SCALES = "128,256,512"
GRID_WIDE = ("min_cover", "min_cover_new", "cover_curve", "top36_upper_bound", "top36_histograms", "per_anchor",
             "per_anchor_cover", "per_scale", "center_per_scale", "disentangle", "disentangle_cover")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """The samples swept in full and --until-correct over the same small grid, both analysed."""
    root = tmp_path_factory.mktemp("partial")
    full, partial = root / "full", root / "uc"
    for out, extra in ((full, []), (partial, ["--until-correct"])):
        assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--scales", SCALES,
                     "--no-progress", *extra]) == 0
        assert main(["analyze", str(out)]) == 0
    return full, partial


def test_an_until_correct_analysis_keeps_the_exact_figures_and_nulls_the_rest(swept, capsys):
    full, partial = swept
    f = json.loads((full / "analysis.json").read_text())
    p = json.loads((partial / "analysis.json").read_text())
    assert f["partial"] is False and p["partial"] is True
    assert 0 < p["evaluated"] < 1 and f["evaluated"] == 1.0
    # exact: the upper bound, the share unsolved, and the standard crop (the default order tries it first)
    assert p["upper_bound"] == f["upper_bound"] and p["unsolved"] == f["unsolved"]
    assert p["standard_top1"] == f["standard_top1"] is not None
    assert p["n_images"] == f["n_images"] == 6 and p["n_transforms"] == f["n_transforms"] == 27
    for key in GRID_WIDE:
        assert p[key] is None, key
        assert f[key] is not None, key
    # no figure or table that needs the whole grid; the gallery's pairs are still true
    assert set(p["figures"]) <= {"gallery"}
    assert not (partial / "figures" / "spatial_bias.png").exists()
    assert sorted(x.name for x in (partial / "analysis").glob("*.csv")) == ["per_class.csv", "per_image.csv"]
    for g in p["gallery"]:
        assert g["best"]["name"] in g["labels"] and g["standard"]["name"] not in g["labels"]
    capsys.readouterr()
    assert main(["analyze", str(partial)]) == 0
    line = capsys.readouterr().out
    assert "partial run" in line and f"upper bound {f['upper_bound']:.2%}" in line and "only the upper bound" in line
    with pytest.raises(ValueError, match="partial run"):
        A.read_min_cover(str(partial / "analysis.json"))


def test_report_and_compare_of_a_partial_run_show_only_what_it_has(swept, tmp_path, capsys):
    full, partial = swept
    out = tmp_path / "report.html"
    assert main(["report", str(full), str(partial), "--out", str(out)]) == 0
    page = out.read_text()
    full_part, partial_part = page.split("<section class='run' id='run-1'>")[0], page.split("<section class='run' id='run-1'>")[1]
    assert "only the upper bound" in partial_part and "alt='spatial bias'" not in partial_part.split("id='explorer'")[0]
    assert "alt='spatial bias'" in full_part and "greedy cover" in full_part
    assert "zoom-in only" not in partial_part.split("id='explorer'")[0]
    capsys.readouterr()
    assert main(["compare", str(full), str(partial), "--json"]) == 0
    rows = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    p, f = rows[str(partial)], rows[str(full)]
    assert p["partial"] is True and f["partial"] is False
    assert p["crop36"] is None and p["min_cover"] is None and p["crop_all"] == f["crop_all"]
    assert main(["compare", str(full), str(partial)]) == 0
    text = capsys.readouterr().out
    assert f"partial run (--until-correct): {partial}" in text


def test_a_partial_run_without_the_standard_crop_has_no_standard_top1(tmp_path):
    """Images the order solved before reaching the standard crop: its top-1 is unknown, not wrong."""
    grid = ZoomGrid((128, 256))
    tried = {"a": ["s128-r0c0"], "b": ["s128-r0c0", "s256-r1c1"]}   # a stopped at its first, right transform
    right = {"a": {"s128-r0c0"}, "b": {"s256-r1c1"}}
    rows = [{"image_id": i, "scale": int(t[1:4]), "row": int(t[6]), "col": int(t[8]), "top1": 1,
             "correct": t in right[i], "top5": [1, 2, 3, 4, 5], "top5_prob": [0.5] * 5, "label_prob": 0.5}
            for i, ts in tried.items() for t in ts]
    c = A.correctness(pa.Table.from_pylist(rows, schema=PREDICTIONS), grid)
    r = A.analyze(c, grid)
    assert r["partial"] is True and r["standard_top1"] is None and r["upper_bound"] == 1.0
    assert r["evaluated"] == 3 / 36
    # a run folder of it: the CSVs leave the unknown standard crop blank, and nothing crashes
    run = tmp_path / "run"
    store = RunStore(run)
    store.open({"model": "hand-built", "weights": None, "grid": grid.to_dict(), "data": {"spec": "hand-built"},
                "subset": {"name": "none", "classes": 1000}, "mode": "until-correct"})
    store.write_part(pa.Table.from_pylist(rows, schema=PREDICTIONS), pa.Table.from_pylist(
        [{"image_id": i, "labels": [1], "origin": "test", "width": 9, "height": 9, "locator": f"file:{run}/x/{i}"}
         for i in tried], schema=IMAGES))
    assert main(["analyze", str(run), "--gallery", "0"]) == 0
    per_image = (run / "analysis" / "per_image.csv").read_text().splitlines()
    assert per_image[1:] == ["a,1,test,,,1", "b,1,test,1,,1"]
    assert ",2,,1.000000" in (run / "analysis" / "per_class.csv").read_text()
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    assert "not evaluated for every image" in (tmp_path / "r.html").read_text()
