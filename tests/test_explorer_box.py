"""The report's explorer draws the crop of the chosen cell on the image, where the sweep cut it."""

import os
from pathlib import Path

import pytest

import zoomhard as zh
from zoomhard.look import crop_box

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
def test_choosing_a_cell_draws_its_crop(tmp_path, capsys):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing")
        pytest.skip(f"no {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    grid = zh.ZoomGrid((128, 256, 512))
    run = zh.sweep("lite0", "samples", grid=grid, out=tmp_path / "run", progress=False)
    page_path = run.report(tmp_path / "report.html")
    sizes = {r["image_id"]: (r["width"], r["height"]) for r in run.images.to_pylist()}

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            problems = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_path.as_uri())
            page.locator("#image-list li", has_text="grace_hopper.jpg").click()
            assert page.locator("#crop-box").is_hidden()
            frame = page.locator("#image-view .frame").bounding_box()
            w, h = sizes["grace_hopper.jpg"]
            for zoom in (zh.Zoom(512, 0, 2), zh.Zoom(256, 1, 1), zh.Zoom(128, 2, 0)):
                j = list(grid).index(zoom)
                page.locator("#image-view table.grid td").nth(j).click()
                box = page.locator("#crop-box")
                assert box.get_attribute("data-transform") == zoom.id
                x, y, bw, bh = crop_box((w, h), zoom, grid)          # the sweep's geometry, in pixels
                drawn = box.bounding_box()
                clip = lambda v: min(1.0, max(0.0, v))
                want = (clip(x / w), clip(y / h), clip((x + bw) / w), clip((y + bh) / h))
                got = ((drawn["x"] - frame["x"]) / frame["width"], (drawn["y"] - frame["y"]) / frame["height"],
                       (drawn["x"] + drawn["width"] - frame["x"]) / frame["width"],
                       (drawn["y"] + drawn["height"] - frame["y"]) / frame["height"])
                assert got == pytest.approx(want, abs=0.01), zoom
                assert page.locator("#image-view td.pick").count() == 1
                caption = page.locator("#crop-caption").inner_text()
                assert caption.startswith(zoom.id + ": ")
                beyond = x < 0 or y < 0 or x + bw > w or y + bh > h
                assert ("reaches past the image" in caption) == beyond
                if zoom.scale == 512:
                    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=False,
                                    clip={"x": 300, "y": frame["y"] - 40, "width": 900, "height": 520})
            assert not problems, problems
        finally:
            browser.close()
    if os.environ.get("ZOOMHARD_KEEP_SCREENSHOT"):
        import shutil

        shutil.copy(tmp_path / "explorer.png", os.environ["ZOOMHARD_KEEP_SCREENSHOT"])
