"""Command-line conventions a first user expects: did-you-mean for data and bare model names,
any torch device by name, concrete model listings, quiet runs, bars only on a terminal, shell
completion."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from zoomhard.cli import main

ZOOMHARD = [sys.executable, "-m", "zoomhard"]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


@pytest.mark.parametrize("data,close", [("sample", "samples"), ("samples-offcenter", "samples-offcentre")])
def test_a_misspelt_data_spec_suggests_the_right_one(tmp_path, capsys, data, close):
    assert main(["sweep", "-m", "lite0", "-d", data, "-o", str(tmp_path / "r")]) == 2
    assert error_line(capsys) == f"zoomhard: error: {data}: no such folder (did you mean {close}?)"


def test_a_bare_library_model_name_suggests_its_spec(tmp_path, capsys):
    assert main(["sweep", "-m", "resnet50", "-d", "samples", "-o", str(tmp_path / "r")]) == 2
    assert "(did you mean torchvision:resnet50 or timm:resnet50?)" in error_line(capsys)
    assert main(["bench", "-m", "vit_base_patch32_224", "-d", "samples"]) == 2
    assert "(did you mean timm:vit_base_patch32_224?)" in error_line(capsys)


def test_devices_are_named_as_torch_names_them_and_checked_to_be_here(tmp_path, capsys):
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(tmp_path / "r"), "--device", "gpu"]) == 2
    assert "unknown device 'gpu'; choose one of: auto, cpu, cuda, cuda:N, mps" in error_line(capsys)
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(tmp_path / "r"), "--scales", "256",
                 "--device", f"cuda:{gpus}", "--no-progress"]) == 2
    err = error_line(capsys)
    if gpus:
        assert f"--device cuda:{gpus}: this machine has {gpus} CUDA device(s): cuda:0" in err
    else:
        assert f"--device cuda:{gpus}: no CUDA device here" in err and "use --device cpu" in err
    if not torch.backends.mps.is_available():
        assert main(["bench", "-m", "lite0", "-d", "samples", "--device", "mps", "--backend", "torch"]) == 2
        assert "--device mps: Apple's Metal (MPS) is not available here" in error_line(capsys)
    assert not (tmp_path / "r").exists()     # refused before the run folder is made


def test_models_pattern_lists_concrete_models_from_the_libraries_registries(capsys):
    import open_clip
    import timm
    import torchvision

    assert main(["models", "timm:vit_base_patch32_*"]) == 0
    assert capsys.readouterr().out.split() == [f"timm:{n}" for n in timm.list_models("vit_base_patch32_*")]
    assert main(["models", "torchvision:*", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "torchvision:resnet50" in listed and len(listed) == len(torchvision.models.list_models(torchvision.models))
    assert main(["models", "open_clip:ViT-L-14/*"]) == 0
    assert "open_clip:ViT-L-14/openai" in capsys.readouterr().out.split()
    assert len([t for t in open_clip.list_pretrained() if t[0] == "ViT-L-14"]) > 1
    assert main(["models", "resnet50"]) == 0
    assert capsys.readouterr().out.split() == ["torchvision:resnet50", "timm:resnet50"]
    assert main(["models", "timm:no_such_net*"]) == 2
    assert "no model matches 'timm:no_such_net*'" in error_line(capsys)
    assert main(["models", "hfmodel:*"]) == 2
    assert "listable sources: lite, torchvision, timm, open_clip" in error_line(capsys)
    assert main(["models", "--study", "resnet*"]) == 0      # the study's networks, as before, filtered
    rows = capsys.readouterr().out.splitlines()
    assert rows and all("ResNet" in r for r in rows)


def test_quiet_says_nothing_but_the_result_and_bars_show_only_on_a_terminal(samples_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(samples_run, run)    # resumed here: the shared run keeps its sessions
    args = ["sweep", "-m", "lite0", "-d", "samples", "-o", str(run)]
    loud = subprocess.run(ZOOMHARD + args, capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and "resuming" in loud.stderr
    assert "img/s" not in loud.stderr and "sweep:" not in loud.stderr    # stderr is no terminal here
    quiet = subprocess.run(ZOOMHARD + args + ["-q"], capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and quiet.stderr == "" and "6 images x 324 transforms" in quiet.stdout
    asked = subprocess.run(ZOOMHARD + args + ["--progress"], capture_output=True, text=True, timeout=300)
    assert "sweep: 100%" in asked.stderr


def test_shell_completion_completes_commands_and_options():
    env = {**os.environ, "_ZOOMHARD_COMPLETE": "bash_source"}
    script = subprocess.run(ZOOMHARD, capture_output=True, text=True, env=env, timeout=60)
    assert script.returncode == 0 and "_zoomhard_completion" in script.stdout
    env.update(_ZOOMHARD_COMPLETE="bash_complete", COMP_WORDS="zoomhard sweep --dev", COMP_CWORD="2")
    words = subprocess.run(ZOOMHARD, capture_output=True, text=True, env=env, timeout=60).stdout
    assert "--device" in words
