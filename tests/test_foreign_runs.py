"""A run folder from someone else is data, not instructions: a report embeds only the run's own
figure files, and every reader treats a folder's odd parts the same way, in one line."""

import base64
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from zoomhard.cli import main
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.grid import ZoomGrid
from zoomhard.runs.store import IMAGES, PREDICTIONS, RunStore

GRID = ZoomGrid((128, 224, 256, 512))


def built_run(tmp_path: Path, name: str = "run", n: int = 3) -> Path:
    """A run over real photos in a folder (its data root), each wrong at the standard crop and
    right at one zoom, so every one of them lands in the gallery."""
    photos = tmp_path / "photos"
    run = tmp_path / name
    files = []
    for k in range(n):
        image_id, package, rel, labels = SAMPLES[k]
        file = photos / f"{image_id}.png"
        file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_path(package, rel), file)
        files.append((image_id, file, labels))
    store = RunStore(run)
    store.open({"model": "hand-built", "weights": None, "grid": GRID.to_dict(),
                "data": {"spec": str(photos), "kind": "folder", "root": str(photos.resolve())},
                "subset": {"name": "none", "classes": 1000}})
    preds, images = [], []
    for k, (image_id, file, labels) in enumerate(files):
        best = list(GRID)[9 * 3 + k]   # s512, one anchor per image
        for z in GRID:
            ok = z == best
            top1 = labels[0] if ok else 0
            preds.append({"image_id": image_id, "scale": z.scale, "row": z.row, "col": z.col, "top1": top1,
                          "correct": ok, "top5": [top1, 1, 2, 3, 4], "top5_prob": [0.6, 0.1, 0.1, 0.1, 0.1],
                          "label_prob": 0.6 if ok else 0.05})
        images.append({"image_id": image_id, "labels": list(labels), "origin": "o", "width": 1,
                       "height": 1, "locator": f"file:{file}"})
    store.write_part(pa.Table.from_pylist(preds, schema=PREDICTIONS), pa.Table.from_pylist(images, schema=IMAGES))
    store.close()
    return run


def secret_png(path: Path) -> bytes:
    """A PNG outside the run whose bytes must never reach a page."""
    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(path)
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()[:200]


def _analysed(tmp_path: Path) -> Path:
    run = built_run(tmp_path)
    assert main(["analyze", str(run)]) == 0
    return run


def _edit_analysis(run: Path, change) -> None:
    doc = json.loads((run / "analysis.json").read_text())
    change(doc)
    (run / "analysis.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("named", ["/etc/passwd", "../secret.png", "figures/../../secret.png", "SECRET"])
def test_a_report_never_embeds_a_file_that_analysis_json_names_outside_the_run(tmp_path, named, capsys):
    run = _analysed(tmp_path)
    secret = secret_png(tmp_path / "secret.png")
    named = str(tmp_path / "secret.png") if named == "SECRET" else named
    _edit_analysis(run, lambda d: d["figures"].update(spatial_bias=named))
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    page = out.read_text()
    assert _b64(secret) not in page and _b64(Path("/etc/passwd").read_bytes()) not in page
    # regenerated: the run's own figure is there again, and analysis.json names it
    assert json.loads((run / "analysis.json").read_text())["figures"]["spatial_bias"] == "figures/spatial_bias.png"
    assert _b64((run / "figures" / "spatial_bias.png").read_bytes()) in page


def test_a_gallery_crop_named_outside_the_run_is_not_embedded(tmp_path):
    run = _analysed(tmp_path)
    secret_png(tmp_path / "secret.png")

    def point_out(d):
        d["gallery"][0]["best"]["crop"] = str(tmp_path / "secret.png")
        d["gallery"][1]["standard"]["crop"] = "/etc/passwd"

    _edit_analysis(run, point_out)
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    doc = json.loads((run / "analysis.json").read_text())
    assert all(g[side]["crop"].startswith("gallery/") for g in doc["gallery"] for side in ("standard", "best"))


def test_a_figure_that_is_a_link_out_of_the_run_is_replaced_never_followed(tmp_path):
    run = _analysed(tmp_path)
    secret = secret_png(tmp_path / "secret.png")
    figure = run / "figures" / "spatial_bias.png"
    figure.unlink()
    figure.symlink_to(tmp_path / "secret.png")
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert _b64(secret) not in out.read_text()
    assert (tmp_path / "secret.png").read_bytes() == secret      # the link's target is untouched
    assert not figure.is_symlink()                                 # the run's own figure again


def test_a_figure_that_is_not_a_png_is_regenerated(tmp_path):
    run = _analysed(tmp_path)
    (run / "figures" / "spatial_bias.png").write_text("<script>alert(1)</script>")
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    assert (run / "figures" / "spatial_bias.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_figures_folder_that_links_out_of_the_run_is_refused_by_analyze(tmp_path, capsys):
    run = _analysed(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(run / "figures", elsewhere)
    (run / "figures").symlink_to(elsewhere)
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir()}
    assert main(["analyze", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is a link" in err
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0   # analysed aside, the run left as it is
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before


# -- every reader treats an odd folder the same way, in one line --------------------------------

def _part(run: Path, kind: str = "predictions") -> Path:
    return sorted((run / kind).glob("part-*.parquet"))[0]


def _rewrite(part: Path, change, keep_stamp: bool = True) -> None:
    import pyarrow.parquet as pq

    t = pq.read_table(part)
    meta = t.schema.metadata
    t = change(t)
    pq.write_table(t.replace_schema_metadata(meta if keep_stamp else None), part)


def _foreign(run: Path, tmp_path: Path) -> str:
    other = built_run(tmp_path / "other", "run")
    cfg = json.loads((other / "run.json").read_text())
    cfg["model"] = "someone-else"
    from zoomhard.runs.identity import IDENTITY_META, identity_digest
    import pyarrow.parquet as pq

    for kind in ("predictions", "images"):
        src = _part(other, kind)
        t = pq.read_table(src)
        t = t.replace_schema_metadata({IDENTITY_META: identity_digest(cfg).encode()})
        if kind == "predictions":
            t = t.set_column(0, "image_id", pa.array([f"x-{i}" for i in t.column("image_id").to_pylist()]))
        else:
            t = t.set_column(0, "image_id", pa.array([f"x-{i}" for i in t.column("image_id").to_pylist()]))
        pq.write_table(t, run / kind / "part-99999999999999999999-aaaaaa.parquet")
    return "part-99999999999999999999-aaaaaa.parquet"


def _unstamped(run: Path, tmp_path: Path) -> str:
    _rewrite(_part(run), lambda t: t, keep_stamp=False)
    return _part(run).name


def _duplicated(run: Path, tmp_path: Path) -> str:
    for kind in ("predictions", "images"):
        shutil.copy(_part(run, kind), run / kind / "part-99999999999999999999-bbbbbb.parquet")
    return "part-99999999999999999999-bbbbbb.parquet"


def _missing_column(run: Path, tmp_path: Path) -> str:
    _rewrite(_part(run), lambda t: t.drop(["top1"]))
    return _part(run).name


def _scale_as_text(run: Path, tmp_path: Path) -> str:
    _rewrite(_part(run), lambda t: t.set_column(1, "scale", t.column("scale").cast(pa.string())))
    return _part(run).name


def _scale_off_grid(run: Path, tmp_path: Path) -> str:
    def change(t):
        scales = t.column("scale").to_pylist()
        scales[0] = 300
        return t.set_column(1, "scale", pa.array(scales, pa.int16()))

    _rewrite(_part(run), change)
    return _part(run).name


def _model_not_text(run: Path, tmp_path: Path) -> str:
    cfg = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**cfg, "model": 5}))
    return "run.json"


ODD = [_foreign, _unstamped, _duplicated, _missing_column, _scale_as_text, _scale_off_grid, _model_not_text]


@pytest.mark.parametrize("odd", ODD, ids=lambda f: f.__name__.strip("_"))
def test_every_reader_refuses_an_odd_run_folder_in_one_line_naming_the_file(tmp_path, capsys, odd):
    from zoomhard import open_run
    from zoomhard.errors import ZoomhardError

    run = built_run(tmp_path)
    name = odd(run, tmp_path)
    capsys.readouterr()
    for command in (["analyze", str(run)], ["report", str(run), "--out", str(tmp_path / "r.html")]):
        assert main(command) == 2, command
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err, err
    with pytest.raises(ZoomhardError, match=name):
        open_run(run)
    assert not (run / "analysis.json").exists()


# -- locators lead only where the run's data lies ----------------------------------------------

def _point_outside(run: Path, tmp_path: Path, swept_outside: bool = False) -> Path:
    """The run's first image said to lie in a private folder outside its data."""
    private = tmp_path / "private" / "private.png"
    private.parent.mkdir()
    shutil.copy(sample_path(SAMPLES[0][1], SAMPLES[0][2]), private)

    def change(t):
        locators = t.column("locator").to_pylist()
        locators[0] = f"file:{private}"
        return t.set_column(t.schema.get_field_index("locator"), "locator", pa.array(locators))

    _rewrite(_part(run, "images"), change)
    if swept_outside:
        from zoomhard.runs.identity import IDENTITY_META, identity_digest
        import pyarrow.parquet as pq

        cfg = json.loads((run / "run.json").read_text())
        cfg["data"]["allow_outside_root"] = True
        (run / "run.json").write_text(json.dumps(cfg))
        for kind in ("predictions", "images"):
            t = pq.read_table(_part(run, kind))
            pq.write_table(t.replace_schema_metadata({IDENTITY_META: identity_digest(cfg).encode()}), _part(run, kind))
    return private


def test_report_reads_no_image_outside_the_runs_data(tmp_path):
    run = built_run(tmp_path)
    _point_outside(run, tmp_path)
    assert main(["report", str(run), "--out", str(tmp_path / "r.html")]) == 0
    def gallery():
        return {g["image_id"]: g for g in json.loads((run / "analysis.json").read_text())["gallery"]}

    first = gallery()[SAMPLES[0][0]]
    assert "crop" not in first["best"] and "outside the data" in first["unreadable"]
    assert all(g["best"].get("crop") for i, g in gallery().items() if i != SAMPLES[0][0])
    # a run swept inside its data cannot be talked out of it by the reader's flag either
    (run / "analysis.json").unlink()
    assert main(["report", str(run), "--out", str(tmp_path / "r.html"), "--allow-outside-root"]) == 0
    assert "crop" not in gallery()[SAMPLES[0][0]]["best"]


def test_curate_copies_no_image_outside_the_runs_data(tmp_path, capsys):
    run = built_run(tmp_path)
    _point_outside(run, tmp_path)
    capsys.readouterr()
    assert main(["curate", str(run), "--out", str(tmp_path / "hard"), "--max-solved", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("zoomhard: error:") and "outside the data" in err and "private.png" in err
    assert main(["curate", str(run), "--out", str(tmp_path / "hard"), "--max-solved", "1",
                 "--allow-outside-root"]) == 2


def test_a_run_swept_outside_its_root_is_read_there_only_when_the_reader_agrees(tmp_path, capsys):
    run = built_run(tmp_path)
    private = _point_outside(run, tmp_path, swept_outside=True)
    capsys.readouterr()
    assert main(["curate", str(run), "--out", str(tmp_path / "hard"), "--max-solved", "1"]) == 2
    assert "--allow-outside-root" in capsys.readouterr().err
    assert main(["curate", str(run), "--out", str(tmp_path / "hard"), "--max-solved", "1",
                 "--allow-outside-root"]) == 0
    import pyarrow.parquet as pq

    copied = [r["image"]["bytes"] for f in (tmp_path / "hard" / "data").glob("*.parquet")
              for r in pq.read_table(f).to_pylist()]
    assert private.read_bytes() in copied


def test_a_samples_run_from_another_machine_reads_this_machines_samples(tmp_path):
    """The committed samples run names the sample files where its sweep found them; here the
    packages lie elsewhere. Its gallery is drawn from this machine's copies of the same samples,
    and a file that only shares a sample's name is still not read."""
    fixture = Path(__file__).parent / "data" / "identical" / "samples"
    run = tmp_path / "samples"
    shutil.copytree(fixture, run, ignore=shutil.ignore_patterns("analysis*", "gallery", "figures"))
    elsewhere = {image_id: f"file:/elsewhere/venv/lib/python3.9/site-packages/{package}/{rel}"
                 for image_id, package, rel, _ in SAMPLES}
    private = tmp_path / "private" / "grace_hopper.jpg"
    private.parent.mkdir()
    private.write_bytes(b"someone's file")

    def move(t, where):
        ids = t.column("image_id").to_pylist()
        return t.set_column(t.schema.get_field_index("locator"), "locator", pa.array([where(i) for i in ids]))

    _rewrite(_part(run, "images"), lambda t: move(t, elsewhere.get))
    assert main(["analyze", str(run)]) == 0
    gallery = json.loads((run / "analysis.json").read_text())["gallery"]
    assert gallery and all("unreadable" not in g and (run / g["best"]["crop"]).is_file() for g in gallery)

    _rewrite(_part(run, "images"), lambda t: move(t, lambda i: f"file:{private}" if i == "grace_hopper.jpg"
                                                    else elsewhere[i]))
    assert main(["analyze", str(run)]) == 0
    gallery = {g["image_id"]: g for g in json.loads((run / "analysis.json").read_text())["gallery"]}
    assert "outside the data" in gallery["grace_hopper.jpg"]["unreadable"]
