"""Faults and hostile input: a run folder must only ever hold what it says it holds, no input
may stop or hang a sweep, and nothing outside the data may be read. Small grids throughout."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from badimages import sample
from zoomhard.cli import main
from zoomhard.runs.store import RunStore

ZOOMHARD = [sys.executable, "-m", "zoomhard.cli"]
# 8 transforms per image; eager torch: no ONNX export for each new weights file
SMALL = ["--scales", "224,256", "--anchors", "2", "--no-progress", "--backend", "torch"]
CAT = "281;282;285"


def sweep(*args) -> int:
    return main(["sweep", "-m", "lite0", *map(str, args), *SMALL])


def keys(out: Path) -> list[tuple]:
    t = RunStore(out).predictions(columns=["image_id", "scale", "row", "col"])
    return list(zip(*(t[c].to_pylist() for c in t.column_names)))


def cat_folder(folder: Path, n: int, labels: str = CAT) -> Path:
    """n copies of the cat photo, each its own file, with a labels.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    cat = sample("chelsea.png").resize((160, 120))
    rows = ["image,labels"]
    for i in range(n):
        cat.save(folder / f"{i:03d}.jpg", quality=90)
        rows.append(f"{i:03d}.jpg,{labels}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected a message on stderr"
    return err[-1]


# -- results that are not what the folder says ----------------------------------------------------

def test_new_weights_at_the_same_path_are_another_run(tmp_path, capsys):
    import torch

    from zoomhard.models import load_model

    module, _ = load_model("lite0")
    weights = tmp_path / "w.pt"
    torch.save(module.state_dict(), weights)
    out = tmp_path / "run"
    assert sweep("-d", "samples", "-o", out, "--weights", weights) == 0
    config = json.loads((out / "run.json").read_text())
    import hashlib

    assert config["digests"]["weights"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    state = module.state_dict()
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first] = state[first] * 0.5
    torch.save(state, weights)
    before = keys(out)
    capsys.readouterr()
    assert sweep("-d", "samples", "-o", out, "--weights", weights) == 2
    line = error_line(capsys)
    assert "another digests" in line and "weights file sha256" in line
    assert keys(out) == before


def test_another_labels_file_is_another_run(tmp_path, capsys):
    folder = cat_folder(tmp_path / "imgs", 2)
    out = tmp_path / "run"
    assert sweep("-d", folder, "-o", out) == 0
    (folder / "labels.csv").write_text("image,labels\n000.jpg,967\n001.jpg,967\n")
    capsys.readouterr()
    assert sweep("-d", folder, "-o", out) == 2
    assert "labels file sha256" in error_line(capsys)


def test_parts_without_run_json_are_refused_naming_them(tmp_path, capsys):
    out = tmp_path / "run"
    assert sweep("-d", "samples", "-o", out) == 0
    n = len(list((out / "predictions").glob("part-*.parquet")))
    (out / "run.json").unlink()
    capsys.readouterr()
    assert main(["sweep", "-m", "lite1", "-d", "samples", "-o", str(out), *SMALL]) == 2
    line = error_line(capsys)
    assert f"{n} predictions part" in line and "no run.json" in line
    assert not (out / "run.json").exists()


def test_a_part_of_another_run_is_refused(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    folder = cat_folder(tmp_path / "imgs", 1)
    assert sweep("-d", "samples", "-o", a) == 0
    assert sweep("-d", folder, "-o", b) == 0
    part = next((a / "predictions").glob("part-*.parquet"))
    assert pq.read_schema(part).metadata[b"zoomhard.run"]
    for kind in ("predictions", "images"):
        (b / kind / part.name).write_bytes((a / kind / part.name).read_bytes())
    capsys.readouterr()
    assert sweep("-d", folder, "-o", b) == 2
    assert "written by another run" in error_line(capsys)


def _wait_for(predicate, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not predicate():
        time.sleep(0.05)
    assert predicate(), "timed out"


def _sessions(out: Path) -> list:
    try:
        return json.loads((out / "run.json").read_text())["sessions"]
    except (OSError, ValueError, KeyError):
        return []


def test_a_second_writer_is_refused_saying_who_writes(tmp_path):
    folder = cat_folder(tmp_path / "imgs", 40)
    out = tmp_path / "run"
    cmd = ZOOMHARD + ["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), "--scales", "128,256,512",
                      "--flush-seconds", "0", "--batch-size", "8", "--no-progress"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: (out / ".lock").is_file() and (out / ".lock").stat().st_size > 0)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert first.poll() is None, "the first writer should still be running"
        assert second.returncode == 2
        line = second.stderr.strip().splitlines()[-1]
        assert f"is being written by pid {first.pid} on " in line and " since " in line
        _wait_for(lambda: bool(_sessions(out)))
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=120) in (0, 143)
    assert len(keys(out)) == len(set(keys(out)))
    assert len(_sessions(out)) == 1, "the refused writer records no session"


def test_shards_each_record_their_own_session(tmp_path):
    folder = cat_folder(tmp_path / "imgs", 6)
    out = tmp_path / "run"
    cmds = [ZOOMHARD + ["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), *SMALL, "--shard", f"{k}/2"]
            for k in range(2)]
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for c in cmds]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    sessions = _sessions(out)
    assert sorted(s["shard"] for s in sessions) == ["0/2", "1/2"]
    assert sorted(s["images"] for s in sessions) == [3, 3]
    assert len(keys(out)) == len(set(keys(out))) == 6 * 8


def test_sigterm_flushes_what_is_finished_and_resumes_exactly_once(tmp_path):
    folder = cat_folder(tmp_path / "imgs", 100)
    out = tmp_path / "run"
    # Nothing is flushed on a timer: every row after SIGTERM was written by its handler.
    cmd = ZOOMHARD + ["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), "--scales", "128,256,512",
                      "--anchors", "2", "--flush-seconds", "100000", "--batch-size", "8", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: bool(_sessions(out)))
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, proc.stderr.read()
    done = RunStore(out).done_ids()
    assert 0 < len(done) < 100, "the signal should land mid-run"
    assert len(keys(out)) == len(done) * 12
    assert _sessions(out)[-1]["images"] == len(done)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert len(keys(out)) == len(set(keys(out))) == 100 * 12
    assert _sessions(out)[-1]["images"] == 100 - len(done)


def test_a_stop_that_lands_during_a_write_waits_for_it(tmp_path, monkeypatch):
    # SIGTERM while the last part is being written: the part is kept, then the run stops (143).
    folder = cat_folder(tmp_path / "imgs", 3)
    out = tmp_path / "run"
    real = RunStore.write_part

    def interrupted(self, *tables, **kw):
        os.kill(os.getpid(), signal.SIGTERM)   # delivered to the main thread, mid-write
        time.sleep(0.1)
        return real(self, *tables, **kw)

    monkeypatch.setattr(RunStore, "write_part", interrupted)
    assert sweep("-d", folder, "-o", out, "--flush-seconds", "100000") == 143
    assert RunStore(out).done_ids() == {f"{i:03d}.jpg" for i in range(3)}
    assert len(keys(out)) == len(set(keys(out))) == 3 * 8


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("kind", ["predictions", "images"])
def test_a_truncated_part_is_set_aside_and_its_images_swept_again(tmp_path, capsys, kind):
    folder = cat_folder(tmp_path / "imgs", 4)
    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), *SMALL, "--flush-seconds", "0",
                 "--batch-size", "4"]) == 0
    parts = sorted((out / kind).glob("part-*.parquet"))
    assert len(parts) >= 2
    _truncate(parts[0])
    capsys.readouterr()
    assert sweep("-d", folder, "-o", out) == 0
    err = capsys.readouterr().err
    assert "is unreadable" in err and "set aside" in err
    assert (out / kind / ".corrupt" / parts[0].name).is_file()
    assert len(keys(out)) == len(set(keys(out))) == 4 * 8
    assert _sessions(out)[-1]["images"] >= 1


def test_readers_skip_a_truncated_part_and_say_so(tmp_path, capsys):
    folder = cat_folder(tmp_path / "imgs", 4)
    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), *SMALL, "--flush-seconds", "0",
                 "--batch-size", "4"]) == 0
    part = sorted((out / "predictions").glob("part-*.parquet"))[0]
    _truncate(part)
    capsys.readouterr()
    assert main(["analyze", str(out)]) == 0
    assert "set aside" in capsys.readouterr().err
    part2 = sorted((out / "predictions").glob("part-*.parquet"))[0]
    _truncate(part2)
    assert main(["report", str(out), "--out", str(tmp_path / "r.html")]) == 0
    assert main(["curate", str(out), "--out", str(tmp_path / "hard"), "--min-runs", "1"]) in (0, 2)
    assert "Traceback" not in capsys.readouterr().err


# -- input that stops or hangs a run --------------------------------------------------------------

def _errors(out: Path) -> dict[str, str]:
    return RunStore(out).errors()


def _swept(out: Path) -> set[str]:
    return set(RunStore(out).images().column("image_id").to_pylist())


def test_every_odd_entry_of_a_wnid_layout_is_swept_or_recorded(tmp_path, capsys):
    root = tmp_path / "data"
    tabby = root / "n02123045"
    (tabby / "deeper").mkdir(parents=True)
    cat = sample("chelsea.png").resize((160, 120))
    cat.save(tabby / "plain.jpg")
    cat.save(tabby / "deeper" / "nested.jpg")
    odd = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: not UTF-8
    cat.save(os.path.join(tabby, odd), format="JPEG")
    os.mkfifo(tabby / "pipe.jpg")
    (tabby / "dangling.jpg").symlink_to(tabby / "gone.jpg")
    (tabby / "loop.jpg").symlink_to(tabby / "loop.jpg")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    cat.save(outside / "secret.jpg")
    (tabby / "linked_file.jpg").symlink_to(outside / "secret.jpg")  # the folder owner's link: followed
    (tabby / "linked_dir").symlink_to(outside, target_is_directory=True)
    (root / "misc").mkdir()
    cat.save(root / "misc" / "stray.jpg")
    out = tmp_path / "run"
    assert sweep("-d", root, "-o", out) == 0
    odd_id = "n02123045/caf\\xe9.jpg"
    assert _swept(out) == {"n02123045/plain.jpg", "n02123045/deeper/nested.jpg", odd_id, "n02123045/linked_file.jpg"}
    errors = _errors(out)
    assert "not a regular file (a FIFO)" in errors["n02123045/pipe.jpg"]
    assert errors["n02123045/dangling.jpg"] == "dangling symlink"
    assert errors["n02123045/loop.jpg"] == "symlink loop"
    assert "linked folder, not followed" in errors["n02123045/linked_dir"]
    assert "not an ImageNet wnid folder" in errors["misc/"]
    # the odd name's locator reads the very file back
    from zoomhard.crops import decode_image
    from zoomhard.data import open_locator

    images = RunStore(out).images().to_pylist()
    locator = next(r["locator"] for r in images if r["image_id"] == odd_id)
    assert decode_image(open_locator(locator)).size == (160, 120)
    capsys.readouterr()
    assert sweep("-d", root, "-o", out) == 0  # a resume finds everything done
    assert "9 of 9 images already done" in capsys.readouterr().err
    assert len(keys(out)) == len(set(keys(out))) == 4 * 8


def test_labels_csv_with_bom_bad_rows_duplicates_and_paths_outside(tmp_path, capsys):
    root = cat_folder(tmp_path / "data", 2)
    sample("chelsea.png").resize((160, 120)).save(tmp_path / "outside.jpg")
    rows = ["image,labels", f"000.jpg,{CAT}", "001.jpg,n99999999", f"000.jpg,{CAT}", f"../outside.jpg,{CAT}",
            f"{tmp_path / 'outside.jpg'},{CAT}"]
    (root / "labels.csv").write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(rows) + "\r\n").encode())  # Excel's CSV UTF-8
    out = tmp_path / "run"
    assert sweep("-d", root, "-o", out) == 0
    assert _swept(out) == {"000.jpg"}
    errors = _errors(out)
    assert "labels.csv line 3" in errors["001.jpg"] and "n99999999" in errors["001.jpg"]
    assert "outside the data folder" in errors["../outside.jpg"]
    assert "outside the data folder" in errors[str(tmp_path / "outside.jpg")]
    assert sweep("-d", root, "-o", tmp_path / "run2", "--allow-outside-root") == 0
    assert _swept(tmp_path / "run2") == {"000.jpg", "../outside.jpg", str(tmp_path / "outside.jpg")}
    (root / "labels.csv").write_text(f"image,labels\n000.jpg,{CAT}\n000.jpg,967\n")
    capsys.readouterr()
    assert sweep("-d", root, "-o", tmp_path / "run3") == 2
    line = error_line(capsys)
    assert "lines 2 and 3 both give '000.jpg'" in line


def _jpeg(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="JPEG")
    return buf.getvalue()


def test_parquet_columns_are_cast_or_recorded_naming_column_and_row(tmp_path):
    import pyarrow as pa

    cat = _jpeg(sample("chelsea.png").resize((160, 120)))
    folder = tmp_path / "pq"
    folder.mkdir()
    (folder / "inside.jpg").write_bytes(cat)
    (tmp_path / "outside.jpg").write_bytes(cat)
    # labels as text (indices or wnids), an integer origin, paths instead of bytes
    pq.write_table(pa.table({
        "image": ["a0.jpg", "a1.jpg", "inside.jpg", "../outside.jpg", str(tmp_path / "outside.jpg")],
        "label": ["281", "tabby", "n02123045", "281", "281"],
        "origin": [7] * 5,
    }), folder / "d.parquet")
    # float labels: whole numbers are indices, a fraction names no class
    pq.write_table(pa.table({"image": [{"bytes": cat, "path": "f0.jpg"}, {"bytes": cat, "path": "f1.jpg"}],
                             "label": [281.0, 281.5]}), folder / "e.parquet")
    for i in range(2):
        (folder / f"a{i}.jpg").write_bytes(cat)
    out = tmp_path / "run"
    assert sweep("-d", f"parquet:{folder}/*.parquet", "-o", out) == 0
    assert _swept(out) == {"a0.jpg", "inside.jpg", "f0.jpg"}
    images = RunStore(out).images().to_pylist()
    assert sorted(r["origin"] for r in images) == ["", "7", "7"] and all(r["labels"] == [281] for r in images)
    errors = _errors(out)
    assert errors["a1.jpg"].startswith("d.parquet row 1, column label:") and "tabby" in errors["a1.jpg"]
    assert errors["f1.jpg"].startswith("e.parquet row 1, column label:") and "281.5" in errors["f1.jpg"]
    assert "outside the parquet's folder" in errors["../outside.jpg"]
    assert "outside the parquet's folder" in errors[str(tmp_path / "outside.jpg")]
    assert len(RunStore(out).predictions()) == 3 * 8


def test_a_tiny_jpeg_claiming_a_huge_size_is_recorded_as_truncated(tmp_path):
    import struct

    from PIL import Image

    data = bytearray(_jpeg(Image.new("RGB", (64, 64), (200, 30, 30))))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 9000, 9000)
    root = cat_folder(tmp_path / "data", 1)
    (root / "liar.jpg").write_bytes(bytes(data))
    with open(root / "labels.csv", "a") as f:
        f.write(f"liar.jpg,{CAT}\n")
    out = tmp_path / "run"
    assert sweep("-d", root, "-o", out) == 0
    assert _errors(out)["liar.jpg"].startswith("truncated:")
    assert _swept(out) == {"000.jpg"}


def test_error_ids_with_newlines_are_read_back_and_not_added_again(tmp_path, capsys):
    import csv

    root = cat_folder(tmp_path / "data", 1)
    (root / "two\nlines.jpg").write_bytes(b"not a jpeg")
    with open(root / "labels.csv", "a", newline="") as f:
        csv.writer(f).writerow(["two\nlines.jpg", CAT])
    out = tmp_path / "run"
    assert sweep("-d", root, "-o", out) == 0
    assert "two\nlines.jpg" in _errors(out)
    before = (out / "errors.csv").read_bytes()
    capsys.readouterr()
    assert sweep("-d", root, "-o", out) == 0
    assert "2 of 2 images already done" in capsys.readouterr().err
    assert (out / "errors.csv").read_bytes() == before


def test_a_corrupt_cached_onnx_export_is_rebuilt(tmp_path, monkeypatch):
    from zoomhard.models import load_classifier
    from zoomhard.models.backends import OnnxClassifier

    monkeypatch.setenv("ZOOMHARD_CACHE", str(tmp_path / "cache"))
    first = load_classifier("lite0", backend="onnx", device="cpu")
    assert isinstance(first, OnnxClassifier)
    path = Path(first.path)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    again = load_classifier("lite0", backend="onnx", device="cpu")
    assert isinstance(again, OnnxClassifier), "a damaged cache must not fall back to torch"
    assert path.read_bytes() == good


# -- local files a dataset can reach, curate --force, messages ----------------------------------

def test_curate_force_replaces_only_an_earlier_curated_set(tmp_path, capsys):
    run = tmp_path / "run"
    assert sweep("-d", "samples", "-o", run) == 0
    args = ["curate", str(run), "--max-solved", "1", "--dedup-threshold", "-1", "--force", "--out"]
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "curate.json").write_text("{}")
    (fake / "thesis.tex").write_text("mine")
    assert main(args + [str(fake)]) == 2
    assert (fake / "thesis.tex").read_text() == "mine"
    real = tmp_path / "real"
    assert main(args + [str(real)]) == 0
    assert main(args + [str(real)]) == 0  # an earlier set, untouched since: replaced
    (real / "data" / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(args + [str(real)]) == 2
    assert "data/notes.txt, which no export wrote" in error_line(capsys)
    assert (real / "data" / "notes.txt").read_text() == "mine"
    link = tmp_path / "link"
    link.symlink_to(fake, target_is_directory=True)
    capsys.readouterr()
    assert main(args + [str(link)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symbolic link" in err
    assert (fake / "thesis.tex").read_text() == "mine" and link.is_symlink()


def test_curate_with_no_image_meeting_the_rule_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert sweep("-d", "samples", "-o", run) == 0
    out = tmp_path / "hard"
    capsys.readouterr()
    assert main(["curate", str(run), "--out", str(out), "--max-solved", "0", "--quota", "skimage=0",
                 "--quota", "matplotlib=0"]) == 2
    err = capsys.readouterr().err
    assert "nothing written" in err.strip().splitlines()[-1] and "Traceback" not in err
    assert not out.exists()


def _mount_read_only(path: Path):
    """path made read-only for this process: a read-only bind mount for root (whom permissions
    do not stop), chmod otherwise. Returns the undo."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        return lambda: [p.chmod(m) for p, m in modes.items()]
    ok = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True).returncode == 0 and \
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], capture_output=True).returncode == 0
    if not ok:
        subprocess.run(["umount", str(path)], capture_output=True)
        pytest.skip("cannot make a read-only folder here")
    return lambda: subprocess.run(["umount", str(path)], check=True)


def test_read_only_folders_are_one_line_and_a_read_only_run_still_reports(tmp_path, capsys):
    run = tmp_path / "run"
    assert sweep("-d", "samples", "-o", run) == 0
    locked = tmp_path / "locked"
    locked.mkdir()
    undo = _mount_read_only(locked)
    try:
        capsys.readouterr()
        assert sweep("-d", "samples", "-o", locked / "run") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Read-only file system" in err or "Permission denied" in err
    finally:
        undo()
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    undo = _mount_read_only(run)
    try:
        assert main(["report", str(run), "--out", str(tmp_path / "report.html")]) == 0
    finally:
        undo()
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before


def test_a_full_disk_is_one_line_and_keeps_every_part(tmp_path, capsys):
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(tmp_path)],
                                           capture_output=True).returncode:
        pytest.skip("needs a small file system of its own (root, mount)")
    try:
        filler = tmp_path / "filler"
        filler.write_bytes(b"\0" * 370_000)
        out = tmp_path / "run"
        capsys.readouterr()
        assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), *SMALL, "--flush-seconds", "0",
                     "--batch-size", "8"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert "No space left on device" in err[-1] and "Traceback" not in "\n".join(err)
        written = RunStore(out).done_ids()
        assert 0 < len(written) < 6
        filler.unlink()
        assert sweep("-d", "samples", "-o", out) == 0
        assert len(keys(out)) == len(set(keys(out))) == 6 * 8
    finally:
        subprocess.run(["umount", str(tmp_path)], check=True)
