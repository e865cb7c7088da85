"""Every figure with its chance level and interval where it is shown, and runs over the same
images compared pairwise: compare's chance column and exact McNemar tests, the report's chance
beside the upper bound, bench's top1_ci, reproduce's zoom table."""

import json

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import binomtest

from zoomhard.cli import main
from zoomhard.grid import ZoomGrid
from zoomhard.report.compare import compare_rows
from zoomhard.runs.store import IMAGES, PREDICTIONS, RunStore

GRID = ZoomGrid((128, 256))


def hand_run(path, correct: np.ndarray, labels: list[int], ids: list[str] | None = None):
    """A run whose image i is right exactly where correct[i] is; a wrong cell predicts a class
    no image has."""
    store = RunStore(path)
    store.open({"model": "hand-built", "weights": None, "grid": GRID.to_dict(), "data": {"spec": "hand"},
                "subset": {"name": "none", "classes": 1000}})
    ids = ids or [f"im{i:03d}" for i in range(len(labels))]
    preds, images = [], []
    for i, (image_id, label) in enumerate(zip(ids, labels)):
        for k, z in enumerate(GRID):
            top1 = label if correct[i, k] else 900 + k
            preds.append({"image_id": image_id, "scale": z.scale, "row": z.row, "col": z.col, "top1": top1,
                          "correct": bool(correct[i, k]), "top5": [top1, 1, 2, 3, 4],
                          "top5_prob": [0.6, 0.1, 0.1, 0.1, 0.1], "label_prob": 0.5})
        images.append({"image_id": image_id, "labels": [label], "origin": "", "width": 1, "height": 1,
                       "locator": ""})
    store.write_part(pa.Table.from_pylist(preds, schema=PREDICTIONS), pa.Table.from_pylist(images, schema=IMAGES))
    return path


@pytest.fixture
def two_runs(tmp_path):
    """Runs over the same 40 images (listed in another order): the second gets 9 standard crops
    right that the first gets wrong and loses 2; its upper bound gains 12 and loses 0."""
    n = len(GRID)
    std = list(GRID).index(GRID.standard)
    labels = [i % 7 for i in range(40)]
    a = np.zeros((40, n), bool)
    a[:20, std] = True             # first: 20 standard crops right
    a[:25, 0] = True               # first: 25 solved
    b = a.copy()
    b[:2, std] = False             # second: loses 2 ...
    b[20:29, std] = True           # ... gains 9
    b[25:37, 1] = True             # solved: gains 12
    first = hand_run(tmp_path / "a", a, labels)
    order = np.arange(40)[::-1]
    second = hand_run(tmp_path / "b", b[order], [labels[i] for i in order], [f"im{i:03d}" for i in order])
    return first, second


def test_compare_pairs_runs_over_the_same_images_with_exact_mcnemar(two_runs, capsys):
    first, second = two_runs
    rows = compare_rows([str(first), str(second)])
    assert "paired" not in rows[0]
    t = rows[1]["paired"]
    assert t["against"] == str(first)
    assert (t["crop1"]["gained"], t["crop1"]["lost"]) == (9, 2)
    assert t["crop1"]["p_value"] == pytest.approx(binomtest(2, 11, 0.5).pvalue)
    assert (t["crop_all"]["gained"], t["crop_all"]["lost"]) == (12, 0)
    assert t["crop_all"]["p_value"] == pytest.approx(binomtest(0, 12, 0.5).pvalue)
    for r in rows:
        assert 0 <= r["chance"] <= r["crop_all"]
        lo, hi = r["confidence"]["upper_bound"]
        assert lo <= r["crop_all"] <= hi
    assert main(["compare", str(first), str(second)]) == 0
    out = capsys.readouterr().out
    assert "chance" in out.splitlines()[0]
    assert f"{second}: 1-crop +9/-2 p=" in out and "all-crop +12/-0 p=" in out


def test_compare_does_not_pair_runs_over_other_images(two_runs, tmp_path):
    first, _ = two_runs
    other = hand_run(tmp_path / "c", np.ones((3, len(GRID)), bool), [1, 2, 3])
    rows = compare_rows([str(first), str(other)])
    assert rows[1]["paired"] is None


def test_the_chance_column_is_the_exact_chance_level(tmp_path):
    """Every image has the same label and every framing names it: the upper bound is all chance."""
    run = hand_run(tmp_path / "same", np.ones((5, len(GRID)), bool), [3] * 5)
    row = compare_rows([str(run)])[0]
    assert row["crop_all"] == row["chance"] == 1.0


def test_the_report_sets_chance_and_intervals_beside_the_upper_bound(two_runs, tmp_path):
    from zoomhard.report.html import write_report

    first, _ = two_runs
    page = write_report([str(first)], tmp_path / "r.html").read_text()
    a = json.loads((first / "analysis.json").read_text())
    assert f"Chance level of the upper bound: <b>{a['chance_upper_bound']:.2%}</b>" in page
    lo, hi = a["confidence"]["upper_bound"]
    assert f"[{lo:.1%}, {hi:.1%}]" in page
    header = (first / "analysis" / "per_anchor.csv").read_text().splitlines()[0]
    assert header.endswith("upper_bound_lo,upper_bound_hi,chance")


def test_bench_json_has_a_top1_interval(capsys):
    assert main(["bench", "-m", "lite0", "-d", "samples", "--no-progress", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    lo, hi = s["top1_ci"]
    assert 0 <= lo <= s["top1"] <= hi <= 1 and hi > lo
    assert main(["bench", "-m", "lite0", "-d", "samples", "--no-progress"]) == 0
    assert f"[{lo:.1%}, {hi:.1%}]" in capsys.readouterr().out
