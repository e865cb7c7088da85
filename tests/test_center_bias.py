"""The paper's spatial-bias figures (resources/center_bias_resnet50.csv) appear beside a run of
the study's ResNet-50 on ImageNet-A or ObjectNet over the study's grid, and beside no other."""

import csv
import json
from pathlib import Path

import pyarrow as pa

from zoomhard import labels as L
from zoomhard.cli import main
from zoomhard.grid import ZoomGrid
from zoomhard.report.center_bias import matching_figures, paper_center_bias
from zoomhard.runs.store import IMAGES, PREDICTIONS, RunStore

STUDY = ZoomGrid()
V1 = "torchvision:resnet50.IMAGENET1K_V1"
# an ObjectNet representative class in neither ImageNet-A's nor -R's 200
ON_ONLY = next(i for i in L.subset_indices("objectnet")
               if i not in L.subset_indices("imagenet-a") and i not in L.subset_indices("imagenet-r"))


def run_folder(path: Path, model: str, subset: str, grid: ZoomGrid = STUDY, label: int = 1, **weights) -> Path:
    """Two images over the grid: one right at s256-r1c1 only, one at s512-r0c2 only."""
    store = RunStore(path)
    store.open({"model": model, "weights": None, "grid": grid.to_dict(), "data": {"spec": "hand-built"},
                "subset": {"name": subset, "classes": 200}, **weights})
    right = {"x": "s256-r1c1", "y": "s512-r0c2"}
    rows = [{"image_id": i, "scale": z.scale, "row": z.row, "col": z.col, "top1": 1, "correct": z.id == t,
             "top5": [1, 2, 3, 4, 5], "top5_prob": [0.5] * 5, "label_prob": 0.5} for i, t in right.items() for z in grid]
    store.write_part(pa.Table.from_pylist(rows, schema=PREDICTIONS), pa.Table.from_pylist(
        [{"image_id": i, "labels": [label], "origin": "test", "width": 9, "height": 9, "locator": f"file:{path}/x/{i}"}
         for i in right], schema=IMAGES))
    return path


def test_the_packaged_figures_are_the_papers_csv():
    packaged = Path(__file__).resolve().parents[1] / "src/zoomhard/resources/center_bias_resnet50.csv"
    with open(packaged) as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    maps = paper_center_bias()
    assert set(maps) == {"IN-A", "ON"}
    for r in rows:
        assert [round(v * 100, 2) for v in maps[r["dataset"]][int(r["row"])]] == [float(r[f"col{k}"]) for k in range(3)]
    assert maps["IN-A"][1][1] == 0.4649 and maps["ON"][0] == [0.4681, 0.4796, 0.4685]   # row 0 = the image's top


def test_paper_figures_beside_a_matching_run_and_no_other(tmp_path):
    runs = {
        "v1-a": run_folder(tmp_path / "v1-a", V1, "imagenet-a"),
        "v1-on": run_folder(tmp_path / "v1-on", V1, "objectnet"),
        # ObjectNet as wnid folders of its representatives, under --subset auto: the study's ON
        "v1-on-folders": run_folder(tmp_path / "v1-on-folders", V1, "folders-present", label=ON_ONLY),
        "v1-on-groups": run_folder(tmp_path / "v1-on-groups", V1, "objectnet-groups"),
        # a local state dict recorded as the V1 weights is the study's network; without the tag it is not
        "file-v1-a": run_folder(tmp_path / "file-v1-a", "torchvision:resnet50", "imagenet-a",
                                weights="/weights/r50.pth", weights_tag="IMAGENET1K_V1"),
        "file-a": run_folder(tmp_path / "file-a", "torchvision:resnet50", "imagenet-a", weights="/weights/r50.pth"),
        "default-a": run_folder(tmp_path / "default-a", "torchvision:resnet50", "imagenet-a"),
        "v1-in": run_folder(tmp_path / "v1-in", V1, "none"),
        "v1-a-small-grid": run_folder(tmp_path / "v1-a-small-grid", V1, "imagenet-a", ZoomGrid((128, 256, 512))),
    }
    out = tmp_path / "report.html"
    assert main(["report", *map(str, runs.values()), "--out", str(out)]) == 0
    page = out.read_text().split("id='explorer'")[0]
    sections = dict(zip(runs, page.split("<section class='run' id='run-")[1:]))
    assert "Spatial bias beside the paper (ResNet-50, IN-A" in sections["v1-a"]
    assert "46.49%" in sections["v1-a"] and "visibility" in sections["v1-a"] and "not expected to match" in sections["v1-a"]
    assert "Spatial bias beside the paper (ResNet-50, ON" in sections["v1-on"] and "69.30%" in sections["v1-on"]
    assert "Spatial bias beside the paper (ResNet-50, ON" in sections["v1-on-folders"]
    assert "Spatial bias beside the paper (ResNet-50, IN-A" in sections["file-v1-a"]
    for other in ("default-a", "file-a", "v1-in", "v1-a-small-grid", "v1-on-groups"):
        assert "beside the paper" not in sections[other], other
    # the run's own cover map beside the paper's: y is solved at the top-right anchor only
    r = json.loads((runs["v1-a"] / "analysis.json").read_text())
    assert r["per_anchor_cover"] == [[0, 0, 0.5], [0, 0.5, 0], [0, 0, 0]]
    assert matching_figures(r, json.loads((runs["v1-a"] / "run.json").read_text()))["per_anchor"] == paper_center_bias()["IN-A"]
    assert matching_figures({**r, "partial": True, "per_anchor_cover": None}, {"model": V1}) is None
