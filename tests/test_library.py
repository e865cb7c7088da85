"""zoomhard as a library: sweep a torch module or a list of images from Python, read the Run."""

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from PIL import Image

import zoomhard as zh
from zoomhard import labels as L
from zoomhard.cli import main
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.library import ModelArgumentError, option_names

SCALES = "224,256"
KEYS = ["image_id", "scale", "row", "col"]


@pytest.fixture(scope="module")
def lite0():
    from zoomhard.models import load_model

    module, pre = load_model("lite0")
    return module, pre.mean, pre.std


def _sample_entries() -> list:
    """The samples as a user would hand them over: paths, PIL images and bytes, labels given
    as indices, wnids and class names (each resolving to the samples' own label sets)."""
    names = {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"}
    out = []
    for k, (image_id, package, rel, labels) in enumerate(SAMPLES):
        path = sample_path(package, rel)
        if k % 3 == 0:
            image = path
            given = [names.get(i, i) for i in labels]
        elif k % 3 == 1:
            image = Image.open(path)
            given = [L.wnids()[i] for i in labels]
        else:
            image = path.read_bytes()
            given = labels[0] if len(labels) == 1 else list(labels)
        out.append((image, given, image_id))
    return out


def _table(run_or_path):
    table = run_or_path.predictions if isinstance(run_or_path, zh.Run) else zh.open_run(run_or_path).predictions
    return table.sort_by([(k, "ascending") for k in KEYS])


def test_module_sweep_equals_the_command_line_transform_for_transform(lite0, tmp_path, capsys):
    module, mean, std = lite0
    cli_out = tmp_path / "cli"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(cli_out), "--scales", SCALES,
                 "--backend", "torch", "--no-progress"]) == 0
    module.train()
    run = zh.sweep(module, _sample_entries(), scales=SCALES, mean=mean, std=std, backend="torch", progress=False)
    a, b = _table(cli_out), _table(run)
    assert len(a) == len(b) == len(SAMPLES) * 18
    for col in KEYS + ["top1", "correct", "top5"]:
        assert a.column(col).to_pylist() == b.column(col).to_pylist(), col
    np.testing.assert_allclose(b.column("label_prob").to_numpy(), a.column("label_prob").to_numpy(), atol=1e-5)
    # the labels given as names, wnids and indices are the samples' own
    images = {r["image_id"]: tuple(r["labels"]) for r in run.images.to_pylist()}
    assert images == {image_id: labels for image_id, _, _, labels in SAMPLES}
    assert run.summary == {**zh.open_run(cli_out).summary}
    assert module.training      # handed back in the mode it came in (train, below)
    assert run.errors == {}


def test_in_memory_and_folder_runs_give_the_same_analysis(tmp_path, capsys):
    data = _sample_entries()[:4]
    memory = zh.sweep("lite0", data, scales=SCALES, progress=False)
    folder = tmp_path / "run"
    on_disk = zh.sweep("lite0", data, scales=SCALES, out=folder, progress=False)
    assert memory.path.is_dir() and folder.is_dir() and on_disk.path == folder

    def comparable(a: zh.Analysis) -> dict:
        return {k: v for k, v in a.to_dict().items() if k not in ("run", "fingerprint")}

    am, af = memory.analyze(), on_disk.analyze()
    assert comparable(am) == comparable(af)
    # the typed analysis is analysis.json's: the command line's analyze of the folder agrees
    assert main(["analyze", str(folder)]) == 0
    written = json.loads((folder / "analysis.json").read_text())
    assert af.to_dict() == {k: v for k, v in written.items() if k not in ("figures", "gallery")}
    assert isinstance(af.min_cover[0], zh.Zoom) and af.min_cover == [zh.Zoom.parse(z) for z in written["min_cover"]]
    assert af.standard == zh.Zoom(256, 1, 1) and af.per_scale[256] == written["per_scale"]["256"]
    assert np.asarray(af.per_anchor).shape == (3, 3)
    # open_run reads the same folder; sweeping it again resumes with nothing left to do
    again = zh.sweep("lite0", data, scales=SCALES, out=folder, progress=False)
    assert _table(again).equals(_table(zh.open_run(folder)))
    assert len(again.config["sessions"]) == 2 and again.config["sessions"][-1]["images"] == 0
    df = memory.to_pandas()
    assert len(df) == 4 * 18 and set(df["transform"]) == {z.id for z in memory.grid}
    assert memory.report(tmp_path / "r.html").stat().st_size > 10_000
    path = memory.path
    del memory
    import gc

    gc.collect()
    assert not path.exists()   # an in-memory run leaves nothing behind


def test_every_command_line_sweep_option_is_a_keyword():
    from zoomhard.cli import sweep as sweep_command

    cli_names = {p.name for p in sweep_command.params} - {"model", "data", "out", "as_json"}
    assert cli_names <= set(option_names()), cli_names - set(option_names())
    with pytest.raises(TypeError, match=r"unknown keyword\(s\) batchsize; valid: .*batch_size"):
        zh.sweep("lite0", "samples", batchsize=8)


def test_unreadable_images_are_recorded_like_the_command_line(tmp_path, capsys):
    good = sample_path("skimage", "data/coffee.png")
    run = zh.sweep("lite0", [(good, "espresso"), (b"not an image", 281), (tmp_path / "missing.jpg", 281)],
                   scales="256", progress=False)
    assert run.summary["images"] == 1 and run.summary["unreadable"] == 2
    assert set(run.errors) == {"1", "2"}
    assert "not an image" in run.errors["1"] and "not found" in run.errors["2"]
    assert pc.unique(run.predictions.column("image_id")).to_pylist() == ["0"]


def test_bad_arguments_get_one_clear_error(lite0):
    module, mean, std = lite0
    photo = sample_path("skimage", "data/coffee.png")
    with pytest.raises(ModelArgumentError, match=r"pass mean= and std="):
        zh.sweep(module, [(photo, 967)], scales="256")
    with pytest.raises(TypeError, match=r"pixel units"):
        zh.sweep(module, [(photo, 967)], scales="256", mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4))
    with pytest.raises(ValueError, match=r"'espreso' is not an ImageNet-1k class name; close: espresso"):
        zh.sweep("lite0", [(photo, "espreso")], scales="256")
    with pytest.raises(ValueError, match=r"'crane' names 2 classes"):
        zh.sweep("lite0", [(photo, "crane")], scales="256")
    with pytest.raises(TypeError, match=r"give a PIL image, a path or the encoded bytes"):
        zh.sweep("lite0", [(np.zeros((4, 4, 3)), 967)], scales="256")
    with pytest.raises(ValueError, match=r"given twice"):
        zh.sweep("lite0", [(photo, 967, "a"), (photo, 967, "a")], scales="256")
    with pytest.raises(TypeError, match=r"give a spec string"):
        zh.sweep(object(), "samples")
    with pytest.raises(Exception, match=r"cannot classify 224x224 crops"):
        import torch

        zh.sweep(torch.nn.Linear(3, 1000), [(photo, 967)], scales="256", mean=mean, std=std)


def test_public_names():
    assert set(zh.__all__) == {"Analysis", "Run", "Zoom", "ZoomGrid", "ZoomTTA", "ZoomhardError", "open_run", "sweep"}
    for name in zh.__all__:
        assert getattr(zh, name).__doc__, name
