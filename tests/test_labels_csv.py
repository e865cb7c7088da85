"""labels.csv: a label is an index, a wnid or a class name (any of its synonyms), several
separated by ';'; a sweep whose images are all refused says why and fails."""

import csv

import pytest

from badimages import sample
from zoomhard import labels as L
from zoomhard.cli import main
from zoomhard.errors import LabelError
from zoomhard.runs.store import RunStore


def test_a_label_is_an_index_a_wnid_or_any_name_of_the_class_separated_by_semicolons():
    assert L.parse_labels("Granny Smith") == (948,)
    assert L.parse_labels("281; n02123159 ;tiger cat") == (281, 282)
    assert L.parse_labels("tabby cat;TABBY") == (281,)          # synonyms, any case
    assert L.parse_labels("tabby, tabby cat") == (281,)         # the full name as timm spells it
    assert L.parse_labels("") == ()


def test_labels_written_before_names_were_accepted_still_read():
    assert L.parse_labels("281 282 285") == (281, 282, 285)
    assert L.parse_labels("n02123045|n02123159") == (281, 282)


def test_an_ambiguous_name_is_refused_naming_its_wnids():
    with pytest.raises(LabelError, match=r"'crane' names 2 classes: n02012849 .*n03126707"):
        L.parse_labels("crane")
    with pytest.raises(LabelError, match="close: granny smith"):
        L.parse_labels("granny smit")


def test_a_folder_labelled_by_class_names_is_swept(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    sample("chelsea.png").resize((160, 120)).save(folder / "cat.jpg")
    sample("coffee.png").resize((160, 120)).save(folder / "cup.jpg")
    sample("coffee.png").resize((160, 120)).save(folder / "crane.jpg")
    with open(folder / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([["image", "labels"], ["cat.jpg", "tabby;tiger cat;Egyptian cat"],
                                 ["cup.jpg", "espresso"], ["crane.jpg", "crane"]])
    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), "--scales", "256", "--no-progress"]) == 0
    assert "2 images x 9 transforms" in capsys.readouterr().out
    labels = dict(zip(*RunStore(out).images().select(["image_id", "labels"]).to_pydict().values()))
    assert labels == {"cat.jpg": [281, 282, 285], "cup.jpg": [967]}
    reason = RunStore(out).errors()["crane.jpg"]
    assert reason.startswith("labels.csv line 4, column labels:") and "n02012849" in reason


def test_a_sweep_whose_every_image_is_refused_fails_with_the_first_reason(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    sample("coffee.png").resize((160, 120)).save(folder / "cup.jpg")
    (folder / "labels.csv").write_text("image,labels\nbroken.jpg,espresso\ncup.jpg,Granny Smit\nmissing.jpg,\n")
    out = tmp_path / "run"
    assert main(["sweep", "-m", "lite0", "-d", str(folder), "-o", str(out), "--scales", "256", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("zoomhard: error: no images swept: all 3 refused (2 unreadable, 1 without a label;")
    assert "errors.csv" in err and "the first, broken.jpg: not an image" in err
