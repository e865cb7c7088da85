"""`zoomhard look`: one photo planted off-centre on a larger canvas, seen through every framing."""

import json

import numpy as np
import pytest
from PIL import Image

from zoomhard import labels as L
from zoomhard.cli import main
from zoomhard.data.samples import offcentre_png
from zoomhard.grid import ZoomGrid
from zoomhard.look import crop_box

SCALES = "256,448,640"
MILITARY_UNIFORM = 652


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """grace_hopper.jpg in the top-right quadrant of a grey canvas twice its size: the centre
    crop sees grey and a corner of the photo."""
    path = tmp_path_factory.mktemp("look") / "hopper-offcentre.png"
    path.write_bytes(offcentre_png("grace_hopper.jpg"))
    return path


def test_look_finds_the_off_centre_framing(planted, tmp_path, capsys):
    png = tmp_path / "look.png"
    assert main(["look", str(planted), "-m", "lite0", "--label", "military uniform", "--scales", SCALES,
                 "--backend", "torch", "--json", "--out", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"image", "labels", "model", "transforms", "correct_transforms", "standard", "best"}
    assert set(out["best"]) == set(out["standard"]) == {"transform", "top1", "name", "prob", "correct"}
    assert out["labels"] == [MILITARY_UNIFORM] and out["transforms"] == 27 and out["model"] == "lite0"
    assert out["standard"]["transform"] == "s256-r1c1" and not out["standard"]["correct"]
    best = out["best"]
    assert best["correct"] and best["top1"] == MILITARY_UNIFORM and best["prob"] > out["standard"]["prob"]
    assert 1 <= out["correct_transforms"] < 27
    # the best framing is off-centre, and its crop lies over the photo (top-right quadrant)
    from zoomhard.grid import Zoom

    z = Zoom.parse(best["transform"])
    assert (z.row, z.col) != (1, 1)
    w, h = Image.open(planted).size
    x, y, bw, bh = crop_box((w, h), z, ZoomGrid(ZoomGrid.parse_scales(SCALES)))
    assert x + bw / 2 > w / 2 and y + bh / 2 < h / 2
    picture = np.asarray(Image.open(png).convert("RGB"))
    assert picture.shape[0] > 400 and picture.shape[1] > 1200 and picture.std() > 20


def test_look_without_a_label_and_in_words(planted, capsys):
    assert main(["look", str(planted), "-m", "lite0", "--scales", "256", "--backend", "torch"]) == 0
    text = capsys.readouterr().out
    assert "seen as (" in text and "distinct top-1 classes across 9 framings" in text
    rows = [line for line in text.splitlines() if line.startswith("   256  ")]
    assert len(rows) == 1 and len(rows[0].split()) == 4          # 256 and three rows of three anchors
    import re

    legend = {m[1]: int(m[3]) for m in re.finditer(r"^  ([A-Z])  (.+?)\s+(\d+)$", text, re.M)}
    assert sum(legend.values()) == 9                # every framing's top-1 is one of the classes listed
    cells = "".join(rows[0].split()[1:])
    assert {k: cells.count(k) for k in legend} == legend   # and the map shows each as often

def test_look_bad_arguments_are_one_line(tmp_path, planted, capsys):
    assert main(["look", str(planted), "-m", "lite0", "--label", "military unifrom"]) == 2
    err = capsys.readouterr().err
    assert "not an ImageNet-1k class name; close: military uniform" in err and err.count("\n") == 1
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    assert main(["look", str(bad), "-m", "lite0", "--scales", "256", "--backend", "torch"]) == 2
    assert "broken.jpg: not an image" in capsys.readouterr().err


def test_label_option_takes_names_wnids_and_indices():
    from zoomhard.look import parse_label_option

    assert parse_label_option("tabby,tiger cat") == (281, 282)
    assert parse_label_option(f"{L.wnids()[285]}, 281") == (281, 285)
    assert parse_label_option("Granny Smith;tabby") == parse_label_option("Granny Smith,tabby") == (281, 948)


def test_the_figure_draws_a_crop_past_the_image_whole(tmp_path, monkeypatch):
    """A framing whose crop reaches past the picture (a corner anchor on a wide image) is drawn
    whole on the picture's panel, its part past the image black as the crop sees it; a framing
    inside the picture keeps the panel to the picture."""
    import matplotlib.pyplot as plt

    from zoomhard.grid import Zoom
    from zoomhard.look import Look, write_figure

    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", kept.append)
    grid = ZoomGrid((256, 512))
    picture = Image.new("RGB", (600, 300), (120, 90, 60))
    n = len(grid)

    def drawn(best: str):
        label_prob = np.full(n, 0.1)
        label_prob[list(grid).index(Zoom.parse(best))] = 0.9
        look = Look("wide.png", picture, (1,), "hand-built", grid, np.ones(n, dtype=np.int64), label_prob,
                    label_prob, label_prob > 0.5)
        write_figure(look, tmp_path / f"{best}.png")
        ax = kept[-1].axes[0]
        return ax.get_xlim(), ax.get_ylim(), ax.get_title()

    try:
        inside = drawn("s256-r1c1")
        assert inside[:2] == ((-0.5, 599.5), (299.5, -0.5)) and "past the image" not in inside[2]
        (left, right), (bottom, top), title = drawn("s512-r2c2")
        x, y, bw, bh = crop_box(picture.size, Zoom.parse("s512-r2c2"), grid)
        assert y + bh > 300 and bottom == pytest.approx(y + bh - 0.5)   # reaches below the picture
        assert (left, top) == (-0.5, -0.5) and right >= 599.5 and "black: past the image" in title
    finally:
        for fig in kept:
            close(fig)
