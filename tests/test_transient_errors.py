"""Failures that are not the image's fault are not recorded forever: errors.csv says whose fault
each record is; the environment's (memory, a file not there yet, an I/O error) are tried again
when the run resumes, the image's (undecodable, a bomb, truncated) are not."""

import csv
import errno
import shutil
from pathlib import Path

import pytest

from zoomhard import open_run
from zoomhard.cli import main
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.runs.store import RunStore

CAT = 281


def folder(tmp_path: Path, names: list[str]) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    with open(root / "labels.csv", "w") as f:
        f.write("image,labels\n" + "".join(f"{n},{CAT}\n" for n in names))
    return root


def sweep(root: Path, out: Path) -> int:
    return main(["sweep", "-m", "lite0", "-d", str(root), "-o", str(out), "--scales", "256", "--no-progress"])


def rows(out: Path) -> list[list[str]]:
    with open(out / "errors.csv", newline="") as f:
        return list(csv.reader(f))


def cat(path: Path) -> None:
    shutil.copy(sample_path(SAMPLES[0][1], SAMPLES[0][2]), path)


def test_a_file_not_there_yet_is_transient_and_swept_on_resume(tmp_path, capsys):
    root = folder(tmp_path, ["here.png", "later.png"])
    cat(root / "here.png")
    out = tmp_path / "run"
    assert sweep(root, out) == 0
    assert rows(out) == [["image_id", "reason", "fault"], ["later.png", "file not found", "environment"]]
    cat(root / "later.png")                       # the file arrives
    assert sweep(root, out) == 0
    run = open_run(out)
    assert set(RunStore(out).done_ids()) == {"here.png", "later.png"}
    assert run.errors == {} and run.summary["unreadable"] == 0


@pytest.mark.parametrize("fault, reason", [(MemoryError(), "out of memory"),
                                           (OSError(errno.EIO, "Input/output error"), "I/O error")],
                         ids=["memory", "eio"])
def test_memory_and_io_errors_are_transient_and_retried(tmp_path, monkeypatch, fault, reason):
    import PIL.Image

    root = folder(tmp_path, ["a.png", "b.png"])
    cat(root / "a.png")
    cat(root / "b.png")
    real = PIL.Image.open

    def failing(fp, *a, **k):
        if str(fp).endswith("b.png"):
            raise fault
        return real(fp, *a, **k)

    monkeypatch.setattr(PIL.Image, "open", failing)
    out = tmp_path / "run"
    assert sweep(root, out) == 0
    (row,) = rows(out)[1:]
    assert row[0] == "b.png" and reason in row[1] and row[2] == "environment"
    monkeypatch.setattr(PIL.Image, "open", real)   # memory freed, the disk back
    assert sweep(root, out) == 0
    assert RunStore(out).done_ids() == {"a.png", "b.png"} and open_run(out).errors == {}


def test_an_undecodable_image_is_the_images_fault_and_not_tried_again(tmp_path, capsys):
    root = folder(tmp_path, ["bad.jpg", "good.png"])
    (root / "bad.jpg").write_bytes(b"not a jpeg")
    cat(root / "good.png")
    out = tmp_path / "run"
    assert sweep(root, out) == 0
    assert rows(out)[1][2] == "image"
    capsys.readouterr()
    assert sweep(root, out) == 0
    assert "2 of 2 images already done" in capsys.readouterr().err
    assert len(rows(out)) == 2


def test_an_errors_csv_without_the_fault_column_still_reads_and_gains_it(tmp_path):
    root = folder(tmp_path, ["old.jpg", "new.png", "good.png"])
    out = tmp_path / "run"
    (root / "old.jpg").write_bytes(b"not a jpeg")
    cat(root / "good.png")
    assert sweep(root, out) == 0                   # new.png not there: transient
    (out / "errors.csv").write_text("image_id,reason\r\nold.jpg,not an image\r\n")   # an earlier version's file
    assert RunStore(out).errors() == {"old.jpg": "not an image"}
    assert sweep(root, out) == 0
    assert rows(out) == [["image_id", "reason", "fault"], ["old.jpg", "not an image", "image"],
                         ["new.png", "file not found", "environment"]]
