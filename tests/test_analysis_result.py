"""analysis.json as a typed Analysis (to_dict / from_dict, earlier versions still read), and the
presenters: every row of report.presenters.PRESENTERS shows up in what analyze, report and
compare write."""

import csv
import html
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from zoomhard.analysis import ANALYSIS_VERSION, TOP_K, Analysis, CoverHistograms, Disentangled
from zoomhard.cli import main
from zoomhard.grid import Zoom, ZoomGrid
from zoomhard.report.load import AnalyzedRun, load_run, read_fresh, summary
from zoomhard.report.presenters import COLUMNS, PRESENTERS
from zoomhard.runs.store import RunStore

# the samples swept by EfficientNet-Lite0 in full and --until-correct, both analysed
from test_partial import swept  # noqa: F401

DATA = Path(__file__).parent / "data"


def test_a_real_analysis_round_trips_through_its_json(swept):
    for run in swept:
        written = json.loads((run / "analysis.json").read_text())
        a = Analysis.from_dict(written)
        assert a.to_dict() == written
        assert Analysis.from_dict(a.to_dict()) == a
        assert a.analysis_version == written["analysis_version"] == ANALYSIS_VERSION and a.top_k == TOP_K
        assert read_fresh(run) == a == summary(run)


def test_the_typed_attributes_are_the_predictions_own(swept):
    full, partial = swept
    a = Analysis.from_dict(json.loads((full / "analysis.json").read_text()))
    p = RunStore(full).predictions(["image_id", "scale", "row", "col", "correct"]).to_pylist()
    right: dict[str, set[Zoom]] = {}
    for r in p:
        right.setdefault(r["image_id"], set())
        if r["correct"]:
            right[r["image_id"]].add(Zoom(r["scale"], r["row"], r["col"]))
    n = len(right)
    assert a.n_images == n == 6 and a.grid == ZoomGrid((128, 256, 512))
    assert a.upper_bound == sum(bool(z) for z in right.values()) / n
    assert a.standard == Zoom(256, 1, 1) and a.standard_top1 == sum(a.standard in z for z in right.values()) / n
    # the cover's picks are Zooms that together solve every solvable image, counted pick by pick
    assert all(isinstance(z, Zoom) for z in a.min_cover) and a.cover_size == len(a.min_cover)
    covered = [sum(any(z in right[i] for z in a.min_cover[:k]) for i in right) for k in range(1, len(a.min_cover) + 1)]
    assert a.cover_curve == [c / n for c in covered] and sum(a.min_cover_new) == covered[-1]
    assert a.top_k_upper_bound == a.top36_upper_bound == covered[min(TOP_K, len(covered)) - 1] / n
    for s in a.grid.scales:
        assert a.per_scale[s] == sum(any(z.scale == s for z in right[i]) for i in right) / n
    assert isinstance(a.disentangle, Disentangled) and a.disentangle.crop == 224 and a.disentangle.crop_scale.scales == []
    assert a.disentangle.zoom_in.scales == [256, 512] and a.disentangle.zoom_out.scales == [128]
    assert a.disentangle.zoom_in.upper_bound == sum(any(z.scale > 224 for z in right[i]) for i in right) / n
    assert isinstance(a.top_k_histograms, CoverHistograms) and sum(a.top_k_histograms.scale.values()) == a.top_k_histograms.k
    assert all(e.best.crop and (full / e.best.crop).is_file() for e in a.gallery)
    # a partial run reads too: its grid-wide figures are None, not a crash
    u = Analysis.from_dict(json.loads((partial / "analysis.json").read_text()))
    assert u.partial and u.min_cover is None and u.per_scale is None and u.top_k_histograms is None
    assert u.upper_bound == a.upper_bound and u.cover_size is None


def test_an_analysis_json_of_the_previous_version_is_still_read():
    """tests/data/analysis_v2*.json: written by version 2 (before top_k) for a hand-built run of
    four images, a partial one of three."""
    old = json.loads((DATA / "analysis_v2.json").read_text())
    assert old["analysis_version"] == 2 and "top_k" not in old
    a = Analysis.from_dict(old)
    assert a.analysis_version == 2 and a.top_k == 36 and a.top_k_upper_bound == 0.75 == a.top36_upper_bound
    assert a.min_cover == [Zoom(512, 2, 0), Zoom(128, 2, 0)] and a.min_cover_new == [2, 1]
    assert a.per_scale == {128: 0.25, 224: 0.25, 256: 0.25, 512: 0.5} and a.standard_top1 == 0.25
    assert a.per_anchor_cover[2][0] == 0.75 and a.disentangle_cover.zoom_in.exclusive == 0.5
    assert a.top_k_histograms.scale == {128: 1, 224: 0, 256: 0, 512: 1} and a.top_k_histograms.location[2][0] == 2
    assert a.gallery[0].image_id == "a" and a.gallery[0].unreadable == "file not found" and a.gallery[0].best.crop is None
    assert a.figures["spatial_bias"] == "figures/spatial_bias.png" and a.extra == {}
    # nothing lost: the same keys, the k they are named by, and what later versions added as null
    assert a.to_dict() == {**old, "top_k": 36, "cover_ties": None, "chance_upper_bound": None, "chance_per_anchor": None,
                           "distinct_top1": None, "confidence": None}
    partial = Analysis.from_dict(json.loads((DATA / "analysis_v2_partial.json").read_text()))
    assert partial.partial and partial.evaluated == pytest.approx(73 / 108) and partial.min_cover is None
    assert partial.top_k_upper_bound is None and partial.standard_top1 == 1 / 3
    # version 1 had no partial runs, no evaluated share and no cover-only maps
    v1 = {k: v for k, v in old.items() if k not in ("partial", "evaluated", "per_anchor_cover", "disentangle_cover")}
    a1 = Analysis.from_dict({**v1, "analysis_version": 1})
    assert a1.partial is False and a1.evaluated == 1.0 and a1.per_anchor_cover is None and a1.disentangle_cover is None
    assert a1.top36_upper_bound == 0.75 and a1.cover_size == 2
    # keys of a newer version are kept, and read as attributes
    newer = Analysis.from_dict({**old, "analysis_version": ANALYSIS_VERSION + 1, "sharpness": [0.5]})
    assert newer.sharpness == [0.5] and newer.to_dict()["sharpness"] == [0.5]
    with pytest.raises(AttributeError):
        newer.top10_upper_bound


def test_a_previous_versions_file_in_a_run_is_analysed_again(swept, tmp_path):
    full, _ = swept
    fresh = json.loads((full / "analysis.json").read_text())
    stale = tmp_path / "stale"
    shutil.copytree(full, stale, ignore=shutil.ignore_patterns("*.lock", ".lock"))
    doc = {k: v for k, v in fresh.items() if k != "top_k"}
    (stale / "analysis.json").write_text(json.dumps({**doc, "analysis_version": 2}))
    assert read_fresh(stale) is None                     # not this version's: recomputed, not trusted
    again = {k: v for k, v in fresh.items() if k not in ("figures", "gallery")}
    assert summary(stale).to_dict() == {**again, "run": str(stale)}


def _csv_header(path: Path) -> list[str]:
    with open(path) as f:
        return next(csv.reader(f))


def test_every_presenter_shows_up_in_analyze_report_and_compare(swept, tmp_path, capsys):
    full, partial = swept
    page_file = tmp_path / "report.html"
    assert main(["report", str(full), str(partial), "--out", str(page_file)]) == 0
    page = page_file.read_text()
    summary_table = page.split("<table class='summary'>")[1].split("</table>")[0]
    full_section = page.split("<section class='run' id='run-0'>")[1].split("</section>")[0]
    partial_section = page.split("<section class='run' id='run-1'>")[1].split("</section>")[0]
    capsys.readouterr()
    assert main(["compare", str(full), str(partial), "--json"]) == 0
    compared = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    a, u = summary(full), summary(partial)
    analyzed = AnalyzedRun(load_run(full), a)
    assert len({p.name for p in PRESENTERS}) == len(PRESENTERS)
    for p in PRESENTERS:
        # a row must show something of a full run: a CSV, a figure, a section or a summary column
        outputs = [p.table and (full / "analysis" / p.csv).is_file(), p.figure and p.figure.key in a.figures,
                   p.section and p.section(analyzed) in full_section and p.section(analyzed), bool(p.columns)]
        assert any(outputs), p.name
        if p.table:
            csv_file = full / "analysis" / p.csv
            assert csv_file.is_file() and _csv_header(csv_file) == p.table(analyzed.run, a)[0], p.name
            assert (partial / "analysis" / p.csv).is_file() != p.grid_wide, p.name
        if p.figure:
            assert a.figures.get(p.figure.key) == p.figure.path and (full / p.figure.path).is_file(), p.name
            assert (p.figure.key in u.figures) == (partial / p.figure.path).is_file()
            if p.grid_wide:
                assert p.figure.key not in u.figures and not (partial / p.figure.path).exists(), p.name
            if p.figure.caption:
                assert f"alt='{p.figure.key.replace('_', ' ')}'><figcaption>{html.escape(p.figure.caption)}" in full_section
        if p.section:
            shown = p.section(analyzed)
            assert shown in full_section, p.name
            if p.grid_wide and shown:
                assert shown not in partial_section, p.name
        for c in p.columns:
            assert f"<th>{html.escape(c.head)}</th>" in summary_table, c.key
            assert compared[str(full)][c.key] == c.value(a) is not None, c.key
            assert compared[str(partial)][c.key] == c.value(u), c.key
            if p.grid_wide:
                assert c.value(u) is None, c.key
    assert [c.key for c in COLUMNS][:4] == ["crop1", f"crop{TOP_K}", "min_cover", "crop_all"]
    # the headline figures are the analysis's own
    row = compared[str(full)]
    assert (row["crop1"], row[f"crop{TOP_K}"], row["crop_all"]) == (a.standard_top1, a.top_k_upper_bound, a.upper_bound)
    assert row["min_cover"] == len(a.min_cover) and row["zoom_in"] == a.disentangle.zoom_in.upper_bound
    assert np.isclose(row["unsolved"], 1 - a.upper_bound)
