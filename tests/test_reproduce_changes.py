"""reproduce notices what changed: a cell whose input file changed in place, or whose grid
changed in the study file, runs again instead of being skipped or refused."""

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from zoomhard.cli import main
from zoomhard.data.samples import SAMPLES, sample_path

STUDY = """
name = "changes"
[models.lite0]
spec = "lite0"
[datasets.photos]
data = "photos"
[[experiments]]
kind = "{kind}"
{extra}
"""


def photos(tmp_path: Path, labels: dict[str, int] | None = None) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir(exist_ok=True)
    rows = ["image,labels"]
    for image_id, package, rel, lab in SAMPLES[:3]:
        name = f"{image_id}.png"
        if not (folder / name).exists():
            shutil.copy(sample_path(package, rel), folder / name)
        rows.append(f"{name},{(labels or {}).get(name, lab[0])}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def reproduce(tmp_path: Path, capsys, kind: str, extra: str = "") -> str:
    study = tmp_path / "s.toml"
    study.write_text(STUDY.format(kind=kind, extra=extra))
    assert main(["reproduce", str(study), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    said = capsys.readouterr()
    return said.out + said.err


def test_a_bench_cell_whose_labels_changed_in_place_runs_again(tmp_path, capsys):
    photos(tmp_path)
    assert "1 ran, 0 done before" in reproduce(tmp_path, capsys, "bench")
    result = tmp_path / "out" / "runs" / "bench" / "lite0" / "photos" / "result.json"
    first = json.loads(result.read_text())
    assert "0 ran, 1 done before" in reproduce(tmp_path, capsys, "bench")
    photos(tmp_path, {f"{SAMPLES[0][0]}.png": 999})      # one label edited, same file name
    assert "1 ran, 0 done before" in reproduce(tmp_path, capsys, "bench")
    again = json.loads(result.read_text())
    assert again["top1"] <= first["top1"] and again != first


def test_a_zoom_cell_whose_grid_changed_runs_again_keeping_the_old_run_aside(tmp_path, capsys):
    photos(tmp_path)
    cell = tmp_path / "out" / "runs" / "zoom" / "lite0" / "photos"
    reproduce(tmp_path, capsys, "zoom", 'scales = "256"')
    assert json.loads((cell / "run.json").read_text())["grid"]["scales"] == [256]
    said = reproduce(tmp_path, capsys, "zoom", 'scales = "224,256"')
    assert "1 ran, 0 done before, 0 failed" in said
    assert json.loads((cell / "run.json").read_text())["grid"]["scales"] == [224, 256]
    aside = [p for p in cell.parent.iterdir() if p.name.startswith("photos.replaced-")]
    assert len(aside) == 1 and str(aside[0]) in said
    assert json.loads((aside[0] / "run.json").read_text())["grid"]["scales"] == [256]


def test_a_zoom_cell_whose_labels_changed_in_place_runs_again(tmp_path, capsys):
    photos(tmp_path)
    cell = tmp_path / "out" / "runs" / "zoom" / "lite0" / "photos"
    reproduce(tmp_path, capsys, "zoom", 'scales = "256"')
    photos(tmp_path, {f"{SAMPLES[0][0]}.png": 999})
    assert "1 ran, 0 done before, 0 failed" in reproduce(tmp_path, capsys, "zoom", 'scales = "256"')
    labels = {r["image_id"]: r["labels"] for f in (cell / "images").glob("part-*.parquet")
              for r in pq.read_table(f).to_pylist()}
    assert labels[f"{SAMPLES[0][0]}.png"] == [999]
