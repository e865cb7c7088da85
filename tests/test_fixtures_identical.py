"""What a sweep and an analysis write, byte for byte, against committed run folders.

tests/data/identical holds two runs made with real EfficientNet-Lite0 weights: the bundled
samples over the study's full grid, and a small folder of class folders (one file in it not an
image) over three scales. A sweep writes the same parts again: the same rows, values and
schema metadata, and for the folder, whose sweep is one part, the same Parquet layout (writer,
row groups, encodings); only what names the folder's own path differs. `zoomhard analyze` of
the committed parts writes the same analysis.json (but for the run's path it names) and the
same analysis CSVs, byte for byte, wherever the clone and its packages lie. A change to the
code's structure that changes what a run holds fails here.

After a change that is meant to change these bytes, write the fixtures again:

    python tests/test_fixtures_identical.py
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from zoomhard.cli import main
from zoomhard.data.samples import local_sample, sample_path

FIXTURES = Path(__file__).parent / "data" / "identical"
RUN_FILES = ("run.json", "errors.csv")   # what analyze reads besides the parts
KINDS = ("predictions", "images")
FOLDER_SCALES = "224,320,480"
ONE_PART = "86400"   # a flush interval no sweep here reaches: every run is one part

# class folder -> (package, sample file): tabby cat, espresso, missile
FOLDER_IMAGES = {"n02123045": ("skimage", "data/chelsea.png"),
                 "n07920052": ("skimage", "data/coffee.png"),
                 "n03773504": ("skimage", "data/rocket.jpg")}


def make_folder(root: Path) -> Path:
    """Three labelled photos in wnid folders and one file that is not an image."""
    for wnid, (package, relative) in FOLDER_IMAGES.items():
        (root / wnid).mkdir(parents=True)
        shutil.copy(sample_path(package, relative), root / wnid / Path(relative).name)
    (root / "n02123045" / "broken.jpg").write_bytes(b"not a JPEG")
    return root


def sweep_folder(work: Path) -> Path:
    out = work / "folder"
    folder = make_folder(work / "images")
    assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), "--scales", FOLDER_SCALES,
                 "--flush-seconds", ONE_PART, "--no-progress"]) == 0
    return out


def sweep_samples(work: Path) -> Path:
    out = work / "samples"
    assert main(["sweep", "-m", "lite0", "-d", "samples", "-o", str(out), "--flush-seconds", ONE_PART,
                 "--no-progress"]) == 0
    return out


def part(run: Path, kind: str) -> Path:
    parts = sorted((run / kind).glob("*.parquet"))
    assert len(parts) == 1, f"{run / kind}: expected one part, found {len(parts)}"
    return parts[0]


def stamp(run: Path) -> bytes:
    """The run identity a run stamps on its parts (their schema's zoomhard.run)."""
    return pq.read_schema(part(run, "predictions")).metadata[b"zoomhard.run"]


def layout(path: Path) -> list:
    """How a Parquet file is laid out: writer, row groups, and each column chunk's encoding."""
    meta = pq.read_metadata(path)
    chunks = [(rg.num_rows, [(c.path_in_schema, c.compression, c.encodings, c.physical_type)
                             for c in (rg.column(i) for i in range(rg.num_columns))])
              for rg in (meta.row_group(i) for i in range(meta.num_row_groups))]
    return [meta.created_by, meta.format_version, meta.num_rows, chunks]


def without_run_path(analysis: Path, run: Path) -> bytes:
    """analysis.json's bytes with the run's folder, which it names, left out."""
    return analysis.read_bytes().replace(json.dumps(str(run)).encode(), b'"RUN"')


def rows(run: Path, kind: str) -> pa.Table:
    """A run's parts of one kind as one table, in the order the sweep wrote them."""
    parts = sorted((run / kind).glob("*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts])


def analysis_files(run: Path) -> list[Path]:
    return [run / "analysis.json", *sorted((run / "analysis").glob("*.csv"))]


def copy_run(fixture: Path, dest: Path) -> Path:
    """The committed run as analyze finds it: run.json, errors.csv and the parts, no analysis."""
    dest.mkdir(parents=True)
    for name in RUN_FILES:
        if (fixture / name).exists():
            shutil.copy(fixture / name, dest / name)
    for kind in KINDS:
        shutil.copytree(fixture / kind, dest / kind)
    return dest


def here(table: pa.Table) -> pa.Table:
    """A samples run's images with each locator naming this machine's copy of the sample (the
    committed run names the files where the packages lay on the machine that swept it)."""
    locators = [local_sample(loc) for loc in table.column("locator").to_pylist()]
    return table.set_column(table.schema.get_field_index("locator"), "locator", pa.array(locators))


def test_a_sweep_of_the_samples_writes_the_committed_rows(samples_run):
    assert rows(samples_run, "predictions").equals(rows(FIXTURES / "samples", "predictions"), check_metadata=True)
    assert rows(samples_run, "images").equals(here(rows(FIXTURES / "samples", "images")), check_metadata=True)


def test_a_sweep_of_a_folder_writes_the_committed_parts_and_errors(tmp_path):
    run = sweep_folder(tmp_path)
    # The folder's path is part of the run's identity, stamped on every part, and the images
    # part names each file by its path: the same file layout and rows once the folders agree.
    here, there = (json.loads((r / "run.json").read_text())["data"]["root"] for r in (run, FIXTURES / "folder"))
    for kind in KINDS:
        assert layout(part(run, kind)) == layout(part(FIXTURES / "folder", kind)), kind
        assert pq.read_schema(part(run, kind)).metadata == {b"zoomhard.run": stamp(run)}
    assert rows(run, "predictions").equals(rows(FIXTURES / "folder", "predictions"))
    images = rows(FIXTURES / "folder", "images").to_pylist()
    for image in images:
        image["locator"] = image["locator"].replace(there, here)
    assert rows(run, "images").to_pylist() == images
    assert (run / "errors.csv").read_bytes() == (FIXTURES / "folder" / "errors.csv").read_bytes()


@pytest.mark.parametrize("name", ["samples", "folder"])
def test_analyze_of_the_committed_parts_writes_the_committed_analysis(tmp_path, name):
    run = copy_run(FIXTURES / name, tmp_path / name)
    assert main(["analyze", str(run)]) == 0
    expected = analysis_files(FIXTURES / name)
    assert [p.name for p in analysis_files(run)] == [p.name for p in expected]
    recorded = Path(json.loads(expected[0].read_text())["run"])
    assert without_run_path(run / "analysis.json", run) == without_run_path(expected[0], recorded)
    for want in expected[1:]:
        assert (run / want.relative_to(FIXTURES / name)).read_bytes() == want.read_bytes(), want.name


def regenerate(work: Path) -> None:
    """Sweep and analyze both runs in `work` and keep what the tests compare."""
    for name, sweep in (("samples", sweep_samples), ("folder", sweep_folder)):
        run = sweep(work)
        assert main(["analyze", str(run)]) == 0
        dest = FIXTURES / name
        shutil.rmtree(dest, ignore_errors=True)
        copy_run(run, dest)
        for f in analysis_files(run):
            target = dest / f.relative_to(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, target)


if __name__ == "__main__":
    import os
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        regenerate(Path(tmp))
    sys.exit(0)
