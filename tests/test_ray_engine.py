"""The Ray engine: same run folder as the local engine, fault tolerant, optional.

A local Ray cluster (2 CPUs, no GPU) is started once for the module; the sweeps join it.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest

from zoomhard.cli import main
from zoomhard.runs.store import RunStore

ray = pytest.importorskip("ray")

SRC = str(Path(__file__).resolve().parents[1] / "src")
KEY = ["image_id", "scale", "row", "col"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def sweep(out, *extra, scales="128,256"):
    return main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--scales", scales, "--no-progress",
                 *extra])


def rows(out):
    return RunStore(out).predictions().sort_by([(k, "ascending") for k in KEY])


def test_ray_engine_matches_local_engine(cluster, tmp_path, monkeypatch):
    """The sample photos and every awkward kind of file, swept by both engines: the same
    predictions, image table, errors and summary. Ray takes the images in waves of 5."""
    from badimages import write_awkward

    from zoomhard.data import open_source
    from zoomhard.sweep import ray as engine

    monkeypatch.setattr(engine, "WAVE_IMAGES", 5)
    waves, dataset = [], engine._dataset
    monkeypatch.setattr(engine, "_dataset", lambda ray, cfg, items, plan: waves.append(len(items)) or
                        dataset(ray, cfg, items, plan))

    folder = tmp_path / "imgs"
    awkward = write_awkward(folder)
    lines = [f"{n},n02123045;n02123159" for n in awkward] + ["missing.jpg,281"]
    for it in open_source("samples"):
        (folder / it.image_id).symlink_to(it.read())
        lines.append(f"{it.image_id},{';'.join(map(str, it.labels))}")
    (folder / "labels.csv").write_text("image,labels\n" + "\n".join(lines) + "\n")
    for name in ("local", "ray"):
        assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(tmp_path / name), "--scales", "128,256",
                     "--no-progress", "--engine", name]) == 0

    local, remote = rows(tmp_path / "local"), rows(tmp_path / "ray")
    swept = 6 + sum(v == "ok" for v in awkward.values())
    assert len(waves) >= 3 and max(waves) == 5
    assert local.num_rows == remote.num_rows == swept * 18
    for col in KEY + ["top1", "correct", "top5"]:
        assert local.column(col).equals(remote.column(col)), col
    assert np.allclose(local.column("label_prob").to_numpy(), remote.column("label_prob").to_numpy(), atol=1e-5)
    ls, rs = RunStore(tmp_path / "local"), RunStore(tmp_path / "ray")
    assert ls.images().sort_by("image_id").equals(rs.images().sort_by("image_id"))
    assert rs.errors() == ls.errors() and len(ls.errors()) == len(awkward) + 7 - swept
    config = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert config["sessions"][-1]["engine"]["name"] == "ray"
    assert config["summary"] == json.loads((tmp_path / "local" / "run.json").read_text())["summary"]

    # The local engine resumes a Ray run: everything is done, nothing is added.
    assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(tmp_path / "ray"), "--scales", "128,256",
                 "--no-progress"]) == 0
    assert rows(tmp_path / "ray").equals(remote)


def _actor_pids() -> set[int]:
    """Processes of the classifier actors (Ray titles them after the class)."""
    pids = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"MapBatches(Classify)" in cmd:
                pids.add(int(d.name))
    return pids


def test_killed_actor_loses_nothing_and_duplicates_nothing(cluster, tmp_path):
    out = tmp_path / "run"
    result = {}
    # flush after every image, so that the kill lands after some images were written
    worker = threading.Thread(target=lambda: result.update(rc=sweep(out, "--engine", "ray", "--flush-seconds", "0",
                                                                     scales="128:1024:128")))
    worker.start()
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "predictions").glob("part-*.parquet")):
        time.sleep(0.05)
    written = len(RunStore(out).done_ids())
    victims = _actor_pids()
    assert victims, "no classifier actor found"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    worker.join(timeout=180)
    assert result.get("rc") == 0
    assert 0 < written < 6  # the kill landed mid-run
    assert not victims & _actor_pids()  # the actor that ran after the kill was a new process

    _exactly_once(out, 6, 72)


def _exactly_once(out, images, transforms):
    table = RunStore(out).predictions(columns=KEY)
    ids = pc.binary_join_element_wise(table["image_id"], pc.cast(table["scale"], "string"),
                                      pc.cast(table["row"], "string"), pc.cast(table["col"], "string"), "/")
    assert table.num_rows == pc.count_distinct(ids).as_py() == images * transforms
    assert not RunStore(out).errors()


def test_killed_driver_resumes(cluster, tmp_path):
    """A driver joined to the cluster (--ray-address) is SIGKILLed mid-run; the same command
    run again finishes the run with every (image, transform) exactly once."""
    out = tmp_path / "run"
    args = ["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--scales", "128:1024:128", "--no-progress",
            "--engine", "ray", "--flush-seconds", "0"]
    driver = subprocess.Popen([sys.executable, "-m", "zoomhard.cli", *args, "--ray-address", cluster],
                              env={**os.environ, "PYTHONPATH": SRC}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and driver.poll() is None and not list((out / "predictions").glob("part-*")):
            time.sleep(0.05)
    finally:
        driver.kill()
        driver.wait()
    written = len(RunStore(out).done_ids())
    assert 0 < written < 6
    assert main(args) == 0
    _exactly_once(out, 6, 72)


def test_missing_ray_is_one_line_and_exit_2(tmp_path):
    # `import ray` really fails in this interpreter: a None entry in sys.modules stops the import.
    code = ("import sys; sys.modules['ray'] = None; from zoomhard.cli import main; "
            f"sys.exit(main(['sweep', '-m', 'lite0', '-d', 'samples', '-o', {str(tmp_path / 'run')!r}, "
            "'--engine', 'ray', '--no-progress']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": SRC})
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'zoomhard[ray]'" in lines[0], p.stderr
    assert not (tmp_path / "run").exists()


def test_ray_address_needs_ray_engine(tmp_path, capsys):
    assert sweep(tmp_path / "run", "--ray-address", "auto") == 2
    assert "--engine ray" in capsys.readouterr().err


def test_unreachable_ray_address_fails_fast(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert sweep(tmp_path / "run", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no Ray cluster answers" in err[0]


@pytest.mark.parametrize("resources, device, want", [
    ({"CPU": 2}, "auto", {"actors": 1, "num_cpus": 1, "threads": 2}),   # crop tasks keep one CPU
    ({"CPU": 1}, "auto", {"actors": 1, "num_cpus": 0.5, "crop_cpus": 0.5}),
    ({"CPU": 16}, "auto", {"actors": 6, "num_cpus": 2, "threads": 2}),
    ({"CPU": 32, "GPU": 4}, "auto", {"actors": 4, "num_gpus": 1, "device": "cuda"}),
    ({"CPU": 32, "GPU": 4}, "cpu", {"num_gpus": 0, "device": "cpu"}),
])
def test_actor_plan_leaves_cpus_to_crop_tasks(resources, device, want):
    from zoomhard.sweep.ray import plan_actors

    plan = plan_actors(resources, device)
    assert {k: plan[k] for k in want} == want
    if not plan["num_gpus"]:
        assert plan["actors"] * plan["num_cpus"] + plan["crop_cpus"] <= resources["CPU"]


def test_cuda_without_gpus_is_a_user_error():
    from zoomhard.sweep.ray import plan_actors

    with pytest.raises(ValueError, match="no GPUs"):
        plan_actors({"CPU": 8}, "cuda")
