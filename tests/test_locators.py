"""Locators: every source's items read back, byte for byte, from the locator a run records,
whatever source wrote them (the hf: source included, on local datasets); the report and curate
work on a run swept from hf:; a locator nobody can read is one clear line."""

import base64
import html
import io
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from zoomhard.cli import main
from zoomhard.crops import decode_image
from zoomhard.data import DataError, Locator, LocatorReader, open_source, read_locator
from zoomhard.data.locator import schemes
from zoomhard.data.python import PythonSource
from zoomhard.data.samples import OFFCENTRE_CORNERS, OFFCENTRE_GREY, SAMPLES, sample_path
from zoomhard.runs.store import RunStore

datasets = pytest.importorskip("datasets")

CAT, ESPRESSO = 281, 967
SMALL = ["--scales", "224,256", "--no-progress", "--backend", "torch"]


@pytest.fixture(autouse=True)
def _hf_cache(tmp_path, monkeypatch):
    """load_dataset's Arrow copies of local data files go to the test's folder, not the user's."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def png(seed: int, size=(40, 30)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(png(seed))).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def samples_bytes() -> dict[str, bytes]:
    return {image_id: sample_path(package, rel).read_bytes() for image_id, package, rel, _ in SAMPLES}


def hf_rows(images: dict[str, bytes]) -> dict:
    """The ImageNet-Hard layout's columns for `images` (id -> encoded bytes)."""
    labels = {image_id: list(lab) for image_id, _, _, lab in SAMPLES}
    return {"image": [{"bytes": b, "path": i} for i, b in images.items()],
            "label": [labels.get(i, [CAT]) for i in images],
            "origin": ["local" for _ in images]}


def hf_dataset(images: dict[str, bytes]):
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Sequence(datasets.Value("int64")),
                                  "origin": datasets.Value("string")})
    return datasets.Dataset.from_dict(hf_rows(images), features=features)


# -- every source kind -----------------------------------------------------------------------------

def folder_sources(tmp: Path) -> list[tuple[str, dict[str, bytes]]]:
    """(spec, image id -> bytes on disk) of a wnid folder (one file name not UTF-8) and of a
    folder with labels.csv."""
    wnid = tmp / "wnid" / "n02123045"
    wnid.mkdir(parents=True)
    odd = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: the locator must carry them as they are
    files = {"n02123045/a.png": png(1), "n02123045/b#1.jpg": jpeg(2), "n02123045/caf\\xe9.jpg": jpeg(3)}
    for name, data in [("a.png", files["n02123045/a.png"]), ("b#1.jpg", files["n02123045/b#1.jpg"]),
                       (odd, files["n02123045/caf\\xe9.jpg"])]:
        (wnid / name).write_bytes(data)
    csv_folder = tmp / "csv@x:y"
    (csv_folder / "sub").mkdir(parents=True)
    listed = {"sub/c.png": png(4), "d.jpg": jpeg(5)}
    for name, data in listed.items():
        (csv_folder / name).write_bytes(data)
    (csv_folder / "labels.csv").write_text("image,labels\n" + "".join(f"{n},{CAT}\n" for n in listed))
    return [(str(tmp / "wnid"), files), (str(csv_folder), listed)]


def parquet_sources(tmp: Path) -> list[tuple[str, dict[str, bytes]]]:
    """A parquet of image bytes in small row groups, and one whose rows name files beside it."""
    tmp.mkdir(parents=True)
    blobs = {f"img{k}.png": png(10 + k) for k in range(5)}
    pq.write_table(pa.table({"image": [{"bytes": b, "path": i} for i, b in blobs.items()],
                             "label": [[CAT]] * len(blobs)}), tmp / "bytes.parquet", row_group_size=2)
    files = {"files/e.jpg": jpeg(20), "files/f.png": png(21)}
    for name, data in files.items():
        (tmp / name).parent.mkdir(exist_ok=True)
        (tmp / name).write_bytes(data)
    pq.write_table(pa.table({"image": list(files), "label": [CAT] * len(files)}), tmp / "paths.parquet")
    return [(f"parquet:{tmp / 'bytes.parquet'}", blobs), (f"parquet:{tmp / 'paths.parquet'}", files)]


def hf_sources(tmp: Path) -> list[tuple[str, dict[str, bytes]]]:
    """Local Hugging Face datasets: a saved Dataset, a saved DatasetDict (test split) and a
    folder of parquet data files that load_dataset reads."""
    one = {"chelsea.png": samples_bytes()["chelsea.png"], "n.png": png(30)}
    hf_dataset(one).save_to_disk(str(tmp / "saved"))
    two = {"coffee.png": samples_bytes()["coffee.png"], "m.jpg": jpeg(31)}
    datasets.DatasetDict({"validation": hf_dataset({"x.png": png(32)}), "test": hf_dataset(two)}).save_to_disk(
        str(tmp / "saved-dict"))
    three = {"p.png": png(33), "q.jpg": jpeg(34)}
    (tmp / "files" / "data").mkdir(parents=True)
    pq.write_table(pa.table(hf_rows(three)), tmp / "files" / "data" / "validation-00000-of-00001.parquet")
    return [(f"hf:{tmp / 'saved'}", one), (f"hf:{tmp / 'saved-dict'}:test", two), (f"hf:{tmp / 'files'}", three)]


def python_source(tmp: Path) -> tuple[PythonSource, dict[str, bytes]]:
    """A PIL image (kept under inputs/), encoded bytes and a path."""
    tmp.mkdir(parents=True)
    (tmp / "given.jpg").write_bytes(jpeg(40))
    photo = Image.open(io.BytesIO(png(41)))
    given = [(photo, CAT), (jpeg(42), "espresso"), (str(tmp / "given.jpg"), CAT)]
    source = PythonSource(given, tmp / "run" / "inputs")
    buf = io.BytesIO()
    photo.save(buf, "PNG")
    return source, {"0": buf.getvalue(), "1": jpeg(42), "2": jpeg(40)}


def offcentre_check(item, data: bytes) -> None:
    """The photo sits at its corner of a grey canvas twice its size (computed here from the
    photo itself, not by the code under test)."""
    index = next(k for k, s in enumerate(SAMPLES) if s[0] == item.image_id)
    _, package, rel, _ = SAMPLES[index]
    photo = np.asarray(Image.open(sample_path(package, rel)).convert("RGB"))
    canvas = np.asarray(decode_image(data))
    h, w = photo.shape[:2]
    assert canvas.shape == (2 * h, 2 * w, 3)
    row, col = OFFCENTRE_CORNERS[index % len(OFFCENTRE_CORNERS)]
    assert (canvas[row * h:(row + 1) * h, col * w:(col + 1) * w] == photo).all()
    other = canvas[(1 - row) * h:(2 - row) * h, (1 - col) * w:(2 - col) * w]
    assert (other == np.array(OFFCENTRE_GREY, np.uint8)).all()


def test_every_source_reads_each_item_back_from_its_locator(tmp_path):
    cases = [("samples", samples_bytes()), *folder_sources(tmp_path / "folders"),
             *parquet_sources(tmp_path / "parquet"), *hf_sources(tmp_path / "hf@local")]
    sources = [(open_source(spec), want) for spec, want in cases]
    sources.append(python_source(tmp_path / "python"))
    seen = set()
    for source, want in sources:
        items = list(source)
        assert sorted(it.image_id for it in items) == sorted(want), source.spec
        reader = LocatorReader(keep_groups=1)  # a fresh reader each time: nothing cached from the sweep
        for it in items:
            assert it.unusable is None, (source.spec, it)
            loc = Locator.parse(it.locator)
            assert str(loc) == it.locator  # what the run stores parses back to itself
            seen.add(loc.scheme)
            assert read_locator(it.locator) == reader.read(loc) == want[it.image_id], (source.spec, it.locator)
            if it.payload is not None:  # the bytes the sweep decoded are the same
                assert it.payload == want[it.image_id]
            where = it.read()
            assert (where if isinstance(where, bytes) else Path(where).read_bytes()) == want[it.image_id]

    offcentre = list(open_source("samples-offcentre"))
    assert [it.image_id for it in offcentre] == [s[0] for s in SAMPLES]
    for it in offcentre:
        seen.add(Locator.parse(it.locator).scheme)
        data = read_locator(it.locator)
        assert data == it.read()
        offcentre_check(it, data)
    assert seen == set(schemes())  # no scheme a source writes is left untested


def test_hf_locator_of_another_dataset_or_a_hub_id_offline_is_one_line(tmp_path):
    hf_dataset({"a.png": png(1)}).save_to_disk(str(tmp_path / "ds"))
    (item,) = open_source(f"hf:{tmp_path / 'ds'}")
    repo, revision, split, row = Locator.parse(item.locator).parts
    assert repo == str((tmp_path / "ds").resolve()) and split == "validation" and row == "0"
    changed = str(Locator("hf", (repo, "0" * 16, split, row)))
    with pytest.raises(DataError, match="changed since it was swept") as e:
        read_locator(changed)
    assert changed in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(DataError, match="out of range"):
        read_locator(str(Locator("hf", (repo, revision, split, "1"))))

    started = time.perf_counter()
    hub = "hf:someone/hard-images@3c1e2f4a5b6d:validation#0"
    with pytest.raises(DataError, match="HF_HUB_OFFLINE is set") as e:
        read_locator(hub)
    assert time.perf_counter() - started < 5 and hub in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, needle", [
    ("s3:bucket/a.jpg", "unknown locator scheme 's3'"),
    ("", "not a locator"),
    ("parquet:/data/hard.parquet", "2 parts"),
    ("parquet:/data/hard.parquet#x", "not a row number"),
    ("file:/no/such/image.jpg", "no such file"),
    ("hf:someone/x:validation#0", "4 parts"),
])
def test_unreadable_locators_are_one_line_naming_them(text, needle):
    with pytest.raises(DataError) as e:
        read_locator(text)
    message = str(e.value)
    assert needle in message and repr(text) in message and "\n" not in message
    if "unknown" in needle:
        assert all(s in message for s in schemes())   # the valid schemes are listed


# -- a run swept from a local hf: dataset ------------------------------------------------------------

def test_run_from_a_local_hf_dataset_has_thumbnails_gallery_crops_and_curates(tmp_path, capsys):
    originals = samples_bytes()
    hf_dataset(originals).save_to_disk(str(tmp_path / "hard"))
    run = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", f"hf:{tmp_path / 'hard'}", "-o", str(run), *SMALL]) == 0
    locators = {r["image_id"]: r["locator"] for r in RunStore(run).images().to_pylist()}
    assert set(locators) == set(originals) and all(v.startswith("hf:") for v in locators.values())

    page = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(page)]) == 0
    text = page.read_text()
    data = json.loads(re.search(r"<script type='application/json' id='zh-data'>(.*?)</script>", text, re.S).group(1))
    thumbs = {im["id"]: im["thumb"] for im in data[0]["images"]}
    assert set(thumbs) == set(originals)
    for image_id, uri in thumbs.items():   # each thumbnail is the photo, shrunk
        assert uri and uri.startswith("data:image/jpeg;base64,")
        w, h = Image.open(io.BytesIO(originals[image_id])).size
        thumb = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        assert max(thumb.size) == 112 and abs(thumb.size[0] / thumb.size[1] - w / h) < 0.05
    gallery = json.loads((run / "analysis.json").read_text())["gallery"]
    assert gallery, "expected an image that zoom fixes"
    for entry in gallery:
        assert "unreadable" not in entry
        assert (run / entry["best"]["crop"]).is_file() and html.escape(entry["image_id"]) in text

    out = tmp_path / "curated"
    assert main(["curate", str(run), "--out", str(out), "--max-solved", "1000", "--dedup-threshold", "-1"]) == 0
    rows = [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert {r["image"]["path"]: r["image"]["bytes"] for r in rows} == originals
