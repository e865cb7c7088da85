"""Common vs rare mistakes, from the WordNet hierarchy of the ImageNet classes.

A mistake (top-1 not in the image's label list) is *common* when the predicted class and one of
the labels meet in WordNet close to both: they share an ancestor (hypernym, or the class itself)
at most `max_hops` (default 3) hypernym links above each of them. Siblings (tabby and tiger cat,
1 hop each under 'domestic cat') and close cousins (beagle and golden retriever meet at
'hunting dog', 2 and 3 hops) are common; a tabby taken for a space shuttle, whose first
shared ancestor is WordNet's 'whole, unit', is *rare*. The hierarchy (resources/
imagenet_wordnet_hierarchy.json) is regenerated from WordNet 3.0 by
scripts/build_wordnet_hierarchy.py; a synset's parents include instance hypernyms, and the hop
count is the shortest path up any parent.

Input: a run folder (the mistakes of one transform, the standard crop by default) or a
`bench --predictions` CSV.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, deque
from functools import lru_cache
from importlib import resources
from pathlib import Path

from . import labels as L
from .errors import UsageError
from .runs.files import write_csv

MISTAKE_KINDS = ("common", "rare")


@lru_cache(maxsize=None)
def hierarchy() -> dict[str, dict]:
    """wnid -> {'name', 'parents'} for every synset above the 1,000 classes."""
    text = resources.files("zoomhard.resources").joinpath("imagenet_wordnet_hierarchy.json").read_text()
    return json.loads(text)["synsets"]


@lru_cache(maxsize=4096)
def ancestors(wnid: str) -> dict[str, int]:
    """Every ancestor of `wnid` (itself included, at 0) with the fewest hops up to it."""
    tree = hierarchy()
    hops = {wnid: 0}
    queue = deque([wnid])
    while queue:
        w = queue.popleft()
        for p in tree.get(w, {}).get("parents", ()):
            if p not in hops:
                hops[p] = hops[w] + 1
                queue.append(p)
    return hops


def relation(pred: int, labels: tuple[int, ...]) -> tuple[int, str]:
    """(hops, meeting synset): the closest shared ancestor of the prediction and any label,
    closeness being the larger of the two hop counts."""
    wn = L.wnids()
    up = ancestors(wn[pred])
    best = (10 ** 6, "")
    for label in labels:
        for w, h in ancestors(wn[label]).items():
            if w in up:
                best = min(best, (max(h, up[w]), w))
    return best


def classify(pred: int, labels: tuple[int, ...], max_hops: int = 3) -> str:
    hops, _ = relation(pred, labels)
    return "common" if hops <= max_hops else "rare"


def _from_run(path: Path, transform: str | None) -> tuple[list[tuple[str, tuple[int, ...], int, bool]], str]:
    import pyarrow.compute as pc

    from .grid import Zoom, ZoomGrid
    from .runs.store import RunStore

    store = RunStore(path)
    config = store.read_config()
    grid = ZoomGrid.from_dict(config["grid"])
    store.checked_parts(config, grid)   # another run's parts, copies, odd columns: one line, as analyze
    zoom = Zoom.parse(transform) if transform else grid.standard
    t = store.predictions(columns=["image_id", "scale", "row", "col", "top1", "correct"])
    t = t.filter(pc.and_(pc.and_(pc.equal(t["scale"], zoom.scale), pc.equal(t["row"], zoom.row)),
                         pc.equal(t["col"], zoom.col)))
    if t.num_rows == 0:
        raise UsageError(f"{path}: no predictions for transform {zoom.id}")
    images = store.images().to_pydict()
    labels = {i: tuple(l) for i, l in zip(images["image_id"], images["labels"])}
    d = t.to_pydict()
    rows = [(i, labels[i], int(p), bool(c)) for i, p, c in zip(d["image_id"], d["top1"], d["correct"])]
    return rows, f"{config['model']} @ {zoom.id}"


def _from_csv(path: Path, model: str | None) -> tuple[list[tuple[str, tuple[int, ...], int, bool]], str]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"image_id", "labels", "top1", "correct"} <= set(rows[0]):
        raise UsageError(f"{path}: not a bench --predictions CSV (needs image_id, labels, top1, correct)")
    models = sorted({r.get("model", "") for r in rows})
    if model is None and len(models) > 1:
        raise UsageError(f"{path} holds several models; choose one with --model: {', '.join(models)}")
    model = model if model is not None else models[0]
    rows = [r for r in rows if r.get("model", "") == model]
    if not rows:
        raise UsageError(f"{path}: no rows for model {model!r}; models: {', '.join(models)}")
    out = [(r["image_id"], tuple(int(x) for x in r["labels"].split()), int(r["top1"]), r["correct"] in ("1", "True"))
           for r in rows]
    return out, model


def analyze_errors(source: str, out: str | None = None, model: str | None = None, transform: str | None = None,
                   max_hops: int = 3, top: int = 15) -> dict:
    """Classify every mistake, write errors.csv, confusions.csv, errors.json and errors.png."""
    path = Path(source).expanduser()
    if path.is_dir():
        rows, what = _from_run(path, transform)
        out_dir = Path(out) if out else path / "errors"
    else:
        rows, what = _from_csv(path, model)
        out_dir = Path(out) if out else path.with_name(path.stem + "_errors")
    wn = L.wnids()
    mistakes = []
    for image_id, labels, pred, correct in rows:
        if correct or not labels:
            continue
        hops, meet = relation(pred, labels)
        mistakes.append({"image_id": image_id, "labels": " ".join(wn[i] for i in labels), "top1": wn[pred],
                         "top1_name": L.short_name(pred), "label_names": "; ".join(L.short_name(i) for i in labels),
                         "kind": "common" if hops <= max_hops else "rare", "hops": hops,
                         "meets_at": hierarchy().get(meet, {}).get("name", meet)})
    kinds = Counter(m["kind"] for m in mistakes)
    pairs = Counter((m["label_names"], m["top1_name"], m["kind"]) for m in mistakes)
    confusions = [{"label": a, "top1": b, "kind": k, "count": c} for (a, b, k), c in pairs.most_common(top)]
    n, k = len(rows), len(mistakes)
    summary = {
        "source": str(path), "what": what, "images": n, "mistakes": k, "max_hops": max_hops,
        "error_rate": k / n if n else 0.0,
        "shares": {kind: (kinds[kind] / k if k else 0.0) for kind in MISTAKE_KINDS},
        "counts": {kind: kinds[kind] for kind in MISTAKE_KINDS},
        "confusions": confusions, "out": str(out_dir),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, table, columns in (
            ("errors.csv", mistakes, ["image_id", "labels", "label_names", "top1", "top1_name", "kind", "hops",
                                      "meets_at"]),
            ("confusions.csv", confusions, ["label", "top1", "kind", "count"])):
        write_csv(out_dir / name, columns, ([r[c] for c in columns] for r in table))
    (out_dir / "errors.json").write_text(json.dumps(summary, indent=2) + "\n")
    _figure(summary, out_dir / "errors.png")
    return summary


def _figure(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"common": "#4c72b0", "rare": "#dd8452"}
    conf = summary["confusions"][::-1]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, max(3.0, 0.35 * len(conf) + 1.5)),
                               gridspec_kw={"width_ratios": [1, 3]})
    a.bar(MISTAKE_KINDS, [summary["shares"][k] for k in MISTAKE_KINDS], color=[colors[k] for k in MISTAKE_KINDS])
    a.set_ylim(0, 1)
    a.set_ylabel("share of mistakes")
    a.set_title(f"{summary['mistakes']} mistakes of {summary['images']}")
    b.barh(range(len(conf)), [c["count"] for c in conf], color=[colors[c["kind"]] for c in conf])
    b.set_yticks(range(len(conf)), [f"{c['label'][:30]} -> {c['top1'][:24]}" for c in conf], fontsize=8)
    b.set_xlabel("images")
    b.set_title(f"most frequent confusions ({summary['what']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_errors(summary: dict) -> str:
    lines = [f"{summary['what']}: {summary['mistakes']} mistakes in {summary['images']} images "
             f"({summary['error_rate']:.2%}); common {summary['shares']['common']:.1%}, "
             f"rare {summary['shares']['rare']:.1%} (WordNet, <= {summary['max_hops']} hops)"]
    if summary["confusions"]:
        lines += ["", f"{'label':<32} {'top-1':<26} {'kind':<7} {'count':>5}"]
        lines += [f"{c['label'][:32]:<32} {c['top1'][:26]:<26} {c['kind']:<7} {c['count']:>5}" for c in summary["confusions"]]
    lines += ["", f"-> {summary['out']}/errors.csv, confusions.csv, errors.json, errors.png"]
    return "\n".join(lines)
