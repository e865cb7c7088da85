"""Zero-shot CLIP plumbing with random weights: a tiny open_clip architecture saved to a file
(the real ones take minutes to encode 1000 x 80 prompts on a CPU; the code path is the same)."""

import json
import os
import time

import pytest

from zoomhard.cli import main

if os.environ.get("CI"):
    import open_clip  # CI installs the dev extra, which includes open_clip_torch
else:
    open_clip = pytest.importorskip("open_clip", reason="open_clip_torch not installed (pip install 'zoomhard[clip]')")

ARCH = "zh-tiny-clip"
CONFIG = {"embed_dim": 32,
          "vision_cfg": {"image_size": 224, "layers": 1, "width": 64, "patch_size": 32, "head_width": 32},
          "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    import torch

    d = tmp_path_factory.mktemp("clip")
    (d / f"{ARCH}.json").write_text(json.dumps(CONFIG))
    open_clip.add_model_config(d / f"{ARCH}.json")
    torch.manual_seed(0)
    weights = d / "tiny.pt"
    torch.save(open_clip.create_model(ARCH, pretrained=None).state_dict(), weights)
    return str(weights)


@pytest.fixture(scope="module")
def built(tiny_clip):
    """The zero-shot module built once (this fills the text classifier cache)."""
    from zoomhard.models import load_model
    from zoomhard.models.base import cache_dir

    started = time.perf_counter()
    module, pp = load_model(f"open_clip:{ARCH}", tiny_clip)
    return module, pp, time.perf_counter() - started, sorted((cache_dir() / "clip").glob(f"{ARCH}-*.pt"))


def test_zero_shot_head_is_normalised_mean_of_prompt_embeddings(tiny_clip, built):
    import torch
    import torch.nn.functional as F

    from zoomhard.models.clip import imagenet_prompts

    module, pp, _, cached = built
    head = module.head
    assert head.shape == (32, 1000)
    assert torch.allclose(head.norm(dim=0), torch.ones(1000), atol=1e-5)
    classnames, templates = imagenet_prompts()
    assert len(classnames) == 1000 and len(templates) == 80 and templates[0] == "a bad photo of a {}."
    # class 281 by hand, with open_clip's own encode_text (no prompt trimming)
    model = open_clip.create_model(ARCH, pretrained=None)
    model.load_state_dict(torch.load(tiny_clip, weights_only=True))
    tokens = open_clip.get_tokenizer(ARCH)([t.format(classnames[281]) for t in templates])
    with torch.inference_mode():
        emb = F.normalize(F.normalize(model.encode_text(tokens), dim=-1).mean(0), dim=0)
    assert torch.allclose(head[:, 281], emb, atol=1e-5)
    # logits are 100 x cosine
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        logits = module(x)
        cos = F.normalize(model.encode_image(x), dim=-1) @ head
    assert logits.shape == (2, 1000) and torch.allclose(logits, 100 * cos, atol=1e-3)
    assert (pp.crop_pct, pp.input_size, pp.interpolation) == (1.0, 224, "bicubic")
    assert pp.mean == pytest.approx(open_clip.OPENAI_DATASET_MEAN)


def test_text_classifier_is_cached_per_weights(tiny_clip, built, tmp_path):
    import torch

    from zoomhard.models import load_model
    from zoomhard.models.base import cache_dir

    module, _, first, cached = built
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    started = time.perf_counter()
    again, _ = load_model(f"open_clip:{ARCH}", tiny_clip)
    assert time.perf_counter() - started < first
    assert cached[0].stat().st_mtime_ns == stamp and torch.equal(again.head, module.head)
    # the key is the weights' content, not their path; other weights or prompts get their own entry
    copy = tmp_path / "copy.pt"
    copy.write_bytes(open(tiny_clip, "rb").read())
    load_model(f"open_clip:{ARCH}", str(copy))
    assert len(list((cache_dir() / "clip").glob(f"{ARCH}-*.pt"))) == 1
    from zoomhard.models.clip import cached_text_classifier

    model = open_clip.create_model(ARCH, pretrained=None).eval()
    tokenizer = open_clip.get_tokenizer(ARCH)
    for key, names in (("other-weights", ("tabby", "lemur")), ("other-weights", ("tabby",))):
        head = cached_text_classifier(model, tokenizer, ARCH, key, names, ("a photo of a {}.",))
        assert head.shape == (32, len(names))
    assert len(list((cache_dir() / "clip").glob(f"{ARCH}-*.pt"))) == 3


def test_trimmed_prompt_encoding_equals_open_clip(tiny_clip):
    import torch

    from zoomhard.models.clip import encode_text

    model = open_clip.create_model(ARCH, pretrained=None).eval()
    tokens = open_clip.get_tokenizer(ARCH)(["a photo of a tabby.", "itap of the ring-tailed lemur, a primate."])
    with torch.inference_mode():
        assert torch.allclose(encode_text(model, tokens), model.encode_text(tokens), atol=1e-5)


def test_bench_and_sweep_run_clip(tiny_clip, built, tmp_path, capsys):
    capsys.readouterr()
    args = ["-m", f"open_clip:{ARCH}", "--weights", tiny_clip, "-d", "samples", "--no-progress", "--json"]
    assert main(["bench", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 6 and 0 <= out["top1"] <= 1
    assert out["backend"] == "onnxruntime"  # the zero-shot module exports to ONNX and agrees with torch
    assert out["preprocess"]["mean"] == pytest.approx(open_clip.OPENAI_DATASET_MEAN)
    assert main(["bench", *args, "--clip-norm", "imagenet", "--subset", "imagenet-r"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preprocess"]["mean"] == pytest.approx([0.485, 0.456, 0.406]) and out["classes"] == 200
    run = tmp_path / "run"
    assert main(["sweep", "-m", f"open_clip:{ARCH}", "--weights", tiny_clip, "-d", "samples", "--scales", "256",
                 "-o", str(run), "--no-progress", "--clip-norm", "imagenet"]) == 0
    config = json.loads((run / "run.json").read_text())
    assert config["classifier"]["preprocess"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    # the study's sweep normalises CLIP with ImageNet's mean/std without being told
    study = tmp_path / "study"
    assert main(["sweep", "-m", f"open_clip:{ARCH}", "--weights", tiny_clip, "-d", "samples", "--scales", "256",
                 "--anchors", "1", "-o", str(study), "--no-progress", "--protocol", "study"]) == 0
    config = json.loads((study / "run.json").read_text())
    assert config["classifier"]["preprocess"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert config["protocol"] == "study"


def test_pretrained_clip_offline_fails_fast(capsys):
    started = time.perf_counter()
    assert main(["bench", "-m", "open_clip:ViT-B-32/openai", "-d", "samples", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - started < 30
    assert "open_clip:ViT-B-32/openai" in err and "--weights" in err and len(err.strip().splitlines()) == 1
    assert main(["bench", "-m", "open_clip:ViT-B-32/no-such-tag", "-d", "samples"]) == 2
    assert "openai" in capsys.readouterr().err  # the valid tags are listed


def test_openai_clip_is_built_with_quick_gelu_as_it_was_trained():
    """OpenAI's CLIP (clip.load) is a QuickGELU network; open_clip builds ViT-B-32 with GELU
    unless asked. The tag decides, whatever the file."""
    from zoomhard.models.clip import clip_activation

    assert clip_activation("ViT-B-32/openai") == "quick_gelu"
    assert clip_activation("ViT-L-14/openai") == "quick_gelu"
    assert clip_activation("ViT-L-14/datacomp_xl_s13b_b90k") == "gelu"
    assert clip_activation("ViT-B-32-quickgelu") == "quick_gelu"
    assert clip_activation("ViT-B-32") == "gelu"


def test_a_weights_file_for_an_openai_tag_builds_quick_gelu_and_its_embedding(tiny_clip, tmp_path, monkeypatch,
                                                                               capsys):
    """`open_clip:ARCH/openai --weights FILE` is OpenAI's network: QuickGELU modules, the same
    image embedding as open_clip.create_model(ARCH, force_quick_gelu=True) with the file's
    weights, and the activation in run.json and --json."""
    import torch
    from open_clip import pretrained
    from open_clip.transformer import QuickGELU

    from zoomhard.models import load_model

    monkeypatch.setitem(pretrained._PRETRAINED, ARCH, {"openai": pretrained._pcfg(url="", quick_gelu=True)})
    module, _ = load_model(f"open_clip:{ARCH}/openai", tiny_clip)
    assert any(isinstance(m, QuickGELU) for m in module.modules())
    reference = open_clip.create_model(ARCH, pretrained=None, force_quick_gelu=True).eval()
    reference.load_state_dict(torch.load(tiny_clip, weights_only=True))
    plain = open_clip.create_model(ARCH, pretrained=None).eval()
    plain.load_state_dict(torch.load(tiny_clip, weights_only=True))
    x = torch.rand(2, 3, 224, 224)
    with torch.inference_mode():
        ours, theirs, gelu = module.visual(x), reference.encode_image(x), plain.encode_image(x)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours, gelu, atol=1e-4)  # the activation shows in the embedding

    out = tmp_path / "run"
    assert main(["sweep", "-m", f"open_clip:{ARCH}/openai", "--weights", tiny_clip, "-d", "samples", "--scales", "256",
                 "--anchors", "1", "-o", str(out), "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["activation"] == "quick_gelu"
    assert json.loads((out / "run.json").read_text())["classifier"]["activation"] == "quick_gelu"
