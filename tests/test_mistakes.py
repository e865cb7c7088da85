"""Common vs rare mistakes from the WordNet hierarchy of the ImageNet classes."""

import csv
import json
from pathlib import Path

import pytest

from zoomhard import mistakes as E
from zoomhard import labels as L
from zoomhard.cli import main

I = L.wnid_index()
TABBY, TIGER_CAT, BEAGLE, GOLDEN, SHUTTLE, ESPRESSO = (I["n02123045"], I["n02123159"], I["n02088364"],
                                                         I["n02099601"], I["n04266014"], I["n07920052"])


def test_shipped_hierarchy_reaches_the_root_from_every_class():
    tree = E.hierarchy()
    assert all(w in tree for w in L.wnids())
    assert all("n00001740" in E.ancestors(w) for w in L.wnids())  # entity
    assert tree["n02123045"] == {"name": "tabby", "parents": ["n02121808"]}  # domestic cat


def test_shipped_hierarchy_regenerates_from_wordnet():
    data_noun = Path("/usr/share/wordnet/data.noun")
    if not data_noun.is_file():
        pytest.skip("WordNet 3.0 not installed (apt-get install wordnet-base)")
    import importlib.util

    spec = importlib.util.spec_from_file_location("build", Path(__file__).parents[1] / "scripts" / "build_wordnet_hierarchy.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.build(data_noun)["synsets"] == E.hierarchy()


@pytest.mark.parametrize("pred, labels, hops, kind", [
    (TIGER_CAT, (TABBY,), 1, "common"),          # siblings under 'domestic cat'
    (BEAGLE, (GOLDEN,), 3, "common"),            # meet at 'hunting dog'
    (SHUTTLE, (TABBY,), 6, "rare"),              # meet at 'whole, unit'
    (SHUTTLE, (ESPRESSO, TIGER_CAT), 6, "rare"),
    (TIGER_CAT, (ESPRESSO, TABBY), 1, "common"),  # the closest label counts
])
def test_mistakes_are_classified_by_wordnet_distance(pred, labels, hops, kind):
    assert E.relation(pred, labels)[0] == hops
    assert E.classify(pred, labels) == kind
    assert E.classify(pred, labels, max_hops=hops) == "common" and E.classify(pred, labels, max_hops=hops - 1) == "rare"


def test_errors_on_a_predictions_csv(tmp_path, capsys):
    preds = tmp_path / "p.csv"
    rows = [("a", TABBY, TIGER_CAT, 0), ("b", TABBY, TIGER_CAT, 0), ("c", TABBY, SHUTTLE, 0),
            ("d", ESPRESSO, ESPRESSO, 1)]
    with open(preds, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "image_id", "origin", "labels", "top1", "top1_name", "top5", "correct"])
        for image_id, label, top1, ok in rows:
            w.writerow(["m", image_id, "", label, top1, "", top1, ok])
    capsys.readouterr()
    assert main(["errors", str(preds), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["images"], s["mistakes"]) == (4, 3)
    assert s["shares"] == {"common": pytest.approx(2 / 3), "rare": pytest.approx(1 / 3)}
    assert s["confusions"][0] == {"label": "tabby", "top1": "tiger cat", "kind": "common", "count": 2}
    out = Path(s["out"])
    assert {p.name for p in out.iterdir()} == {"errors.csv", "confusions.csv", "errors.json", "errors.png"}
    assert (out / "errors.png").read_bytes()[:4] == b"\x89PNG"
    with open(out / "errors.csv") as f:
        assert [r["kind"] for r in csv.DictReader(f)] == ["common", "common", "rare"]


def test_errors_on_a_run_folder(samples_run, tmp_path, capsys):
    capsys.readouterr()
    assert main(["errors", str(samples_run), "-o", str(tmp_path / "e"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["images"] == 6 and s["what"].endswith("s256-r1c1")
    assert s["mistakes"] == sum(s["counts"].values())
    assert main(["errors", str(samples_run), "--transform", "s10-r0c0", "-o", str(tmp_path / "f")]) == 0
    assert main(["errors", str(samples_run), "--transform", "s999-r0c0", "-o", str(tmp_path / "g")]) == 2
