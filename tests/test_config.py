"""One model/data/protocol setup for sweep, bench and tta: every command takes every option of it,
and a command's config hands it on whole."""

import json

import pytest

from zoomhard.cli import bench, main, sweep, tta
from zoomhard.config import SETUP_FIELDS, Setup
from zoomhard.grid import ZoomGrid


@pytest.mark.parametrize("command", [sweep, bench, tta], ids=lambda c: c.name)
def test_every_command_takes_every_setup_option(command):
    names = {p.name for p in command.params}
    model = "models" if command.name == "bench" else "model"
    assert set(SETUP_FIELDS) - {"model"} | {model} <= names


def test_a_sweep_config_hands_on_its_setup_whole():
    from zoomhard.sweep import SweepConfig

    from zoomhard.library import _config

    cfg = _config("lite1", "samples", "x", ZoomGrid(), dict(weights="w.pt", labels="l.csv", subset="none",
                  real_labels="r.json", real_mode="real", clip_norm="imagenet", mean=[0.5] * 3, std=(0.2,) * 3,
                  protocol="study", backend="torch", device="cpu", allow_outside_root=True))
    assert cfg.setup == Setup("lite1", "samples", "w.pt", "l.csv", "none", "r.json", "real", "imagenet", (0.5,) * 3,
                              (0.2,) * 3, "study", "torch", "cpu", True)


def test_bench_takes_the_normalisation_override(capsys, tmp_path, monkeypatch):
    """--mean/--std, once a sweep option only, reach bench's classifier (torch: no ONNX export of
    the other normalisation lands in the session's cache, where other tests look for lite0's)."""
    monkeypatch.setenv("ZOOMHARD_CACHE", str(tmp_path / "cache"))
    assert main(["bench", "-m", "lite0", "-d", "samples", "--mean", "0.25,0.5,0.75", "--std", "0.5,0.5,0.5",
                 "--backend", "torch", "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["preprocess"]["mean"] == pytest.approx([0.25, 0.5, 0.75])
    assert summary["preprocess"]["std"] == pytest.approx([0.5] * 3)


def test_each_setting_comes_from_the_flag_then_the_protocol_then_the_model():
    """protocol.resolve: an explicit option wins over what the protocol sets for the command,
    which wins over the model's own config (None: load_classifier keeps the model's)."""
    from zoomhard import protocol
    from zoomhard.models.base import IMAGENET_MEAN, IMAGENET_STD

    def resolve(command="sweep", **options):
        return protocol.resolve(Setup("open_clip:ViT-B-32/openai", "samples", **options), command)

    assert resolve() == protocol.Resolved(mean=None, std=None, preprocess=None, fp32=False)     # the model's own
    study = resolve(protocol="study")                                                           # the protocol's
    assert (study.mean, study.std, study.preprocess, study.fp32) == (IMAGENET_MEAN, IMAGENET_STD, None, True)
    assert resolve(protocol="study", clip_norm="clip").mean is None                            # the flag's
    assert resolve(clip_norm="imagenet").mean == IMAGENET_MEAN
    both = resolve(protocol="study", clip_norm="imagenet", mean=(0.5,) * 3)                     # --mean over --clip-norm
    assert (both.mean, both.std) == ((0.5,) * 3, IMAGENET_STD)
    bench = resolve("bench", protocol="study")     # bench under study: the study's eval crop, CLIP's own mean/std
    assert bench.mean is None and bench.preprocess is not None and bench.fp32
    assert [protocol.views(name, given) for name, given in (("native", None), ("study", None), ("study", 3))] \
        == [16, 64, 3]
