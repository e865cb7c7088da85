"""One model/data/protocol setup for sweep, bench and tta: every command takes every option of it,
and a command's config hands it on whole."""

import json

import pytest

from zoomhard.cli import bench, main, sweep, tta
from zoomhard.config import SETUP_FIELDS, Setup


@pytest.mark.parametrize("command", [sweep, bench, tta], ids=lambda c: c.name)
def test_every_command_takes_every_setup_option(command):
    names = {p.name for p in command.params}
    model = "models" if command.name == "bench" else "model"
    assert set(SETUP_FIELDS) - {"model"} | {model} <= names


def test_a_sweep_config_hands_on_its_setup_whole():
    from zoomhard.sweep import SweepConfig

    cfg = SweepConfig(model="lite1", data="samples", out="x", weights="w.pt", labels="l.csv", subset="none",
                      real_labels="r.json", real_mode="real", clip_norm="imagenet", mean=(0.5,) * 3, std=(0.2,) * 3,
                      protocol="study", backend="torch", device="cpu", allow_outside_root=True)
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
