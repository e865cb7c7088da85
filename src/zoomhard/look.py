"""`zoomhard look`: one image through every framing of a grid, without a run folder.

The image is decoded once, every crop cut by crops.grid_crops and classified through the sweep's
Batcher, then scored as the sweep scores (protocols.score, all 1,000 classes). "Best" is the
framing with the highest probability of a right label, or, without labels, the most confident
top-1; ties go to the first in canonical order.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import labels as L
from .crops import ImageDecodeError, decode_image, grid_crops, zoom_crop
from .data import Item
from .errors import UsageError
from .grid import Zoom, ZoomGrid
from .models import Classifier
from .pipeline import Batcher, ImageCrops
from .protocols import score


@dataclass
class Look:
    """Every framing of one image: per transform (canonical order) the top-1, its probability,
    the best label's probability and whether the top-1 is a label."""

    image: str
    picture: Image.Image
    labels: tuple[int, ...]
    model: str
    grid: ZoomGrid
    top1: np.ndarray
    top1_prob: np.ndarray
    label_prob: np.ndarray
    correct: np.ndarray

    @property
    def zooms(self) -> list[Zoom]:
        return list(self.grid)

    @property
    def standard(self) -> int:
        return self.zooms.index(self.grid.standard)

    @property
    def best(self) -> int:
        return int(np.argmax(self.label_prob if self.labels else self.top1_prob))

    def framing(self, j: int) -> dict:
        """{"transform", "top1", "name", "prob", "correct"} of transform j; prob is the label's
        probability with labels, else the top-1's."""
        return {"transform": self.zooms[j].id, "top1": int(self.top1[j]), "name": L.short_name(int(self.top1[j])),
                "prob": float(self.label_prob[j] if self.labels else self.top1_prob[j]),
                "correct": bool(self.correct[j]) if self.labels else None}

    def seen_as(self) -> list[tuple[int, int]]:
        """(class, framings) of every distinct top-1, most framings first."""
        return Counter(int(k) for k in self.top1).most_common()

    def to_json(self) -> dict:
        return {"image": self.image, "labels": list(self.labels), "model": self.model,
                "transforms": len(self.grid), "correct_transforms": int(self.correct.sum()) if self.labels else None,
                "standard": self.framing(self.standard), "best": self.framing(self.best)}


def look(image: str | os.PathLike, classifier: Classifier, labels: tuple[int, ...] = (),
         grid: ZoomGrid | None = None, batch_size: int = 64) -> Look:
    """Classify every framing of one image file (ValueError naming it when it cannot be read)."""
    grid = grid or ZoomGrid()
    try:
        picture = decode_image(image)
    except ImageDecodeError as e:
        raise UsageError(f"{image}: {e}") from None
    crops = grid_crops(picture, grid)
    item = Item(str(image), tuple(labels), "", f"file:{Path(image).resolve()}")
    entry = ImageCrops(item, picture.size, crops, np.empty((len(crops), classifier.num_classes), np.float32),
                       len(crops))
    batcher = Batcher(classifier, batch_size, grid.crop)
    try:
        batcher.add(entry)
        batcher.run()
    finally:
        batcher.close()
    s = score(entry.logits, tuple(labels), None)
    return Look(str(image), picture, tuple(labels), classifier.spec, grid, s["top1"], s["top5_prob"][:, 0],
                s["label_prob"], s["correct"])


def parse_label_option(text: str | None) -> tuple[int, ...]:
    """--label 'tabby,tiger cat', 'Granny Smith;n07747607' or 'n02123045,282': classes separated
    by commas or, as in labels.csv, semicolons."""
    if not text:
        return ()
    return L.resolve_classes([t for t in re.split(r"[,;]", text) if t.strip()])


# -- the terminal -----------------------------------------------------------------------------

def _cell(lk: Look, j: int, letters: dict[int, str]) -> str:
    if not lk.labels:
        return letters.get(int(lk.top1[j]), ".")
    if lk.correct[j]:
        return "#"
    p = lk.label_prob[j]
    return "+" if p >= 0.2 else ":" if p >= 0.05 else "."


def _line(name: str, d: dict, labels: bool) -> str:
    verdict = ("right" if d["correct"] else "wrong") if labels else "top-1"
    return f"{name:<9}{d['transform']:<11}{d['name'][:28]:<29}{d['prob']:>6.1%}  {verdict}"


def format_look(lk: Look) -> str:
    w, h = lk.picture.size
    g = lk.grid
    head = f"{lk.image}  {w}x{h}  {lk.model}  {len(g)} transforms"
    out = [head + (f"  label: {', '.join(f'{L.short_name(k)} ({k})' for k in lk.labels)}" if lk.labels else "")]
    out += [_line("standard", lk.framing(lk.standard), bool(lk.labels)), _line("best", lk.framing(lk.best), bool(lk.labels))]
    letters: dict[int, str] = {}
    if lk.labels:
        n = int(lk.correct.sum())
        out.append(f"right under {n} of {len(g)} framings ({n / len(g):.0%})")
        out.append("map: # right   + label >= 20%   : >= 5%   . below")
    else:
        seen = lk.seen_as()
        out.append(f"seen as ({len(seen)} distinct top-1 classes across {len(g)} framings):")
        for k, (cls, count) in enumerate(seen):
            letter = chr(ord("A") + k) if k < 26 else "."
            if k < 26:
                letters[cls] = letter
            if k < 12:
                out.append(f"  {letter}  {L.short_name(cls)[:32]:<33}{count:>4}")
        if len(seen) > 12:
            out.append(f"  ... and {len(seen) - 12} more")
        out.append("map: the letter of each framing's top-1 class (. another)")
    out.append(" scale  " + " ".join(f"r{r}".ljust(g.cols) for r in range(g.rows)) + "   (c0.. left to right)")
    per = g.rows * g.cols
    for i, scale in enumerate(g.scales):
        cells = [_cell(lk, i * per + a, letters) for a in range(per)]
        groups = ["".join(cells[r * g.cols:(r + 1) * g.cols]) for r in range(g.rows)]
        out.append(f"{scale:>6}  " + " ".join(groups))
    return "\n".join(out)


# -- the picture ------------------------------------------------------------------------------

def crop_box(size: tuple[int, int], zoom: Zoom, grid: ZoomGrid) -> tuple[float, float, float, float]:
    """(left, top, width, height) of a transform's crop in the original image's pixels (it may
    reach past the image: that part of the crop is black): grid.py's box, on the original."""
    return grid.box(*size, zoom).on_original(*size)


def write_figure(lk: Look, path: str | os.PathLike) -> Path:
    """Figure 1 of the study for one image: the image with the crops' boxes, the standard crop
    and the best framing with their labels, and the scales x anchors map of the label's
    probability (the top-1's without labels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patheffects
    from matplotlib.patches import Rectangle

    g, (w, h) = lk.grid, lk.picture.size
    std, best = lk.framing(lk.standard), lk.framing(lk.best)
    labelled = bool(lk.labels)
    fig = plt.figure(figsize=(15, 5.2), dpi=110)
    spec = fig.add_gridspec(1, 4, width_ratios=[max(0.8, min(w / h, 2.0)) * 1.25, 1, 1, 0.62], wspace=0.18,
                            left=0.015, right=0.965, top=0.84, bottom=0.1)
    ax = fig.add_subplot(spec[0])
    ax.imshow(lk.picture)
    boxes = [(std, "#ffffff", (0, (4, 2))), (best, "#2ca02c" if best["correct"] or not labelled else "#d62728", "-")]
    frame = (-0.5, -0.5, w - 0.5, h - 0.5)   # the picture's pixel edges: left, top, right, bottom
    left, top, right, bottom = frame
    for d, color, style in boxes:
        x, y, bw, bh = crop_box((w, h), Zoom.parse(d["transform"]), g)
        x, y = x - 0.5, y - 0.5   # on pixel edges
        box = Rectangle((x, y), bw, bh, fill=False, lw=2.5, ls=style, ec=color, clip_on=False)
        box.set_path_effects([patheffects.withStroke(linewidth=4.5, foreground="black", alpha=0.6)])
        ax.add_patch(box)
        left, top, right, bottom = min(left, x), min(top, y), max(right, x + bw), max(bottom, y + bh)
    # a crop that reaches past the image is drawn whole, over black: what the crop sees there
    beyond = (left, top, right, bottom) != frame
    ax.set_facecolor("black")
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{Path(lk.image).name}  ({w}x{h})\ndashed: standard crop, solid: best framing"
                 + ("; black: past the image" if beyond else ""), fontsize=10)
    for k, (d, title) in enumerate(((std, "standard crop"), (best, "best framing"))):
        a = fig.add_subplot(spec[k + 1])
        a.imshow(zoom_crop(lk.picture, Zoom.parse(d["transform"]), g))
        a.set_xticks([])
        a.set_yticks([])
        ok = d["correct"]
        color = "#1a7f1a" if ok else "#c62828" if labelled else "#222"
        verdict = (" right" if ok else " wrong") if labelled else ""
        what = "label" if labelled else "top-1"
        a.set_title(f"{title}  {d['transform']}\n{L.short_name(d['top1'])}  "
                    f"({what} {d['prob']:.0%}){verdict}", fontsize=11, color=color)
        for side in a.spines.values():
            side.set_edgecolor(color)
            side.set_linewidth(3)
    hm = fig.add_subplot(spec[3])
    values = (lk.label_prob if labelled else lk.top1_prob).reshape(len(g.scales), g.rows * g.cols)
    im = hm.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    if labelled:
        ys, xs = np.nonzero(lk.correct.reshape(values.shape))
        hm.scatter(xs, ys, s=5, c="white", marker="o", linewidths=0)
    per = g.rows * g.cols
    for j, color in ((lk.standard, "#f5f5f5"), (lk.best, "#ff7f0e")):
        hm.add_patch(Rectangle((j % per - 0.5, j // per - 0.5), 1, 1, fill=False, ec=color, lw=1.8))
    hm.set_xticks(range(per), [f"r{a // g.cols}c{a % g.cols}" for a in range(per)], rotation=90, fontsize=7)
    hm.set_yticks(range(len(g.scales)), [str(s) for s in g.scales], fontsize=6 if len(g.scales) > 20 else 8)
    hm.set_ylabel("scale (shorter side)", fontsize=8)
    hm.set_title(("label probability" if labelled else "top-1 probability")
                 + ("\ndots: right; " if labelled else "\n") + "box: standard, orange: best", fontsize=9)
    cbar = fig.colorbar(im, ax=hm, fraction=0.12, pad=0.04)
    cbar.ax.tick_params(labelsize=7)
    hm.set_xlabel("anchor (row, col)", fontsize=8)
    if labelled:
        n = int(lk.correct.sum())
        names = ", ".join(L.short_name(k) for k in lk.labels)
        head = f"{lk.model}: label {names}; right under {n} of {len(g)} framings"
    else:
        seen = lk.seen_as()
        head = f"{lk.model}: seen as " + ", ".join(f"{L.short_name(c)} ({k})" for c, k in seen[:5]) + \
            (f" and {len(seen) - 5} more" if len(seen) > 5 else "") + f" across {len(g)} framings"
    fig.suptitle(head, fontsize=12)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
