"""Model sources are one registry entry each: parsing, the unknown-spec message, `zoomhard
models` and the --model help all come from it."""

import json

import numpy as np
import pytest

from zoomhard.cli import main
from zoomhard.models import SOURCES, ModelError, ModelSource, Preprocess, load_classifier, parse_spec

FORMS = [(s.prefix, spec) for s in SOURCES.values() for spec in s.specs]


def test_every_source_is_an_entry_onnx_included():
    assert {"lite", "torchvision", "timm", "open_clip", "hfmodel", "onnx"} <= set(SOURCES)
    assert all(prefix == s.prefix for prefix, s in SOURCES.items())


@pytest.mark.parametrize("prefix, form", FORMS)
def test_every_listed_form_parses_to_its_source(prefix, form):
    assert parse_spec(form)[0] == prefix
    assert parse_spec(f"{prefix}:some-name") == (prefix, "some-name")


def _unknown_message(spec: str) -> str:
    with pytest.raises(ModelError) as e:
        parse_spec(spec)
    return str(e.value)


def test_unknown_spec_message_and_models_listing_name_every_source(capsys):
    message = _unknown_message("resnet50")
    listed = message.split("valid model specs: ")[1].split(", ")
    assert listed == [form for _, form in FORMS]
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["source"], r["spec"]) for r in rows] == FORMS
    assert all(r["what"] and r["weights"] for r in rows)
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [form for _, form in FORMS]


@pytest.mark.parametrize("command", ["sweep", "look", "tta", "bench"])
def test_model_help_lists_every_form(command, capsys):
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(form in text for _, form in FORMS)


def test_misspelt_sources_and_names_say_what_was_meant():
    assert "did you mean torchvision:resnet50?" in _unknown_message("torchvison:resnet50")
    assert "did you mean lite0?" in _unknown_message("lte0")
    assert "write it as timm:NAME" in _unknown_message("timm:")


def _build_mean_colour(name: str, weights):
    """A real (if poor) classifier: the crop's mean colour, linearly mapped to 1000 logits."""
    import torch

    torch.manual_seed(int(name))
    module = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 1000))
    return module, Preprocess()


def test_a_new_source_is_one_entry(monkeypatch, capsys):
    entry = ModelSource("meancolour", "meancolour:SEED", "the crop's mean colour, linearly", "random, from SEED",
                        _build_mean_colour)
    monkeypatch.setitem(SOURCES, "meancolour", entry)
    assert "meancolour:SEED" in _unknown_message("nothing")
    assert main(["models", "--json"]) == 0
    assert "meancolour:SEED" in [r["spec"] for r in json.loads(capsys.readouterr().out)]
    clf = load_classifier("meancolour:3", backend="torch", device="cpu")
    crops = np.random.default_rng(0).integers(0, 256, size=(4, 224, 224, 3), dtype=np.uint8)
    module, pre = _build_mean_colour("3", None)
    import torch

    x = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255 - torch.tensor(pre.mean).view(1, 3, 1, 1)) \
        / torch.tensor(pre.std).view(1, 3, 1, 1)
    assert np.allclose(clf.logits(crops), module(x).detach().numpy(), atol=1e-4)
    assert main(["bench", "-m", "meancolour:3", "-d", "samples", "--backend", "torch", "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "meancolour:3"
