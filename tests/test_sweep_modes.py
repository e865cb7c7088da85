"""--until-correct, device-side resizing, sharding and the GPU code paths."""

import json

import numpy as np
import pytest
import torch

from badimages import sample
from zoomhard import analysis
from zoomhard.cli import main
from zoomhard.grid import Zoom, ZoomGrid
from zoomhard.models.backends import TorchClassifier
from zoomhard.models.base import Preprocess
from zoomhard.runs.store import RunStore
from zoomhard.sweep import default_order

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def per_image(store: RunStore) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in store.predictions(["image_id", "scale", "row", "col", "correct"]).to_pylist():
        out.setdefault(r["image_id"], []).append(r)
    return out


def test_until_correct_finds_the_full_sweeps_upper_bound(samples_run, tmp_path, capsys):
    out = tmp_path / "uc"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--until-correct", "--no-progress",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    full = json.loads((samples_run / "run.json").read_text())["summary"]
    assert summary["upper_bound"] == full["upper_bound"]
    assert summary["standard_top1"] == full["standard_top1"]  # the standard crop goes first
    assert summary["evaluated"] < 0.1
    # each image stops in the first stage that holds a correct transform
    for rows in per_image(RunStore(out)).values():
        assert len(rows) in (1, 9, 36, 108, 324)
        assert any(r["correct"] for r in rows)


def test_until_correct_tries_everything_on_an_unsolvable_image(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    sample("chelsea.png").save(folder / "cat.png")
    (folder / "labels.csv").write_text("image,labels\ncat.png,0\n")  # a cat labelled 'tench'
    out = tmp_path / "uc"
    assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), "--until-correct",
                 "--scales", "128,256", "--no-progress"]) == 0
    rows = per_image(RunStore(out))["cat.png"]
    assert len(rows) == 18 and not any(r["correct"] for r in rows)
    assert len({(r["scale"], r["row"], r["col"]) for r in rows}) == 18


def test_until_correct_follows_a_learned_order(tmp_path):
    cover = ["s1024-r2c2", "s10-r0c0"]
    order_file = tmp_path / "analysis.json"
    order_file.write_text(json.dumps({"min_cover": cover}))
    out = tmp_path / "uc"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--until-correct",
                 "--order", str(order_file), "--no-progress"]) == 0
    config = json.loads((out / "run.json").read_text())
    assert config["order"][:2] == cover and len(config["order"]) == 324
    assert config["order"][2] == "s256-r1c1"
    for rows in per_image(RunStore(out)).values():
        assert (rows[0]["scale"], rows[0]["row"], rows[0]["col"]) == (1024, 2, 2)


def test_default_order_is_centre_first_by_scale_distance():
    order = default_order(ZoomGrid())
    assert order[0] == Zoom(256, 1, 1)
    assert order[1] in (Zoom(240, 1, 1), Zoom(288, 1, 1))
    assert all(z.row == z.col == 1 for z in order[:36]) and sorted(order) == list(ZoomGrid())


def test_device_resize_agrees_with_pil_on_top1(samples_run, tmp_path):
    out = tmp_path / "device"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--resize", "device",
                 "--no-progress"]) == 0
    assert json.loads((out / "run.json").read_text())["resize"] == "device"
    key = ["image_id", "scale", "row", "col"]
    a = RunStore(samples_run).predictions(key + ["top1"]).sort_by([(k, "ascending") for k in key])
    b = RunStore(out).predictions(key + ["top1"]).sort_by([(k, "ascending") for k in key])
    assert a.select(key).equals(b.select(key))
    agreement = np.mean(np.array(a["top1"].to_pylist()) == np.array(b["top1"].to_pylist()))
    assert agreement >= 0.99, agreement


def test_shards_fill_one_folder_exactly_once(tmp_path):
    out = tmp_path / "sharded"
    for k in range(3):
        assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--scales", "256",
                     "--shard", f"{k}/3", "--no-progress"]) == 0
    table = RunStore(out).predictions()
    keys = list(zip(*(table[c].to_pylist() for c in ("image_id", "scale", "row", "col"))))
    assert len(keys) == len(set(keys)) == 6 * 9
    c = analysis.correctness(table, ZoomGrid(scales=(256,)))
    assert c.observed.all()


def test_bad_shard_is_one_line(tmp_path, capsys):
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(tmp_path / "r"), "--shard", "3/3"]) == 2
    assert "0 <= K < N" in capsys.readouterr().err


class _MemoryBound(torch.nn.Module):
    """A real classifier that, like a full GPU, cannot take batches over 8."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=8), torch.nn.Flatten(),
                                       torch.nn.LazyLinear(1000))

    def forward(self, x):
        if len(x) > 8:
            raise torch.OutOfMemoryError("CUDA out of memory (batch over 8)")
        return self.net(x)


def test_out_of_memory_batches_are_split_and_the_size_remembered():
    crops = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    module = _MemoryBound()
    module(torch.zeros(1, 3, 32, 32))  # materialise the lazy layer
    clf = TorchClassifier("test", module, Preprocess())
    expected = np.concatenate([clf._logits(crops[i:i + 5]) for i in range(0, 20, 5)])
    got = clf.logits(crops)
    assert clf.max_batch is not None and clf.max_batch <= 8
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@cuda
def test_cuda_sweep_uses_fp16_channels_last_and_device_resize(tmp_path):
    out = tmp_path / "gpu"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--scales", "256,512",
                 "--no-progress"]) == 0
    config = json.loads((out / "run.json").read_text())
    assert config["classifier"]["backend"] == "torch" and config["classifier"]["device"].startswith("cuda")
    assert config["resize"] == "device"
    assert config["summary"]["standard_top1"] >= 0.5
