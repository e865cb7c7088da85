"""A model whose output is not ImageNet-1k's 1000 logits is refused on its first (probe) crop, in
one line and before anything is written, by every command and by the Python API; a 1001-wide
model with a background class first is taken with --drop-background."""

import PIL.Image
import pyarrow.compute as pc
import pytest
import torch

import zoomhard as zh
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.cli import main
from zoomhard.runs.store import RunStore


def head(outputs: int, seed: int = 0) -> torch.nn.Module:
    """A small classifier: the image's mean colour through a linear layer."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, outputs)).eval()


def onnx_file(module: torch.nn.Module, path) -> str:
    torch.onnx.export(module, torch.zeros(1, 3, 224, 224), str(path), input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, opset_version=17, dynamo=False)
    return f"onnx:{path}"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """ONNX files of 10, 1000 and 1001 outputs; the 1001-wide one is the 1000-wide one with a
    background logit put first."""
    root = tmp_path_factory.mktemp("width")
    wide = head(1001)
    narrow = head(1000)
    with torch.no_grad():
        narrow[2].weight.copy_(wide[2].weight[1:])
        narrow[2].bias.copy_(wide[2].bias[1:])
        wide[2].bias[0] = 50.0          # the background class would win every crop
    return {n: onnx_file(m, root / f"head{n}.onnx") for n, m in ((10, head(10)), (1000, narrow), (1001, wide))}


def test_a_10_class_model_is_refused_before_the_run_folder_exists(models, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sweep", "-m", models[10], "-d", "samples", "-o", str(out), "--scales", "256", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gives 10 logits, not ImageNet-1k's 1000" in err
    assert not out.exists()


@pytest.mark.parametrize("command", [
    ["bench", "-d", "samples", "--no-progress"],
    ["tta", "-d", "samples", "--method", "zoom-mean", "--transforms", "s256-r1c1", "--no-progress"],
])
def test_bench_and_tta_refuse_it_too(models, command, capsys):
    assert main([command[0], "-m", models[10], *command[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "10 logits" in err


def test_look_refuses_it(models, capsys):
    from zoomhard.data.samples import SAMPLES, sample_path

    _, package, rel, _ = SAMPLES[0]
    assert main(["look", str(sample_path(package, rel)), "-m", models[10], "--scales", "256"]) == 2
    assert "10 logits" in capsys.readouterr().err


def test_a_1001_wide_model_needs_drop_background_and_then_scores_as_its_1000(models, tmp_path, capsys):
    out = tmp_path / "bg"
    common = ["-d", "samples", "--scales", "256", "--no-progress"]
    assert main(["sweep", "-m", models[1001], "-o", str(out), *common]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "1001 logits" in err and "--drop-background" in err
    assert not out.exists()
    assert main(["sweep", "-m", models[1001], "-o", str(out), "--drop-background", *common]) == 0
    assert main(["sweep", "-m", models[1000], "-o", str(tmp_path / "plain"), *common]) == 0
    a, b = RunStore(out).predictions(), RunStore(tmp_path / "plain").predictions()
    a, b = a.sort_by([("image_id", "ascending"), ("row", "ascending"), ("col", "ascending")]), \
        b.sort_by([("image_id", "ascending"), ("row", "ascending"), ("col", "ascending")])
    assert a.column("top1").to_pylist() == b.column("top1").to_pylist()
    assert pc.max(a.column("top1")).as_py() < 1000
    assert RunStore(out).read_config()["classifier"]["label_offset"] == 1
    # a 1000-wide model has no background to drop
    assert main(["sweep", "-m", models[1000], "-o", str(tmp_path / "x"), "--drop-background", *common]) == 2
    assert "--drop-background needs 1001 outputs" in capsys.readouterr().err


def test_the_python_api_refuses_a_22k_head_before_writing(tmp_path):
    out = tmp_path / "run"
    photo = [(PIL.Image.open(sample_path(SAMPLES[0][1], SAMPLES[0][2])).convert("RGB"), 281)]
    with pytest.raises(zh.ZoomhardError, match="gives 21843 logits"):
        zh.sweep(head(21843), photo, scales="256", mean=(0.5,) * 3, std=(0.5,) * 3, out=out, backend="torch",
                 progress=False)
    assert not out.exists()
    with pytest.raises(zh.ZoomhardError, match="1001 logits.*drop_background=True"):
        zh.sweep(head(1001), photo, scales="256", mean=(0.5,) * 3, std=(0.5,) * 3, backend="torch", progress=False)
    run = zh.sweep(head(1001), photo, scales="256", mean=(0.5,) * 3, std=(0.5,) * 3, backend="torch",
                   progress=False, drop_background=True)
    assert not run.errors and run.images.num_rows == 1  # the model was taken, its first logit dropped
