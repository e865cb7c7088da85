"""The CSV tables of one analysed run: each is `name(run, a) -> (header, rows)`, written by
analyze_run to RUN/analysis/NAME.csv (report.presenters lists them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .. import analysis as A
from .. import labels as L
from ..analysis import Analysis, anchor_key
from .text import class_name

if TYPE_CHECKING:
    from .load import LoadedRun

Table = tuple[list[str], Iterable[list]]


def per_transform(run: LoadedRun, a: Analysis) -> Table:
    c = run.c
    return (["transform", "scale", "row", "col", "top1"],
            ([z.id, z.scale, z.row, z.col, f"{v:.6f}"] for z, v in zip(c.zooms, A.per_transform(c))))


def per_scale(run: LoadedRun, a: Analysis) -> Table:
    return (["scale", "upper_bound_9_anchors", "center"],
            ([s, f"{a.per_scale[s]:.6f}", f"{a.center_per_scale[s]:.6f}"] for s in a.grid.scales))


def per_anchor(run: LoadedRun, a: Analysis) -> Table:
    ci = a.confidence or {}
    chance = a.chance_per_anchor

    def extra(r: int, col: int) -> list[str]:
        lo_hi = ci.get(anchor_key(r, col))
        return ([f"{x:.6f}" for x in lo_hi] if lo_hi else ["", ""]) + [f"{chance[r][col]:.6f}" if chance else ""]

    return (["row", "col", "upper_bound", "upper_bound_cover", "upper_bound_lo", "upper_bound_hi", "chance"],
            ([r, col, f"{v:.6f}", f"{a.per_anchor_cover[r][col]:.6f}", *extra(r, col)]
             for r, line in enumerate(a.per_anchor) for col, v in enumerate(line)))


def min_cover(run: LoadedRun, a: Analysis) -> Table:
    """The cover in pick order; `tied`: how many transforms covered as many new images as the
    pick (1: none; ties go to the first in the study's order)."""
    ties = a.cover_ties or [""] * len(a.min_cover)
    return (["rank", "transform", "newly_covered", "tied", "accuracy"],
            ([k + 1, z.id, n, t, f"{acc:.6f}"]
             for k, (z, n, t, acc) in enumerate(zip(a.min_cover, a.min_cover_new, ties, a.cover_curve))))


def per_class(run: LoadedRun, a: Analysis) -> Table:
    """Per class: images, standard top-1 (blank where a partial run did not evaluate it for every
    image) and upper bound."""
    rows = A.per_class(run.c, run.grid, run.labels())
    known = a.standard_top1 is not None
    wnids = L.wnids()
    return (["class", "wnid", "name", "images", "standard_top1", "upper_bound"],
            ([r["class"], wnids[r["class"]] if r["class"] < len(wnids) else "", class_name(r["class"]), r["images"],
              f"{r['standard_top1']:.6f}" if known else "", f"{r['upper_bound']:.6f}"] for r in rows))


def per_image(run: LoadedRun, a: Analysis) -> Table:
    """Per image: whether the standard crop is right (blank where it was not tried), how many
    transforms are (blank for a partial run: only those it tried) and whether any is."""
    c, grid = run.c, run.grid
    std_j = c.zooms.index(grid.standard)
    std, std_seen = c.matrix[:, std_j], c.observed[:, std_j]
    solved = c.matrix.any(axis=1)
    n_correct = None if a.partial else c.matrix.sum(axis=1)
    labels, ids = run.labels(), c.image_ids
    origin = run.images.column("origin").to_pylist()
    return (["image_id", "labels", "origin", "standard_correct", "transforms_correct", "solved"],
            ([ids[i], " ".join(map(str, labels[i])), origin[i], int(std[i]) if std_seen[i] else "",
              "" if n_correct is None else int(n_correct[i]), int(solved[i])] for i in range(len(ids))))
