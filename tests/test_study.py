"""--protocol study and the weights' identity: each rule against torchvision's own computation."""

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoomhard.cli import main
from zoomhard.config import Setup
from zoomhard.data.samples import SAMPLES, sample_path


def torchvision_crop(path, imagenet_c=False) -> np.ndarray:
    """MEMO's and the benchmark notebook's test crop, straight from torchvision on PIL."""
    from torchvision import transforms as T

    img = Image.open(path).convert("RGB")
    t = T.CenterCrop(224) if imagenet_c else T.Compose([T.Resize(256), T.CenterCrop(224)])
    return np.asarray(t(img))


def sample_paths() -> dict:
    return {image_id: sample_path(package, rel) for image_id, package, rel, _ in SAMPLES}


@pytest.fixture(scope="module")
def lite0_by_hand():
    """image id -> lite0's top-1 on torchvision's Resize(256) + CenterCrop(224), in torch by hand."""
    import torch

    from zoomhard.models import load_model

    module, pp = load_model("lite0")
    mean, std = torch.tensor(pp.mean).view(1, 3, 1, 1), torch.tensor(pp.std).view(1, 3, 1, 1)
    out = {}
    with torch.no_grad():
        for image_id, path in sample_paths().items():
            crop = torchvision_crop(path)
            x = torch.from_numpy(crop.copy()).permute(2, 0, 1)[None].float() / 255
            out[image_id] = int(module((x - mean) / std).argmax())
    return out


def test_study_bench_crops_are_torchvisions_pixel_for_pixel():
    from zoomhard import protocol
    from zoomhard.bench import eval_crops, eval_transform
    from zoomhard.data import open_source
    from zoomhard.models.registry import LITE_PREPROCESS

    transform = eval_transform(protocol.bench_preprocess("lite0", LITE_PREPROCESS["lite0"]))
    paths = sample_paths()
    seen = 0
    for item, crop, _ in eval_crops(open_source("samples"), transform, workers=2):
        assert np.array_equal(crop, torchvision_crop(paths[item.image_id])), item.image_id
        seen += 1
    assert seen == len(SAMPLES)


def test_study_bench_top1_is_the_torchvision_pipelines(tmp_path, capsys, lite0_by_hand):
    preds = tmp_path / "p.csv"
    assert main(["bench", "-m", "lite0", "-d", "samples", "--protocol", "study", "--backend", "torch",
                 "--no-progress", "--json", "--predictions", str(preds)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["protocol"] == "study"
    assert summary["preprocess"]["interpolation"] == "bilinear" and summary["preprocess"]["input_size"] == 224
    assert summary["preprocess"]["mean"] == pytest.approx([127 / 255] * 3)  # the model's own normalisation
    with open(preds) as f:
        assert {r["image_id"]: int(r["top1"]) for r in csv.DictReader(f)} == lite0_by_hand


def test_study_eval_of_the_special_models():
    from zoomhard import protocol
    from zoomhard.models.base import Preprocess

    own = Preprocess((0.5,) * 3, (0.5,) * 3, "bicubic", 0.96, 800)
    l2 = protocol.bench_preprocess("timm:tf_efficientnet_l2.ns_jft_in1k", own)
    assert (l2.interpolation, l2.crop_pct, l2.input_size, l2.mean) == ("bilinear", 1.0, 800, (0.5,) * 3)
    assert protocol.bench_preprocess("open_clip:ViT-L-14/openai", own) == own
    assert protocol.resolve(Setup("lite0"), "bench").preprocess is None
    clip_norm = lambda flag, name: protocol.setting("clip_norm", flag, name, "sweep") or "clip"  # noqa: E731
    assert (clip_norm(None, "study"), clip_norm(None, "native"), clip_norm("clip", "study")) \
        == ("imagenet", "clip", "clip")


def test_study_tta_baseline_is_memos_test_crop(lite0_by_hand):
    from zoomhard.tta import TTAConfig, run_tta

    cfg = TTAConfig(Setup("lite0", "samples", backend="torch", protocol="study"), methods=("zoom-max",),
                    transforms="s256-r1c1", progress=False)
    report = run_tta(cfg, log=lambda m: None)
    assert {r["image_id"]: r["baseline_top1"] for r in report.images} == lite0_by_hand
    assert report.results[0]["protocol"] == "study"


def test_imagenet_c_test_crop_is_the_centre_crop_alone(tmp_path):
    from zoomhard.tta.run import TTAConfig, standard_cropper

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (260, 300, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    crop = standard_cropper(TTAConfig(Setup("lite0", "samples", protocol="study"), ("zoom-max",), imagenet_c=True))(img)
    assert np.array_equal(crop, pixels[18:242, 38:262])   # (260 - 224) / 2, (300 - 224) / 2


def tta_json(capsys, *args):
    capsys.readouterr()
    assert main(["tta", "-m", "lite0", "-d", "samples", "--no-progress", "--json", "--backend", "torch", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_memo_views_follow_the_protocol_unless_given(capsys):
    base = ["--method", "memo-rrc", "--steps", "0"]  # no adaptation step: the views are only counted
    assert tta_json(capsys, *base, "--protocol", "study")["views"] == 64
    native = tta_json(capsys, *base)
    assert (native["views"], native["protocol"]) == (16, "native")
    assert tta_json(capsys, *base, "--protocol", "study", "--views", "3")["views"] == 3
    capsys.readouterr()
    assert main(["tta", "-m", "lite0", "-d", "samples", "--method", "zoom-max", "--imagenet-c"]) == 2
    assert "--protocol study" in capsys.readouterr().err


# -- weights tags and checksums -----------------------------------------------------------------

@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    import torch
    import torchvision

    path = tmp_path_factory.mktemp("weights") / "resnet18-random.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_a_tagged_local_file_is_checked_against_torchvisions_published_hash(resnet18_file, capsys):
    assert main(["bench", "-m", "torchvision:resnet18.IMAGENET1K_V1", "--weights", str(resnet18_file),
                 "-d", "samples", "--backend", "torch", "--no-progress", "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    sha = hashlib.sha256(resnet18_file.read_bytes()).hexdigest()
    assert summary["weights_tag"] == "IMAGENET1K_V1"
    assert summary["weights"]["sha256"] == sha and summary["weights"]["published_sha256"] == "f37072fd"
    assert summary["warnings"] == [summary["weights"]["warning"]] and sha[:8] in summary["warnings"][0]
    assert "note:" in captured.err and "resnet18-f37072fd.pth" in captured.err   # the note is printed too
    assert "paper" not in summary                      # the samples are not ImageNet-Hard


def test_tags_resolve_and_unknown_tags_list_the_known(resnet18_file, capsys):
    from zoomhard.models.weights import weights_tag

    assert weights_tag("torchvision:resnet50") == "IMAGENET1K_V2"       # DEFAULT, as torchvision says
    assert weights_tag("torchvision:resnet50.IMAGENET1K_V1") == "IMAGENET1K_V1"
    assert weights_tag("torchvision:resnet50", "/some/file.pth") is None  # a bare name's file: unknown
    assert weights_tag("lite0") is None
    capsys.readouterr()
    assert main(["bench", "-m", "torchvision:resnet18.IMAGENET1K_V9", "--weights", str(resnet18_file),
                 "-d", "samples", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "IMAGENET1K_V1" in err


def test_sweep_records_protocol_and_tag_and_refuses_another_protocol(resnet18_file, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["sweep", "-m", "torchvision:resnet18.IMAGENET1K_V1", "--weights", str(resnet18_file), "-d", "samples",
            "-o", str(out), "--scales", "224,256", "--anchors", "1", "--backend", "torch", "--no-progress"]
    assert main([*args, "--protocol", "study", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    config = json.loads((out / "run.json").read_text())
    assert summary["protocol"] == config["protocol"] == "study"
    assert summary["weights_tag"] == config["weights_tag"] == "IMAGENET1K_V1"
    assert config["classifier"]["weights"]["warning"] and config["classifier"]["precision"] == "fp32"
    assert main(args) == 2
    assert "protocol" in capsys.readouterr().err


# -- paper rows ---------------------------------------------------------------------------------

STUDY_HARD = {"kind": "hf", "spec": "hf:taesiri/imagenet-hard@e292574214aa16ede29857c613a50a12f60b8eb1:validation",
              "repo": "taesiri/imagenet-hard", "revision": "e292574214aa16ede29857c613a50a12f60b8eb1"}
STUDY_4K = {"kind": "hf", "spec": "hf:taesiri/imagenet-hard-4K@42a6d8d2fa33f5df0aa26f70e38040f4341f4f80:validation",
            "repo": "taesiri/imagenet-hard-4K", "revision": "42a6d8d2fa33f5df0aa26f70e38040f4341f4f80"}


def test_paper_rows_for_default_and_v1_weights():
    from zoomhard.paper import hard_paper

    v1 = hard_paper("torchvision:resnet50.IMAGENET1K_V1", "IMAGENET1K_V1", None, STUDY_HARD, "study")
    assert (v1["model"], v1["top1"]) == ("ResNet-50", 0.1474) and v1["note"] == ""
    default = hard_paper("torchvision:resnet50", "IMAGENET1K_V2", None, STUDY_HARD, "study")
    assert (default["model"], default["top1"]) == (None, None)
    assert "torchvision:resnet50.IMAGENET1K_V1" in default["note"]
    native = hard_paper("torchvision:resnet50.IMAGENET1K_V1", "IMAGENET1K_V1", None, STUDY_HARD, "native")
    assert native["top1"] == 0.1474 and "--protocol study" in native["note"]
    vgg = hard_paper("torchvision:vgg19", "IMAGENET1K_V1", None, STUDY_HARD, "study")
    assert (vgg["model"], vgg["top1"]) == ("VGG-16", 0.12) and "vgg19" in vgg["note"]


def test_paper_rows_for_4k_data_are_the_4k_cards():
    from zoomhard.paper import hard_paper

    r = hard_paper("torchvision:resnet50.IMAGENET1K_V1", "IMAGENET1K_V1", None, STUDY_4K, "study")
    assert (r["model"], r["top1"]) == ("ResNet-50", 0.1393)
    clip = hard_paper("open_clip:ViT-L-14/openai", None, None, STUDY_4K, "study")
    assert clip["top1"] is None  # the 4K card has no CLIP figure, and the non-4K one is not used


def test_paper_figures_only_for_the_papers_revision():
    from zoomhard.paper import hard_paper

    moved = {**STUDY_HARD, "revision": "0c67117edcfe785bd54731287052b8c6239fed7a"}
    r = hard_paper("torchvision:resnet18", "IMAGENET1K_V1", None, moved, "study")
    assert (r["model"], r["top1"]) == ("ResNet-18", None) and "e292574214aa" in r["note"]
    local = {"kind": "parquet", "spec": "parquet:/data/imagenet-hard/*.parquet", "images": 10_980}
    assert hard_paper("torchvision:resnet18", "IMAGENET1K_V1", None, local, "study")["top1"] == 0.1086
    fewer = {**local, "images": 9_761}
    assert "9761" in hard_paper("torchvision:resnet18", "IMAGENET1K_V1", None, fewer, "study")["note"]


# -- ObjectNet as the study scored it -----------------------------------------------------------

def test_objectnet_is_the_argmax_over_its_113_representatives():
    from zoomhard import labels as L
    from zoomhard.protocols import class_space, score

    shared = Path("/work/shared/data/subsets/subset_wnids.json")  # the study's list, where present
    wnids = json.loads(shared.read_text())["objectnet_113"] if shared.is_file() else None
    space = class_space("objectnet")
    reps = np.flatnonzero(space.allowed)
    assert len(reps) == 113 and space.groups is None
    if wnids is not None:  # the study's own list of the 113 classes
        assert sorted(L.wnid_index()[w] for w in wnids) == reps.tolist()
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 1000)).astype(np.float32)
    logits[:, 0] = 50  # a tench, no ObjectNet class: never the answer
    by_hand = reps[np.argmax(logits[:, reps], axis=1)]
    s = score(logits, (int(by_hand[0]),), space.allowed, space.groups)
    assert s["top1"].tolist() == by_hand.tolist()
    assert s["correct"].tolist() == [t == by_hand[0] for t in by_hand]


def test_objectnet_labels_score_under_either_space():
    from zoomhard import labels as L
    from zoomhard.protocols import class_space, score

    reps = set(L.subset_indices("objectnet"))
    study, groups = class_space("objectnet"), class_space("objectnet-groups")
    for name, members in L.objectnet_to_imagenet().items():
        (rep,) = set(members) & reps            # each class's label list holds its representative
        for winner in members:                   # whichever member the model likes best
            logits = np.zeros((1, 1000), np.float32)
            logits[0, winner], logits[0, rep] = 9.0, 8.0
            assert score(logits, members, study.allowed)["correct"][0], name
            assert score(logits, members, groups.allowed, groups.groups)["correct"][0], name


def test_study_numerics_are_fp32_on_cuda():
    """The autocast switch reads `precision`: fp16 on CUDA natively, fp32 under the study's protocol."""
    import torch

    from zoomhard.models.backends import TorchClassifier
    from zoomhard.models.base import Preprocess

    for fp32, wanted in ((False, "fp16"), (True, "fp32")):
        clf = TorchClassifier("x", torch.nn.Linear(3, 2), Preprocess(), "cpu", fp32=fp32)
        assert clf.precision == "fp32"          # the CPU never autocasts
        clf.device = "cuda:0"
        assert clf.precision == wanted
