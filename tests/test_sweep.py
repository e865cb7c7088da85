"""End-to-end sweeps through the command line, with real EfficientNet-Lite0 weights."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from badimages import sample, write_awkward
from zoomhard import labels as L
from zoomhard.cli import main
from zoomhard.runs.store import RunStore

ZOOMHARD = [sys.executable, "-m", "zoomhard.cli"]


def rows_at(store: RunStore, scale: int, row: int, col: int) -> dict:
    t = store.predictions()
    mask = pc.and_(pc.equal(t["scale"], scale), pc.and_(pc.equal(t["row"], row), pc.equal(t["col"], col)))
    return {r["image_id"]: r for r in t.filter(mask).to_pylist()}


def test_samples_sweep_end_to_end(samples_run):
    store = RunStore(samples_run)
    config = json.loads((samples_run / "run.json").read_text())
    assert config["model"] == "lite0" and config["classifier"]["backend"] == "onnxruntime"
    assert config["grid"]["scales"][0] == 10 and len(config["grid"]["scales"]) == 36
    assert config["versions"]["torch"]

    table = store.predictions()
    assert table.num_rows == 6 * 324
    keys = set(zip(*(table[c].to_pylist() for c in ("image_id", "scale", "row", "col"))))
    assert len(keys) == 6 * 324, "every (image, transform) exactly once"
    assert all(len(t) == 5 for t in table["top5"].to_pylist())

    standard = rows_at(store, 256, 1, 1)
    assert standard["chelsea.png"]["correct"] and standard["coffee.png"]["correct"]
    assert L.short_name(standard["coffee.png"]["top1"]) == "espresso"

    summary = config["summary"]
    assert summary["images"] == 6 and summary["unreadable"] == 0
    assert summary["upper_bound"] >= summary["standard_top1"] > 0
    assert config["sessions"][-1]["crops"] == 6 * 324


def test_sweep_prints_summary_and_json(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--scales", "256,512",
                 "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == 6 and summary["transforms"] == 18
    assert 0 <= summary["standard_top1"] <= summary["upper_bound"] <= 1


def test_nothing_to_sweep_says_so(tmp_path, capsys):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "imgs" / "labels.csv").write_text("image,labels\nbroken.jpg,281\n")
    assert main(["sweep", "-m", "lite0", "-d", str(tmp_path / "imgs"), "-o", str(tmp_path / "run"),
                 "--scales", "256", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(
        "zoomhard: error: no images swept: all 1 refused (1 unreadable, 0 without a label;")


def test_awkward_files_are_swept_or_recorded(tmp_path, capsys):
    folder = tmp_path / "awkward"
    expected = write_awkward(folder)
    with open(folder / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "labels"])
        for name in expected:
            w.writerow([name, "n02123045;n02123159"])
        w.writerow(["missing.jpg", "281"])
    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), "--scales", "256", "--no-progress"]) == 0
    store = RunStore(out)
    errors = store.errors()
    swept = set(store.predictions(["image_id"])["image_id"].to_pylist())
    for name, outcome in expected.items():
        if outcome == "ok":
            assert name in swept, name
        else:
            assert outcome in errors[name], (name, errors.get(name))
    assert "file not found" in errors["missing.jpg"]
    assert f"{len(errors)} unreadable" in capsys.readouterr().out
    # the 1 x 1 image and the EXIF-rotated one are recorded with their real sizes
    sizes = {r["image_id"]: (r["width"], r["height"]) for r in store.images().to_pylist()}
    assert sizes["one_pixel.png"] == (1, 1) and sizes["exif_rotated.jpg"] == sample("chelsea.png").size


def _write_copies(folder: Path, n: int) -> None:
    folder.mkdir()
    names = ["chelsea.png", "coffee.png", "rocket.jpg"]
    labels = {"chelsea.png": "281;282;285", "coffee.png": "967", "rocket.jpg": "657;744;812"}
    with open(folder / "labels.csv", "w") as f:
        f.write("image,labels\n")
        for i in range(n):
            name = names[i % 3]
            sample(name).save(folder / f"{i:03d}_{name}")
            f.write(f"{i:03d}_{name},{labels[name]}\n")


def test_resume_after_sigkill_recomputes_nothing_and_duplicates_nothing(tmp_path):
    folder = tmp_path / "imgs"
    _write_copies(folder, 30)
    out = tmp_path / "run"
    cmd = ZOOMHARD + ["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), "--scales", "128,256,512",
                      "--flush-seconds", "0", "--batch-size", "16", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "predictions").glob("part-*.parquet"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = RunStore(out)
    written = {p.name: p.read_bytes() for p in (out / "predictions").glob("part-*.parquet")}
    done_before = first.done_ids()
    assert 0 < len(done_before) < 30, "the kill should land mid-run"

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"resuming {out}: {len(done_before)} of 30" in result.stderr
    for name, data in written.items():  # what was written stays as it was
        assert (out / "predictions" / name).read_bytes() == data
    table = RunStore(out).predictions()
    keys = list(zip(*(table[c].to_pylist() for c in ("image_id", "scale", "row", "col"))))
    assert len(keys) == len(set(keys)) == 30 * 27
    config = json.loads((out / "run.json").read_text())
    assert config["sessions"][-1]["images"] == 30 - len(done_before), "nothing done is recomputed"


def test_existing_run_with_another_grid_or_model_is_refused(samples_run, capsys):
    for extra in (["--scales", "224"], ["--anchors", "5"]):
        assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(samples_run), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "another grid" in err
    assert main(["sweep", "-m", "lite1", "-d", "samples", "-o", str(samples_run)]) == 2
    err = capsys.readouterr().err
    assert "another model" in err
    assert err.strip().endswith(f"choose another --out folder, or delete {samples_run} to start over")


def test_a_weights_file_of_another_head_says_which_parameters_differ(tmp_path, capsys):
    import torch
    import torchvision

    weights = tmp_path / "r18-10.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), weights)
    assert main(["sweep", "-m", "torchvision:resnet18", "--weights", str(weights), "-d", "samples",
                 "-o", str(tmp_path / "run"), "--scales", "256", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"zoomhard: error: --weights {weights} does not fit torchvision:resnet18: ")
    assert "size mismatch for fc.weight: the file's [10, 512], the model's [1000, 512]" in err
    assert "size mismatch for fc.bias: the file's [10], the model's [1000]" in err


@pytest.mark.parametrize("args,message", [
    (["-m", "lite9", "-d", "samples"], "valid model specs: lite0"),
    (["-m", "resnet50", "-d", "samples"], "valid model specs"),
    (["-m", "torchvision:nonet", "-d", "samples"], "torchvision has no classifier"),
    (["-m", "lite0", "-d", "/no/such/folder"], "no such folder"),
    (["-m", "lite0", "-d", "s3:bucket/x"], "valid data specs"),
    (["-m", "lite0", "-d", "parquet:/no/*.parquet"], "no parquet files"),
    (["-m", "lite0", "-d", "hf:taesiri/imagenet-hard"], "HF_HUB_OFFLINE is set"),
    (["-m", "lite0", "-d", "samples", "--subset", "imagenet-x"], "'imagenet-a', 'imagenet-r'"),
    (["-m", "lite0", "-d", "samples", "--backend", "tensorrt"], "'auto', 'torch', 'onnx'"),
    (["-m", "lite0", "-d", "samples", "--weights", "/no/weights.pth"], "no such file"),
])
def test_bad_specs_fail_with_one_line_and_exit_2(tmp_path, args, message):
    result = subprocess.run(ZOOMHARD + ["sweep", "-o", str(tmp_path / "r"), *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("spec", ["torchvision:resnet18", "timm:resnet18", "hfnet:x/y"])
def test_hub_weights_offline_fail_fast(tmp_path, spec):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch")}
    start = time.time()
    result = subprocess.run(ZOOMHARD + ["sweep", "-m", spec, "-d", "samples", "-o", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert time.time() - start < 30, "offline failure must not wait on retries"
    if spec != "hfnet:x/y":
        assert "--weights PATH" in result.stderr


def test_local_weights_torch_and_onnx_backends_agree(tmp_path):
    import torch
    import torchvision

    torch.manual_seed(0)
    weights = tmp_path / "r18.pth"
    torch.save({"state_dict": torchvision.models.resnet18().state_dict()}, weights)
    runs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / backend
        assert main(["sweep", "-m", "torchvision:resnet18", "--weights", str(weights), "-d", "samples",
                     "-o", str(out), "--scales", "256", "--backend", backend, "--no-progress"]) == 0
        config = json.loads((out / "run.json").read_text())
        assert config["classifier"]["backend"] == {"torch": "torch", "onnx": "onnxruntime"}[backend]
        assert config["classifier"]["preprocess"]["mean"] == [0.485, 0.456, 0.406]
        t = RunStore(out).predictions().sort_by([("image_id", "ascending"), ("row", "ascending"), ("col", "ascending")])
        runs[backend] = t
    a, b = runs["torch"], runs["onnx"]
    assert a["image_id"].to_pylist() == b["image_id"].to_pylist()
    assert np.mean(np.array(a["top1"].to_pylist()) == np.array(b["top1"].to_pylist())) >= 0.95


def test_onnx_file_carries_its_preprocessing(samples_run, tmp_path, capsys):
    cached = list(Path(os.environ["ZOOMHARD_CACHE"]).glob("onnx/lite-lite0-*.onnx"))
    assert cached, "the lite0 sweep exports and caches an ONNX file"
    model = tmp_path / "lite0.onnx"
    shutil.copy(cached[0], model)
    out = tmp_path / "onnx-run"
    assert main(["sweep", "-m", f"onnx:{model}", "-d", "samples", "-o", str(out), "--scales", "256",
                 "--no-progress"]) == 0
    mine, theirs = rows_at(RunStore(out), 256, 1, 1), rows_at(RunStore(samples_run), 256, 1, 1)
    assert {k: v["top1"] for k, v in mine.items()} == {k: v["top1"] for k, v in theirs.items()}
    # it takes uint8 pixels and normalises them itself: another mean cannot be honoured
    assert main(["sweep", "-m", f"onnx:{model}", "-d", "samples", "-o", str(tmp_path / "other"), "--scales", "256",
                 "--mean", "0.5,0.5,0.5", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "inside the graph" in err and len(err.splitlines()) == 1


def test_wnid_folders_restrict_predictions_to_the_classes_present(tmp_path):
    root = tmp_path / "val"
    for name, index in (("chelsea.png", 281), ("coffee.png", 967), ("rocket.jpg", 812)):
        d = root / L.wnids()[index]
        d.mkdir(parents=True)
        sample(name).save(d / name)
    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", str(root), "-o", str(out), "--scales", "64,256,1024",
                 "--no-progress"]) == 0
    table = RunStore(out).predictions()
    assert set(table["top1"].to_pylist()) <= {281, 967, 812}
    assert set(table["image_id"].to_pylist()) == {f"{L.wnids()[281]}/chelsea.png", f"{L.wnids()[967]}/coffee.png",
                                                   f"{L.wnids()[812]}/rocket.jpg"}
    config = json.loads((out / "run.json").read_text())
    assert config["subset"] == {"name": "folders-present", "classes": 3}
    # --subset none predicts over all 1000 classes instead
    out2 = tmp_path / "run2"
    assert main(["sweep", "-m", "lite0", "-d", str(root), "-o", str(out2), "--scales", "64",
                 "--subset", "none", "--no-progress"]) == 0
    assert not set(RunStore(out2).predictions()["top1"].to_pylist()) <= {281, 967, 812}


def test_parquet_in_the_imagenet_hard_layout(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def encoded(name):
        buf = io.BytesIO()
        sample(name).save(buf, format="PNG")
        return buf.getvalue()

    rows = [  # (image bytes, stored path, labels, origin)
        (encoded("chelsea.png"), "imagenet/cat.png", [281, 282], "ImageNet+ReaL"),
        (encoded("coffee.png"), "", [967], "ObjectNet"),                  # no path: the row number
        (encoded("rocket.jpg"), "imagenet/cat.png", [812], "ImageNet-V2"),  # a repeated path
        (b"not an image", "sketch/broken.png", [1], "ImageNet-Sketch"),
    ]
    table = pa.table({
        "image": pa.array([{"bytes": b, "path": p} for b, p, _, _ in rows],
                          pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "label": pa.array([l for _, _, l, _ in rows], pa.list_(pa.int64())),
        "origin": [o for *_, o in rows],
        "english_label": [["x"] for _ in rows],
    })
    pq.write_table(table.slice(0, 2), tmp_path / "validation-0.parquet")
    pq.write_table(table.slice(2), tmp_path / "validation-1.parquet")
    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", f"parquet:{tmp_path}/validation-*.parquet", "-o", str(out),
                 "--scales", "256", "--no-progress"]) == 0
    store = RunStore(out)
    images = {r["image_id"]: r for r in store.images().to_pylist()}
    assert set(images) == {"imagenet/cat.png", "1", "imagenet/cat.png#2"}
    assert images["imagenet/cat.png"]["labels"] == [281, 282] and images["1"]["origin"] == "ObjectNet"
    assert "not an image" in store.errors()["sketch/broken.png"]
    assert rows_at(store, 256, 1, 1)["imagenet/cat.png"]["correct"]


def test_a_float_input_onnx_file_takes_mean_and_std(samples_run, tmp_path, capsys):
    import torch

    from zoomhard.models import load_model

    module, _ = load_model("lite0")
    model = tmp_path / "plain.onnx"
    torch.onnx.export(module, torch.zeros(1, 3, 224, 224), str(model), input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, opset_version=17, dynamo=False)
    out = tmp_path / "run"
    lite = ",".join([str(127 / 255)] * 3), ",".join([str(128 / 255)] * 3)
    assert main(["sweep", "-m", f"onnx:{model}", "-d", "samples", "-o", str(out), "--scales", "256",
                 "--mean", lite[0], "--std", lite[1], "--no-progress"]) == 0
    mine, theirs = rows_at(RunStore(out), 256, 1, 1), rows_at(RunStore(samples_run), 256, 1, 1)
    assert {k: v["top1"] for k, v in mine.items()} == {k: v["top1"] for k, v in theirs.items()}


def test_batches_across_images_give_each_image_its_own_logits():
    """One batch is in the model while the next is filled: every image still gets exactly the
    logits of its own crops, in order, whether its crops span several batches or share one."""
    from zoomhard.crops import decode_image, grid_crops
    from zoomhard.data import open_source
    from zoomhard.grid import ZoomGrid
    from zoomhard.models import load_classifier
    from zoomhard.sweep import Batcher, ImageCrops

    classifier = load_classifier("lite0")
    grid = ZoomGrid(scales=(64, 256, 512))
    items = list(open_source("samples"))[:4]
    crops = [grid_crops(decode_image(it.read()), grid)[:n] for it, n in zip(items, (11, 3, 27, 1))]
    batcher = Batcher(classifier, batch_size=8, crop=224)
    images, done = [], []
    for it, c in zip(items, crops):
        images.append(ImageCrops(it, (0, 0), c.copy(), np.full((len(c), 1000), np.nan, np.float32), len(c)))
        done += batcher.add(images[-1])
    done += batcher.run()
    batcher.close()
    assert [im.item.image_id for im in done] == [it.image_id for it in items]
    assert batcher.crops_done == 42
    for im, c in zip(images, crops):
        assert im.remaining == 0
        np.testing.assert_allclose(im.logits, classifier.logits(c), atol=1e-3)


def test_a_model_fixed_to_another_input_size_is_refused_up_front(tmp_path, capsys):
    import timm
    import torch

    weights = tmp_path / "vit.pth"
    torch.save(timm.create_model("vit_tiny_patch16_224", pretrained=False).state_dict(), weights)
    started = time.perf_counter()
    assert main(["sweep", "-m", "timm:vit_tiny_patch16_224", "--weights", str(weights), "-d", "samples",
                 "-o", str(tmp_path / "run"), "--crop", "160", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot classify 160x160 crops" in err and "--crop 224" in err
    assert time.perf_counter() - started < 60 and not (tmp_path / "run" / "predictions").exists()
