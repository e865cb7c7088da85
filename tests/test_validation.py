"""One validation for every entry point: the command line, zoomhard.sweep() and a study file
refuse the same out-of-range values with the same one line (exit 2, or a ZoomhardError), before
any image is decoded or any model loaded."""

import math
import time
from pathlib import Path

import pytest

import zoomhard
from zoomhard.cli import main
from zoomhard.errors import UsageError, ZoomhardError

SMALL = ["--scales", "256", "--no-progress"]


def _refused(call, match: str):
    t0 = time.perf_counter()
    with pytest.raises(ZoomhardError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
    assert time.perf_counter() - t0 < 30, "refused only after work was done"
    return info.value


@pytest.mark.parametrize("options, match", [
    ({"batch_size": 0}, "batch_size 0"),
    ({"batch_size": 1e11}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"workers": 100000}, "workers 100000"),
    ({"workers": 0}, "workers 0"),
    ({"anchors": 0}, "anchors"),
    ({"anchors": 130}, "anchors"),
    ({"anchors": 200}, "anchors"),
    ({"crop": 0}, "crop 0"),
    ({"crop": 1}, "crop 1"),
    ({"crop": 8192}, "crop 8192"),
    ({"crop": 100000}, "crop 100000"),
    ({"scales": [math.inf]}, "scale inf"),
    ({"scales": [True]}, "scale True"),
    ({"scales": [224.9]}, "scale 224.9"),
    ({"scales": [32768]}, "scale 32768"),
    ({"scales": ""}, "at least one scale"),
    ({"scales": []}, "at least one scale"),
    ({"flush_seconds": math.nan}, "flush_seconds nan"),
    ({"flush_seconds": math.inf}, "flush_seconds inf"),
    ({"device": "tpu"}, "device 'tpu'.*cuda:N"),
    ({"protocol": "bogus"}, "protocol 'bogus'.*native, study"),
    ({"shard": (3, 2)}, r"shard \(3, 2\)"),
    ({"shard": (0, 0)}, "shard"),
    ({"backend": "tensorrt"}, "backend 'tensorrt'"),
    ({"resize": "gpu"}, "resize 'gpu'"),
], ids=lambda v: repr(v)[:40])
def test_the_python_api_refuses_what_the_command_line_refuses(tmp_path, options, match):
    options = {"scales": "256", **options}
    _refused(lambda: zoomhard.sweep("lite0", "samples", out=tmp_path / "run", progress=False, **options), match)
    assert not (tmp_path / "run").exists()


def test_a_batch_that_cannot_fit_in_memory_is_refused_naming_the_limit(tmp_path):
    e = _refused(lambda: zoomhard.sweep("lite0", "samples", out=tmp_path / "run", scales="256", crop=4096,
                                        batch_size=65536), "memory")
    assert "GB" in str(e) and "lower the batch size" in str(e)


def test_an_empty_list_of_images_is_refused_in_one_line(tmp_path):
    _refused(lambda: zoomhard.sweep("lite0", [], out=tmp_path / "run", scales="256"), "holds no images")


def test_a_device_this_machine_lacks_is_refused_in_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    _refused(lambda: zoomhard.sweep("lite0", "samples", out=tmp_path / "run", scales="256", device="cuda"),
             "no CUDA device")


def test_configs_made_in_python_check_their_options_too():
    from zoomhard.bench import BenchConfig
    from zoomhard.config import Setup
    from zoomhard.sweep import SweepConfig
    from zoomhard.tta import TTAConfig

    with pytest.raises(UsageError, match="batch_size 0"):
        BenchConfig([Setup("lite0", "samples")], batch_size=0)
    with pytest.raises(UsageError, match="workers"):
        TTAConfig(Setup("lite0", "samples"), methods=("zoom-mean",), workers=-1)
    with pytest.raises(UsageError, match="protocol"):
        SweepConfig(Setup("lite0", "samples", protocol="bogus"), out="x")
    cfg = SweepConfig(Setup("lite0", "samples"), out="x")
    cfg.batch_size = 0   # changed after it was made: run_sweep checks again
    from zoomhard.sweep import run_sweep

    with pytest.raises(UsageError, match="batch_size 0"):
        run_sweep(cfg)


@pytest.mark.parametrize("args, match", [
    (["--scales", "32768"], "scale 32768"),
    (["--scales", "1:100000:1"], "scale 8193"),
    (["--scales", ""], "at least one scale"),
    (["--flush-seconds", "nan"], "flush_seconds nan"),
    (["--flush-seconds", "inf"], "flush_seconds inf"),
], ids=lambda v: repr(v)[:30])
def test_the_command_line_refuses_in_one_line_before_any_work(tmp_path, capsys, args, match):
    import re

    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), *SMALL, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(match, err), err
    assert not out.exists()


def test_an_out_folder_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(tmp_path / "file" / "sub"), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a file, not a folder" in err
    for command in (["curate", str(tmp_path), "-o", str(tmp_path / "file" / "sub")],
                    ["report", str(tmp_path), "-o", str(tmp_path / "file" / "sub" / "r.html")]):
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "not a folder" in err, err


def test_an_out_name_over_255_bytes_is_one_line(tmp_path, capsys):
    long = tmp_path / ("x" * 300)
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(long), *SMALL]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "255" in err
    with pytest.raises(UsageError, match="255"):
        zoomhard.sweep("lite0", "samples", out=long, scales="256")


STUDY = """
[models.lite0]
spec = "lite0"
[datasets.samples]
data = "samples"
[[experiments]]
kind = "zoom"
{extra}
"""


@pytest.mark.parametrize("extra, match", [
    ("scales = [inf]", "scale inf"),
    ("scales = [true]", "scale True"),
    ("scales = [224.9]", "scale 224.9"),
    ("scales = [32768]", "scale 32768"),
    ("scales = []", "at least one scale"),
    ("anchors = 200", "anchors"),
    ("crop = 1", "crop 1"),
    ("crop = 100000", "crop 100000"),
    ('scales = "256"\nworkers = 100000', "workers 100000"),
    ('scales = "256"\nbatch_size = 1e11', "batch_size"),
    ('scales = "256"\ndevice = "tpu"', "device"),
], ids=lambda v: v[:30])
def test_a_study_file_is_checked_as_the_command_line_is(tmp_path, capsys, extra, match):
    import re

    path = tmp_path / "s.toml"
    path.write_text(STUDY.format(extra=extra))
    for dry in (["--dry-run"], []):
        assert main(["reproduce", str(path), "--out", str(tmp_path / "o"), "--no-progress", *dry]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and re.search(match, err), err
    assert not Path(tmp_path / "o" / "runs").exists()
