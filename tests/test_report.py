"""The HTML report: self-contained, escaped, and working in a real browser (headless Chromium)."""

import html
import json
import os
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from zoomhard.cli import main
from zoomhard.data.samples import SAMPLES, sample_path
from zoomhard.grid import Zoom, ZoomGrid
from zoomhard.runs.store import IMAGES, PREDICTIONS, RunStore

CHROMIUM = "/usr/bin/chromium"
GRID = ZoomGrid((128, 224, 256, 512))
# File names and an origin that would run script if they reached the page unescaped.
EVIL_IDS = ("<img src=x onerror=window.pwned=1>.png",
            "ev/<script>/a</script>\"'&amp;.png",
            "plain.png")
EVIL_ORIGIN = "<b onmouseover=window.pwned=1>o</b>\"'"


def evil_run(tmp_path: Path) -> Path:
    """A run over real photos saved under hostile names: each is wrong at the standard crop and
    right at one zoom, so every one of them lands in the gallery."""
    photos = tmp_path / "photos"
    run = tmp_path / "evil-run"
    store = RunStore(run)
    store.open({"model": "hand-built <model>", "weights": None, "grid": GRID.to_dict(),
                "data": {"spec": "<data spec>"}, "subset": {"name": "none", "classes": 1000},
                "locator_roots": [str(photos.resolve())]})   # where its images lie, as a sweep records it
    preds, images = [], []
    for k, image_id in enumerate(EVIL_IDS):
        _, package, rel, labels = SAMPLES[k]
        file = photos / image_id
        file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample_path(package, rel), file)
        best = list(GRID)[9 * 3 + k]   # s512, one anchor per image
        for z in GRID:
            ok = z == best
            top1 = labels[0] if ok else 0
            preds.append({"image_id": image_id, "scale": z.scale, "row": z.row, "col": z.col, "top1": top1,
                          "correct": ok, "top5": [top1, 1, 2, 3, 4], "top5_prob": [0.6, 0.1, 0.1, 0.1, 0.1],
                          "label_prob": 0.6 if ok else 0.05})
        images.append({"image_id": image_id, "labels": list(labels), "origin": EVIL_ORIGIN, "width": 1,
                       "height": 1, "locator": f"file:{file}"})
    store.write_part(pa.Table.from_pylist(preds, schema=PREDICTIONS), pa.Table.from_pylist(images, schema=IMAGES))
    return run


def _tags(page: str) -> list[tuple[str, list]]:
    from html.parser import HTMLParser

    found = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collect().feed(page)
    return found


def test_report_is_self_contained_and_escapes_every_name(tmp_path, capsys):
    run = evil_run(tmp_path)
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    page = out.read_text()
    tags = _tags(page)
    assert [t for t, _ in tags].count("script") == 2         # the data block and the explorer, nothing else
    assert not [(t, a) for t, attrs in tags for a, _ in attrs if a.startswith("on")]   # no event handlers
    assert all(not attrs for t, attrs in tags if t == "b")   # the origin's <b ...> stayed text
    for image_id in EVIL_IDS[:2]:
        assert html.escape(image_id) in page                # in the gallery markup
    assert "<model>" not in page and "<data spec>" not in page and "</script>\"'" not in page
    # nothing is fetched: every src is a data URI and there are no external references
    assert all(s.startswith("data:") for s in re.findall(r"\bsrc=['\"]([^'\"]*)", page))
    assert not re.search(r"(href|src)=['\"]?(https?:|//)", page)
    assert "img-src data:" in page                           # the CSP says so to the browser as well
    data = json.loads(re.search(r"<script type='application/json' id='zh-data'>(.*?)</script>", page, re.S).group(1))
    assert [im["id"] for im in data[0]["images"]] == list(EVIL_IDS)
    assert len(json.loads((run / "analysis.json").read_text())["gallery"]) == 3


def test_the_explorer_carries_the_boxes_grid_py_places(tmp_path, capsys):
    """The page holds each image size's crop boxes as grid.py places them, the ones that
    overhang the resized image included; its script only draws them."""
    grid = ZoomGrid((10, 224, 256, 1024))
    sizes = {"wide.png": (451, 300), "tall.png": (300, 451)}
    run = tmp_path / "run"
    store = RunStore(run)
    store.open({"model": "hand-built", "weights": None, "grid": grid.to_dict(), "data": {"spec": "photos"},
                "subset": {"name": "none", "classes": 1000}, "locator_roots": [str(tmp_path.resolve())]})
    preds, images = [], []
    for name, (w, h) in sizes.items():
        shutil.copy(sample_path(*SAMPLES[0][1:3]), tmp_path / name)
        preds += [{"image_id": name, "scale": z.scale, "row": z.row, "col": z.col, "top1": 1, "correct": True,
                   "top5": [1, 2, 3, 4, 5], "top5_prob": [0.6, 0.1, 0.1, 0.1, 0.1], "label_prob": 0.6} for z in grid]
        images.append({"image_id": name, "labels": [1], "origin": "", "width": w, "height": h,
                       "locator": f"file:{tmp_path / name}"})
    store.write_part(pa.Table.from_pylist(preds, schema=PREDICTIONS), pa.Table.from_pylist(images, schema=IMAGES))
    out = tmp_path / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    page = out.read_text()
    data = json.loads(re.search(r"<script type='application/json' id='zh-data'>(.*?)</script>", page, re.S).group(1))
    boxes, per = data[0]["boxes"], grid.rows * grid.cols
    assert set(boxes) == {"451x300", "300x451"}
    overhanging = 0
    for w, h in sizes.values():
        table = boxes[f"{w}x{h}"]
        assert len(table["crops"]) == len(grid) and len(table["resized"]) == len(grid.scales)
        for j, z in enumerate(grid):
            b = grid.box(w, h, z)
            assert table["crops"][j] == [b.left, b.top, b.right, b.bottom], z
            assert table["resized"][j // per] == [b.width, b.height], z
            overhanging += b.beyond
    assert 0 < overhanging < 2 * len(grid)
    # 451 x 300 at 224: resized 336 x 224, the top-left anchor at (56, 37): the crop overhangs
    # the resized image to the left and above; at 1024 the bottom-right crop lies inside it
    wide = boxes["451x300"]
    assert wide["crops"][list(grid).index(Zoom(224, 0, 0))] == [-56, -75, 168, 149]
    assert wide["resized"][grid.scales.index(224)] == [336, 224]
    assert wide["crops"][list(grid).index(Zoom(1024, 2, 2))] == [1170, 740, 1394, 964]


def test_demo_analyses_and_writes_a_report(samples_run, tmp_path, capsys):
    out = tmp_path / "demo-run"
    shutil.copytree(samples_run, out)            # the demo resumes it: nothing left to sweep
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (out / "analysis.json").is_file() and (out / "figures" / "spatial_bias.png").is_file()
    assert str(out / "report.html") in printed and (out / "report.html").stat().st_size > 10_000


def _launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"])


@pytest.mark.browser
def test_report_in_a_real_browser(samples_run, tmp_path, capsys):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it (APT_PACKAGES)")
        pytest.skip(f"no {CHROMIUM} (apt-get install chromium)")
    if os.environ.get("CI") == "true":
        from playwright import sync_api             # CI installs the dev extra: never skip there
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    evil = evil_run(tmp_path)
    out = tmp_path / "report.html"
    assert main(["report", str(samples_run), str(evil), "--out", str(out)]) == 0

    with sync_api.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page()
            problems, requests = [], []
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.as_uri())
            page.wait_for_load_state("load")

            assert page.locator("h1").inner_text() == "zoomhard report"
            assert page.locator("table.summary tbody tr").count() == 2
            # every figure and crop is decoded by the browser
            imgs = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
            figures = [i for i in imgs if i[0] in ("spatial bias", "scale curves", "cover curve", "top histograms")]
            assert len(figures) == 8, imgs
            assert all(done and width > 0 for _, done, width in imgs), imgs

            # explorer: the samples run first, six images; click one and its grid shows
            assert page.locator("#image-list li").count() == 6
            page.locator("#image-list li", has_text="grace_hopper.jpg").click()
            assert page.locator("#image-view h3").inner_text() == "grace_hopper.jpg"
            assert page.locator("#image-view table.grid tr").count() == 36 + 1
            assert page.locator("#image-view table.grid td").count() == 324
            assert page.locator("#image-view td.std").count() == 1

            # the hostile run: names show as text, nothing of them runs
            page.select_option("#run-select", "1")
            assert page.locator("#image-list li").count() == 3
            page.locator("#image-list li").nth(1).click()
            assert page.locator("#image-view h3").inner_text() == EVIL_IDS[1]
            assert page.locator("#image-view table.grid td.ok").count() == 1
            assert page.locator("#image-view table.grid td").count() == len(GRID)
            page.select_option("#filter", "fixed")
            assert page.locator("#image-list li").count() == 3
            page.fill("#search", "plain")
            assert page.locator("#image-list li").count() == 1
            page.hover(".card img >> nth=0")
            assert page.evaluate("window.pwned") is None
            assert page.evaluate("document.querySelectorAll('script').length") == 2

            assert not problems, problems
            assert all(u.startswith(("data:", "file:")) for u in requests), requests
        finally:
            browser.close()


def test_report_of_one_run_without_out_is_written_into_the_run_and_named(samples_run, tmp_path, monkeypatch, capsys):
    run = tmp_path / "mine"
    shutil.copytree(samples_run, run)
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(run)]) == 0
    assert capsys.readouterr().out.strip() == f"report of 1 run(s) -> {run / 'report.html'}"
    assert (run / "report.html").stat().st_size > 10_000 and not (tmp_path / "report.html").exists()
