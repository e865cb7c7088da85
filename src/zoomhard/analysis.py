"""Pure functions over a predictions table (runs.store.PREDICTIONS), and `Analysis`, their typed
result: what analysis.json holds. Nothing here reads files but `read_min_cover`.

Everything starts from the correctness matrix (runs.tables.correctness): one row per image, one
column per transform of the grid in canonical order (scale, row, col), True where that
transform's top-1 is right.
50,000 images x 324 transforms is 16 MB of booleans, so every analysis is a numpy reduction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from . import stats
from .errors import UsageError
from .grid import STUDY_SCALE_ORDER, Zoom, ZoomGrid
# The analyses take a Correctness; a predictions table becomes one in runs.tables (named here
# too, for callers that hold a table and want its statistics).
from .runs.tables import Correctness, Layout, correctness, layout, values  # noqa: F401

TOP_K = 36   # the study's "36 crops": the first 36 transforms of the greedy min-cover


def standard_top1(c: Correctness, grid: ZoomGrid) -> float:
    """Top-1 of the study's standard crop (s256-r1c1 on the study's grid)."""
    return float(c.column(grid.standard).mean()) if c.image_ids else 0.0


def upper_bound(c: Correctness) -> float:
    """Fraction of images for which at least one transform is correct."""
    return float(c.matrix.any(axis=1).mean()) if c.image_ids else 0.0


# -- the study's analyses, all from the correctness matrix --------------------------------------

def _frac(x: np.ndarray) -> float:
    return float(x.mean()) if x.size else 0.0


def per_transform(c: Correctness) -> np.ndarray:
    """Top-1 of each transform alone, in canonical order."""
    return c.matrix.mean(axis=0) if c.image_ids else np.zeros(len(c.zooms))


def _cube(c: Correctness, grid: ZoomGrid) -> np.ndarray:
    """The matrix as (images, scales, rows, cols)."""
    return c.matrix.reshape(len(c.image_ids), len(grid.scales), grid.rows, grid.cols)


def per_anchor(c: Correctness, grid: ZoomGrid, among: np.ndarray | None = None) -> np.ndarray:
    """(rows, cols): fraction of images that some scale at that anchor gets right (row 0 = top).
    `among`, a bool mask over the transforms, limits the scales to those transforms."""
    if not c.image_ids:
        return np.zeros((grid.rows, grid.cols))
    m = c.matrix if among is None else c.matrix & among
    return m.reshape(len(c.image_ids), len(grid.scales), grid.rows, grid.cols).any(axis=1).mean(axis=0)


def cover_mask(c: Correctness, cover: "Cover") -> np.ndarray:
    """Bool mask over c.zooms: True for every transform of the greedy cover (all of its picks)."""
    mask = np.zeros(len(c.zooms), dtype=bool)
    mask[cover.picks] = True
    return mask


def per_anchor_cover(c: Correctness, grid: ZoomGrid, cover: "Cover") -> np.ndarray:
    """The study's spatial-bias map (its Figure 2): per anchor, the fraction of images that some
    transform of the whole greedy min-cover at that anchor gets right; an anchor no pick sits at
    is 0. The authors' notebook (src/analysis/center-bias-analysis.ipynb, `show_accuracy` with
    `show_min_cover=True`) keeps the rows `min_covers[model][0]`: the whole cover, not its first
    36 (those are `[0][:36]`, used only for the top-36 histograms). It also masks every
    (image, transform) pair by per-image anchor-visibility data that was never published;
    that mask is not applied here."""
    return per_anchor(c, grid, cover_mask(c, cover))


def per_scale(c: Correctness, grid: ZoomGrid) -> dict[int, float]:
    """scale -> fraction of images that some anchor at that scale gets right."""
    if not c.image_ids:
        return {s: 0.0 for s in grid.scales}
    solved = _cube(c, grid).any(axis=(2, 3)).mean(axis=0)
    return {s: float(v) for s, v in zip(grid.scales, solved)}


def center_per_scale(c: Correctness, grid: ZoomGrid) -> dict[int, float]:
    """scale -> top-1 of the centre anchor alone at that scale."""
    if not c.image_ids:
        return {s: 0.0 for s in grid.scales}
    centre = _cube(c, grid)[:, :, grid.rows // 2, grid.cols // 2].mean(axis=0)
    return {s: float(v) for s, v in zip(grid.scales, centre)}


@dataclass(frozen=True)
class Cover:
    picks: list[int]            # transform indices (into Correctness.zooms), in pick order
    new: list[int]              # images newly covered by each pick
    n_images: int
    ties: list[int] = field(default_factory=list)   # transforms that tied for each pick (1: none)

    def accuracy(self) -> list[float]:
        """Accuracy of the first k picks, for k = 1 .. len(picks)."""
        total = np.cumsum(self.new) if self.new else np.zeros(0)
        return [float(v) / self.n_images for v in total]

    def upper_bound_of_first(self, k: int) -> float:
        return float(sum(self.new[:k])) / self.n_images if self.n_images else 0.0


def study_order(zooms: list[Zoom]) -> np.ndarray:
    """Column indices of `zooms` in the order the study's results list them, the order its
    greedy cover breaks ties in: location-major (row, then col), and at each location the
    scales in the order of the study's own list (grid.STUDY_SCALE_ORDER; other scales after
    them, ascending)."""
    rank = {s: k for k, s in enumerate(STUDY_SCALE_ORDER)}
    key = [(z.row, z.col, rank.get(z.scale, len(rank)), z.scale) for z in zooms]
    return np.array(sorted(range(len(zooms)), key=key.__getitem__), dtype=np.int64)


def min_cover(c: Correctness) -> Cover:
    """Greedy minimum set cover of the solvable images by transforms.

    Each step picks the transform that covers the most images not yet covered; ties go to the
    first in the study's order (`study_order`: location-major, its list's scale order), as the
    authors' greedy walks its dict. `ties` records, per step, how many transforms tied for the
    pick. Stops once every solvable image is covered, so images no transform solves are never
    counted.
    """
    m = c.matrix
    order = study_order(c.zooms)
    counts = m[:, order].sum(axis=0, dtype=np.int64)     # columns in the study's order
    uncovered = m.any(axis=1)
    picks: list[int] = []
    new: list[int] = []
    ties: list[int] = []
    # The gain of a column only ever falls; subtract the rows each pick covers.
    while uncovered.any():
        k = int(np.argmax(counts))
        j = int(order[k])
        rows = np.flatnonzero(uncovered & m[:, j])
        picks.append(j)
        new.append(len(rows))
        ties.append(int(np.count_nonzero(counts == counts[k])))
        counts -= m[rows][:, order].sum(axis=0, dtype=np.int64)
        uncovered[rows] = False
    return Cover(picks, new, len(c.image_ids), ties)


def read_min_cover(path: str) -> list[Zoom]:
    """The greedy min-cover of an analysis.json, in order: a list of transform ids under
    "min_cover" (also taken: objects with an id / transform field, or the list under the
    cover's "transforms" / "ids"). Anything else is a ValueError naming the file."""
    from .runs.files import read_json

    doc = read_json(path, error=UsageError)
    cover = doc.get("min_cover") if isinstance(doc, dict) else None
    if isinstance(cover, dict):
        cover = cover.get("transforms", cover.get("ids", cover.get("order")))
    if not isinstance(cover, list):
        partial = " (a partial run's analysis: --until-correct leaves no cover)" if isinstance(doc, dict) and doc.get("partial") else ""
        raise UsageError(f"{path}: has no min_cover list of transforms{partial}")
    ids = [e.get("id", e.get("transform")) if isinstance(e, dict) else e for e in cover]
    if not all(isinstance(i, str) for i in ids):
        raise UsageError(f"{path}: min_cover entries must be transform ids like s256-r1c1")
    try:
        return [Zoom.parse(i) for i in ids]
    except ValueError as e:
        raise UsageError(f"{path}: {e}") from None


def disentangle(c: Correctness, grid: ZoomGrid, among: np.ndarray | None = None) -> dict:
    """Upper bounds with zoom-in only (scale > crop), zoom-out only (< crop) and scale == crop,
    and the share of all images that only that group solves. `among`, a bool mask over the
    transforms, limits every group to those transforms (its "scales" then lists theirs)."""
    scales = np.array([z.scale for z in c.zooms])
    keep = np.ones(len(c.zooms), dtype=bool) if among is None else among
    groups = {"zoom_in": (scales > grid.crop) & keep, "zoom_out": (scales < grid.crop) & keep,
              "crop_scale": (scales == grid.crop) & keep}
    solved = {k: c.matrix[:, mask].any(axis=1) for k, mask in groups.items()}
    out: dict = {"crop": grid.crop}
    for k, mask in groups.items():
        others = np.zeros(len(c.image_ids), dtype=bool)
        for other, s in solved.items():
            if other != k:
                others |= s
        out[k] = {
            "scales": sorted({int(s) for s in scales[mask]}),
            "upper_bound": _frac(solved[k]),
            "exclusive": _frac(solved[k] & ~others),
        }
    return out


def disentangle_cover(c: Correctness, grid: ZoomGrid, cover: "Cover") -> dict:
    """`disentangle` over the whole greedy min-cover's transforms only, as the authors'
    src/analysis/disentangling.ipynb filters its table to `min_covers[dataset][model][0]`
    before grouping by scale. (That notebook's exclusive shares reuse, for every model, the
    transform lists of the last model its loop saw; here each run's groups come from its own
    cover, which is what the notebook means to compute.)"""
    return disentangle(c, grid, cover_mask(c, cover))


def cover_histograms(c: Correctness, grid: ZoomGrid, cover: Cover, k: int = TOP_K) -> dict:
    """Where the first k transforms of the cover sit: counts per anchor (rows x cols) and per scale."""
    loc = np.zeros((grid.rows, grid.cols), dtype=np.int64)
    by_scale = {s: 0 for s in grid.scales}
    for j in cover.picks[:k]:
        z = c.zooms[j]
        loc[z.row, z.col] += 1
        by_scale[z.scale] += 1
    return {"k": min(k, len(cover.picks)), "location": loc.tolist(), "scale": by_scale}


def per_class(c: Correctness, grid: ZoomGrid, labels: list[tuple[int, ...]]) -> list[dict]:
    """Per ImageNet-1k class: images, standard top-1 and upper bound. `labels[i]` are the
    acceptable labels of image i (same order as c.image_ids); an image with several acceptable
    labels counts towards each of them."""
    if len(labels) != len(c.image_ids):
        raise ValueError("labels must give one label set per image")
    lengths = np.fromiter((len(x) for x in labels), dtype=np.int64, count=len(labels))
    flat = np.fromiter((l for x in labels for l in x), dtype=np.int64, count=int(lengths.sum()))
    owner = np.repeat(np.arange(len(labels)), lengths)
    if not len(flat):
        return []
    n_cls = int(flat.max()) + 1
    images = np.bincount(flat, minlength=n_cls)
    std = np.bincount(flat, weights=c.column(grid.standard)[owner], minlength=n_cls)
    ub = np.bincount(flat, weights=c.matrix.any(axis=1)[owner], minlength=n_cls)
    return [{"class": int(k), "images": int(images[k]), "standard_top1": float(std[k] / images[k]),
             "upper_bound": float(ub[k] / images[k])} for k in np.flatnonzero(images)]


def is_partial(c: Correctness) -> bool:
    """True when some image lacks some transform: an --until-correct run, which stops at each
    image's first right transform, leaves most of the grid unevaluated."""
    return not c.observed.all()


def standard_evaluated(c: Correctness, grid: ZoomGrid) -> bool:
    return bool(c.image_ids) and bool(c.observed[:, c.zooms.index(grid.standard)].all())


# What a partial run cannot tell: each needs every image's whole row of the grid. An
# --until-correct run tries transforms in an order (the centre first by default) and stops at
# the first right one, so the transforms it tried are right more often than the grid is, and
# most of them where the order starts: a min-cover, the first 36 of it, per-anchor, per-scale
# or disentangled bounds computed from it would build that order into the numbers (a centre
# bias when the centre goes first) rather than measure the model.
GRID_WIDE = ("per_anchor", "per_anchor_cover", "per_scale", "center_per_scale", "min_cover", "min_cover_new",
             "cover_ties", "cover_curve", "disentangle", "disentangle_cover")
# The chance control compares the classes an image's whole grid predicts with other images'
# labels: an --until-correct run stops early on the images it solves, so their predicted sets
# are cut short and the chance level would be understated.
CHANCE = ("chance_upper_bound", "chance_per_anchor", "distinct_top1")


def anchor_key(row: int, col: int) -> str:
    """The key of a per-anchor cell in `confidence`: per_anchor_r0c1."""
    return f"per_anchor_r{row}c{col}"


def chance(c: Correctness, grid: ZoomGrid, top1: np.ndarray, labels: list[tuple[int, ...]]) -> dict:
    """The chance control (stats.chance_upper_bound) of the upper bound and of each anchor's,
    the mean number of distinct top-1 classes per image, and each image's chance share (for
    its interval). `top1` is (images, transforms) like c.matrix: the predictions as scored
    (under a class subset, the subset's argmax), so chance restricts as the upper bound does."""
    n_classes = int(max(top1.max(initial=0), max((max(x) for x in labels if len(x)), default=0))) + 1
    sets = stats.label_sets(labels, n_classes)
    predicted = stats.predicted_sets(top1, c.observed, n_classes)
    per_image = stats.chance_per_image(predicted, labels, sets)
    distinct = predicted.nnz / predicted.shape[0] if predicted.shape[0] else 0.0
    del predicted
    # every anchor's scales side by side, (anchors x images) rows: one product for all anchors
    n, n_scales, n_anchors = len(c.image_ids), len(grid.scales), grid.rows * grid.cols
    by_anchor = top1.reshape(n, n_scales, n_anchors).transpose(2, 0, 1).reshape(n_anchors * n, n_scales)
    counts = stats.chance_counts(stats.predicted_sets(by_anchor, None, n_classes), labels, sets)
    per_anchor = counts.reshape(n_anchors, n).sum(axis=1) / max(n * (n - 1), 1)
    anchors = per_anchor.reshape(grid.rows, grid.cols).tolist()
    return {"chance_upper_bound": float(per_image.mean()) if n > 1 else None,
            "chance_per_anchor": anchors if n > 1 else None, "distinct_top1": distinct,
            "per_image": per_image}


def confidence(columns: dict[str, np.ndarray], resamples: int = stats.CI_RESAMPLES) -> dict[str, list[float]]:
    """{key: [lo, hi]}: 95 % bootstrap intervals over images of the mean of each per-image column."""
    if not columns or resamples < 1:
        return {}
    keys = list(columns)
    ci = stats.bootstrap_ci(np.stack([np.asarray(columns[k], dtype=np.float64) for k in keys], axis=1), resamples)
    return {k: [float(lo), float(hi)] for k, (lo, hi) in zip(keys, ci)}


def top_k_keys(k: int = TOP_K) -> tuple[str, str]:
    """analysis.json's keys of the first k of the cover: its upper bound and its histograms."""
    return f"top{k}_upper_bound", f"top{k}_histograms"


def analyze(c: Correctness, grid: ZoomGrid, top_k: int = TOP_K, partial: bool | None = None,
            top1: np.ndarray | None = None, labels: list[tuple[int, ...]] | None = None,
            ci_resamples: int = stats.CI_RESAMPLES) -> dict:
    """Everything of analysis.json that follows from the matrix (fractions in [0, 1]), and,
    given each cell's `top1` (laid out like c.matrix) and each image's `labels`, the chance
    control (CHANCE). `confidence` holds 95 % bootstrap intervals over images
    (`ci_resamples` resamples, 0: none) of the standard crop, the upper bound, the top-k bound,
    the chance bound and every per-anchor cell (keys: `anchor_key`).

    `partial` (default: some image lacks some transform) keeps only what stays exact: the
    upper bound (an image counts as solved once one transform is right, and an unsolved one
    has been tried on every transform), the share unsolved, and the standard crop's top-1 when
    every image has it (else None). Every quantity of GRID_WIDE, CHANCE and the top-k ones are None.
    """
    partial = is_partial(c) if partial is None else partial
    bound_key, histograms_key = top_k_keys(top_k)
    solved = c.matrix.any(axis=1)
    columns: dict[str, np.ndarray] = {}
    if c.image_ids and (not partial or standard_evaluated(c, grid)):
        columns["standard_top1"] = c.column(grid.standard)
    if c.image_ids:
        columns["upper_bound"] = solved
    out = {
        "n_images": len(c.image_ids),
        "n_transforms": len(c.zooms),
        "partial": partial,
        "evaluated": float(c.observed.mean()) if c.image_ids else 0.0,
        "standard": grid.standard.id,
        "standard_top1": standard_top1(c, grid) if not partial or standard_evaluated(c, grid) else None,
        "upper_bound": upper_bound(c),
        "unsolved": _frac(~c.matrix.any(axis=1)),
    }
    if partial:
        return {**out, **dict.fromkeys(GRID_WIDE), bound_key: None, histograms_key: None, **dict.fromkeys(CHANCE),
                "confidence": confidence(columns, ci_resamples)}
    cover = min_cover(c)
    chance_out = dict.fromkeys(CHANCE)
    if top1 is not None and labels is not None and c.image_ids:
        chance_out = chance(c, grid, top1, labels)
        if chance_out["chance_upper_bound"] is not None:
            columns["chance_upper_bound"] = chance_out["per_image"]
        del chance_out["per_image"]
    if c.image_ids:
        columns[bound_key] = c.matrix[:, cover.picks[:top_k]].any(axis=1)
        anchors = _cube(c, grid).any(axis=1)
        for r in range(grid.rows):
            for k in range(grid.cols):
                columns[anchor_key(r, k)] = anchors[:, r, k]
    return {
        **out,
        **chance_out,
        "confidence": confidence(columns, ci_resamples),
        "per_anchor": per_anchor(c, grid).tolist(),
        "per_anchor_cover": per_anchor_cover(c, grid, cover).tolist(),
        "per_scale": {str(s): v for s, v in per_scale(c, grid).items()},
        "center_per_scale": {str(s): v for s, v in center_per_scale(c, grid).items()},
        "min_cover": [c.zooms[j].id for j in cover.picks],
        "min_cover_new": cover.new,
        "cover_ties": cover.ties,
        "cover_curve": cover.accuracy(),
        bound_key: cover.upper_bound_of_first(top_k),
        "disentangle": disentangle(c, grid),
        "disentangle_cover": disentangle_cover(c, grid, cover),
        histograms_key: cover_histograms(c, grid, cover, top_k),
    }


def fixed_by_zoom(c: Correctness, grid: ZoomGrid, label_prob: np.ndarray, limit: int = 6) -> list[tuple[int, int]]:
    """Images the standard crop gets wrong and some transform gets right, as (image, transform)
    pairs: the correct transform with the highest probability of a right label. The `limit`
    most confident fixes, ties in image order. `label_prob` is (images, transforms)."""
    j = c.zooms.index(grid.standard)
    wrong = c.observed[:, j] & ~c.matrix[:, j]      # a standard crop never tried is not wrong
    fixable = np.flatnonzero(wrong & c.matrix.any(axis=1))
    if not len(fixable):
        return []
    p = np.where(c.matrix[fixable], label_prob[fixable], -1.0)
    best = p.argmax(axis=1)
    order = np.lexsort((fixable, -p[np.arange(len(fixable)), best]))[:limit]
    return [(int(fixable[i]), int(best[i])) for i in order]


# -- analysis.json, typed -----------------------------------------------------------------------

# 2: partial, evaluated, per_anchor_cover, disentangle_cover; 3: top_k (the k of the top-k keys).
# 4: the cover's ties broken in the study's order, cover_ties.
# 5: chance_upper_bound, chance_per_anchor, distinct_top1 and confidence (95 % intervals).
# Analysis.from_dict reads every version; an older file lacks only what came later.
ANALYSIS_VERSION = 5


@dataclass(frozen=True)
class ScaleGroup:
    """One group of `disentangle`: its scales, their upper bound, and the share of all images
    that only this group solves."""
    scales: list[int]
    upper_bound: float
    exclusive: float


@dataclass(frozen=True)
class Disentangled:
    """Upper bounds of zoom-in (scale > crop), zoom-out (< crop) and scale == crop alone."""
    crop: int
    zoom_in: ScaleGroup
    zoom_out: ScaleGroup
    crop_scale: ScaleGroup

    @classmethod
    def from_dict(cls, d: dict) -> "Disentangled":
        groups = {f.name: ScaleGroup(**d[f.name]) for f in fields(cls) if f.name != "crop"}
        return cls(crop=d["crop"], **groups)

    def to_dict(self) -> dict:
        return {"crop": self.crop, **{f.name: vars(getattr(self, f.name)) for f in fields(self) if f.name != "crop"}}


@dataclass(frozen=True)
class CoverHistograms:
    """Where the first k transforms of the cover sit: counts per anchor (rows x cols) and per scale."""
    k: int
    location: list[list[int]]
    scale: dict[int, int]

    @classmethod
    def from_dict(cls, d: dict) -> "CoverHistograms":
        return cls(d["k"], d["location"], {int(s): n for s, n in d["scale"].items()})

    def to_dict(self) -> dict:
        return {"k": self.k, "location": self.location, "scale": {str(s): n for s, n in self.scale.items()}}


@dataclass
class Framing:
    """One transform of a gallery image: its top-1 class and probability, and its crop's file
    (relative to the run folder) once cut."""
    transform: str
    top1: int
    name: str
    prob: float
    crop: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None or k != "crop"}


@dataclass
class GalleryEntry:
    """An image fixed by zoom: the standard crop's wrong answer beside the best zoom's right one;
    `unreadable` says why its crops could not be cut."""
    image_id: str
    labels: list[str]
    origin: str
    locator: str
    standard: Framing
    best: Framing
    unreadable: str | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "GalleryEntry":
        return cls(**{**d, "standard": Framing(**d["standard"]), "best": Framing(**d["best"])})

    def to_dict(self) -> dict:
        out = {**vars(self), "standard": self.standard.to_dict(), "best": self.best.to_dict()}
        if self.unreadable is None:
            del out["unreadable"]
        return out


def _maybe(convert, value):
    return None if value is None else convert(value)


def _scale_map(d: dict) -> dict[int, float]:
    return {int(s): float(v) for s, v in d.items()}


@dataclass(frozen=True, kw_only=True)
class Analysis:
    """analysis.json as typed attributes (fractions in [0, 1]); `to_dict()` gives the JSON form
    and `from_dict()` reads it back, from this or any earlier ANALYSIS_VERSION.

    A partial run (--until-correct) has None for every grid-wide quantity (GRID_WIDE) and the
    top-k ones. `figures` and `gallery` are there once `zoomhard analyze` wrote them. Keys of a
    newer analysis that this class does not name are kept in `extra` and read as attributes too."""

    analysis_version: int = ANALYSIS_VERSION
    run: str | None = None
    fingerprint: str | None = None                   # names the predictions parts it was computed from
    model: str | None = None
    data: dict | None = None
    subset: dict | None = None
    grid: ZoomGrid
    n_images: int
    n_transforms: int
    partial: bool = False
    evaluated: float = 1.0                           # share of the grid that holds a prediction
    standard: Zoom                                   # the standard crop (s256-r1c1 on the study's grid)
    standard_top1: float | None                      # None: not evaluated for every image (partial)
    upper_bound: float                               # some transform is right
    unsolved: float                                  # no transform is right
    per_anchor: list[list[float]] | None = None      # rows x cols, row 0 = top: some scale at that anchor
    per_anchor_cover: list[list[float]] | None = None   # the same over the cover's transforms only
    per_scale: dict[int, float] | None = None        # some anchor at that scale is right
    center_per_scale: dict[int, float] | None = None   # the centre anchor alone at that scale
    min_cover: list[Zoom] | None = None              # the greedy cover, in pick order
    min_cover_new: list[int] | None = None           # images each pick newly covers
    cover_ties: list[int] | None = None              # transforms tied for each pick (1: no tie)
    cover_curve: list[float] | None = None           # accuracy of the first k picks, k = 1 ..
    top_k: int = TOP_K                               # the k of the study's "36 crops"
    top_k_upper_bound: float | None = None           # accuracy of the cover's first top_k picks
    disentangle: Disentangled | None = None
    disentangle_cover: Disentangled | None = None    # over the cover's transforms only
    top_k_histograms: CoverHistograms | None = None  # where the first top_k picks sit
    chance_upper_bound: float | None = None          # the upper bound against another image's labels (None: partial)
    chance_per_anchor: list[list[float]] | None = None   # the same per anchor, beside per_anchor
    distinct_top1: float | None = None               # mean distinct top-1 classes an image's transforms predict
    confidence: dict[str, list[float]] | None = None   # key -> [lo, hi], 95 % bootstrap over images
    figures: dict[str, str] | None = None            # figure name -> PNG path relative to the run folder
    gallery: list[GalleryEntry] | None = None
    extra: dict = field(default_factory=dict)

    def __getattr__(self, name: str):
        # only for names that are not fields: `top36_upper_bound` / `top36_histograms` (the
        # names analysis.json gives them) and the keys of a newer analysis
        alias = _top_k_fields(self.__dict__.get("top_k", TOP_K)).get(name)
        if alias is not None:
            return self.__dict__[alias]
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def cover_size(self) -> int | None:
        """Transforms the greedy cover needs (None for a partial run)."""
        return None if self.min_cover is None else len(self.min_cover)

    @classmethod
    def from_dict(cls, d: dict) -> "Analysis":
        keys = {v: k for k, v in _top_k_fields(d.get("top_k", TOP_K)).items()}   # before version 3: 36
        values = {"top_k": d.get("top_k", TOP_K)}
        for f in fields(cls):
            key = keys.get(f.name, f.name)
            if f.name not in ("extra", "top_k") and key in d:
                values[f.name] = _maybe(_FROM_JSON.get(f.name, lambda v: v), d[key])
        json_keys = {keys.get(name, name) for name in values}
        return cls(**values, extra={k: v for k, v in d.items() if k not in json_keys})

    def to_dict(self) -> dict:
        """The analysis.json form: transform ids as strings, scales as string keys; `figures`
        and `gallery` only once written."""
        keys = {v: k for k, v in _top_k_fields(self.top_k).items()}
        out: dict = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "extra" or (f.name in ("figures", "gallery") and v is None):
                continue
            out[keys.get(f.name, f.name)] = _maybe(_TO_JSON.get(f.name, lambda x: x), v)
        return {**out, **self.extra}


def _top_k_fields(k: int) -> dict[str, str]:
    """analysis.json's names of the top-k fields (top36_upper_bound, ...) -> the field."""
    bound_key, histograms_key = top_k_keys(k)
    return {bound_key: "top_k_upper_bound", histograms_key: "top_k_histograms"}


# How the fields that are not plain JSON values read from and write to analysis.json.
_FROM_JSON = {
    "grid": ZoomGrid.from_dict, "standard": Zoom.parse, "per_scale": _scale_map, "center_per_scale": _scale_map,
    "min_cover": lambda v: [Zoom.parse(z) for z in v], "disentangle": Disentangled.from_dict,
    "disentangle_cover": Disentangled.from_dict, "top_k_histograms": CoverHistograms.from_dict,
    "gallery": lambda v: [GalleryEntry.from_dict(e) for e in v],
}
_TO_JSON = {
    "grid": ZoomGrid.to_dict, "standard": lambda z: z.id, "per_scale": lambda m: {str(s): v for s, v in m.items()},
    "center_per_scale": lambda m: {str(s): v for s, v in m.items()}, "min_cover": lambda zs: [z.id for z in zs],
    "disentangle": Disentangled.to_dict, "disentangle_cover": Disentangled.to_dict,
    "top_k_histograms": CoverHistograms.to_dict, "gallery": lambda es: [e.to_dict() for e in es],
}
