"""Hugging Face transformers classifiers: a tiny random ResNet saved with save_pretrained."""

import json
import os

import pytest

from zoomhard.cli import main

if os.environ.get("CI"):
    import transformers  # CI installs the dev extra, which includes transformers
else:
    transformers = pytest.importorskip("transformers", reason="transformers not installed (pip install 'zoomhard[transformers]')")


@pytest.fixture(scope="module")
def tiny_resnet(tmp_path_factory):
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hfmodel") / "tiny-resnet"
    cfg = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=1000)
    transformers.ResNetForImageClassification(cfg).save_pretrained(path)
    transformers.ConvNextImageProcessor(size={"shortest_edge": 224}, crop_pct=0.875,
                                        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
                                        resample=2).save_pretrained(path)
    return path


def test_bench_runs_a_local_transformers_classifier(tiny_resnet, capsys):
    capsys.readouterr()
    assert main(["bench", "-m", f"hfmodel:{tiny_resnet}", "-d", "samples", "--no-progress", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 6 and 0 <= out["top1"] <= 1
    pp = out["preprocess"]
    assert (pp["input_size"], pp["crop_pct"], pp["interpolation"]) == (224, 0.875, "bilinear")
    assert pp["mean"] == pytest.approx([0.485, 0.456, 0.406])


def test_transformers_head_must_be_imagenet(tmp_path, capsys):
    cfg = transformers.ResNetConfig(embedding_size=8, hidden_sizes=[8], depths=[1], num_labels=10)
    transformers.ResNetForImageClassification(cfg).save_pretrained(tmp_path)
    transformers.ConvNextImageProcessor().save_pretrained(tmp_path)
    assert main(["bench", "-m", f"hfmodel:{tmp_path}", "-d", "samples", "--no-progress"]) == 2
    assert "10 labels" in capsys.readouterr().err
