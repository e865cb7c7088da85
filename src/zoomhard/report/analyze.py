"""`zoomhard analyze`: analyse a run folder and write what the analysis found next to it.

    RUN/analysis.json       every number (fractions in [0, 1]; transform ids like s256-r1c1)
    RUN/analysis/*.csv      per transform, scale, anchor, class and image; the min cover
    RUN/figures/*.png       spatial bias, accuracy vs scale, cover curve, top-k histograms, gallery
    RUN/gallery/*.png       the crops of the gallery of images fixed by zoom

What is written is the list report.presenters.PRESENTERS.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq

from .. import analysis as A
from ..analysis import Analysis, Framing, GalleryEntry
from ..grid import ZoomGrid
from ..stats import CI_RESAMPLES, interval
from ..runs.files import atomic_write, atomic_write_text, write_csv
from ..runs.store import RunError
from .load import AnalyzedRun, LoadedRun, compute, load_run
from .presenters import PRESENTERS
from .text import class_name

GALLERY_SIZE = 6


def write_tables(run: LoadedRun, a: Analysis, out: Path) -> None:
    """Every presenter's CSV into `out`; a partial run gets only those that stay exact, and
    stale grid-wide ones are removed."""
    for p in PRESENTERS:
        if p.table is None:
            continue
        if p.shown(a):
            write_csv(out / p.csv, *p.table(run, a))
        else:
            (out / p.csv).unlink(missing_ok=True)


def write_figures(a: Analysis, out: Path) -> tuple[dict[str, str], list[Path]]:
    """Every presenter's figure into out/figures/, each written whole under a temporary name and
    renamed; returns {figure: path relative to out} and the stale figures to remove once
    analysis.json no longer names them (a figure not drawn, or of an earlier full analysis,
    would mislead)."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files, stale = {}, []
    for p in PRESENTERS:
        if p.figure is None:
            continue
        if p.shown(a) and atomic_write(out / p.figure.path, lambda tmp: p.figure.draw(a, out, tmp)):
            files[p.figure.key] = p.figure.path
        else:
            stale.append(out / p.figure.path)
    return files, stale


def gallery_entries(run: LoadedRun, limit: int = GALLERY_SIZE) -> list[GalleryEntry]:
    """Images fixed by zoom: the standard crop's wrong answer beside the best zoom's right one."""
    c, grid = run.c, run.grid
    label_prob = run.values("label_prob", fill=np.float32(0))
    picks = A.fixed_by_zoom(c, grid, label_prob, limit)
    if not picks:
        return []
    std_j = c.zooms.index(grid.standard)
    top1 = run.values("top1", fill=np.int16(-1))
    ids = [c.image_ids[i] for i, _ in picks]
    z = grid.standard
    wanted = [("image_id", "in", ids), ("scale", "=", z.scale), ("row", "=", z.row), ("col", "=", z.col)]
    std_prob = {}
    for part in run.parts_of([i for i, _ in picks]):   # only the parts that hold these images
        for r in pq.read_table(part, columns=["image_id", "top5_prob"], filters=wanted).to_pylist():
            std_prob[r["image_id"]] = (r["top5_prob"] or [0.0])[0]
    out = []
    for i, j in picks:
        row = run.images.slice(i, 1).to_pylist()[0]
        std = int(top1[i, std_j])
        out.append(GalleryEntry(
            image_id=c.image_ids[i], labels=[class_name(k) for k in row["labels"]], origin=row["origin"],
            locator=row["locator"],
            standard=Framing(grid.standard.id, std, class_name(std), float(std_prob.get(c.image_ids[i], 0.0))),
            best=Framing(c.zooms[j].id, int(top1[i, j]), class_name(int(top1[i, j])), float(label_prob[i, j]))))
    return out


def gallery_crops(run: LoadedRun, entries: list[GalleryEntry], out: Path,
                  allow_outside_root: bool = False) -> list[Path]:
    """Cut each gallery entry's two crops from the original image (each written whole); entries
    whose image cannot be read again get an `unreadable` reason instead. Returns the crops of an
    earlier analysis that this one does not name, to remove once analysis.json is written."""
    from PIL import Image

    from ..crops import ImageDecodeError, decode_image, zoom_crop
    from ..data import DataError
    from ..data.confine import LocatorPolicy
    from ..grid import Zoom

    policy = LocatorPolicy(run.config, run.path, allow_outside_root)

    out.mkdir(parents=True, exist_ok=True)
    written = set()
    for k, e in enumerate(entries):
        try:
            img = decode_image(policy.read(e.locator))
        except (ImageDecodeError, DataError, OSError) as err:
            e.unreadable = str(err)
            continue
        for side, framing in (("standard", e.standard), ("best", e.best)):
            z = Zoom.parse(framing.transform)
            crop = zoom_crop(img, z, ZoomGrid((z.scale,), run.grid.rows, run.grid.cols, run.grid.crop))
            name = f"{k:02d}-{side}.png"
            atomic_write(out / name, lambda tmp: Image.fromarray(crop).save(tmp, "PNG"))
            written.add(name)
            framing.crop = f"gallery/{name}"
    return [p for p in out.glob("*.png") if p.name not in written]


def check_outputs(out: Path) -> None:
    """The folders an analysis writes into are the run's own: a link there (to a folder
    elsewhere) would have the analysis write outside the run folder."""
    for name in ("analysis", "figures", "gallery", "analysis.json"):
        p = out / name
        if p.is_symlink():
            raise RunError(f"{p} is a link (to {os.readlink(p)}), not the run's own "
                           f"{'file' if '.' in name else 'folder'}; remove it and analyse again")


def analyze_run(path: str | os.PathLike, figures: bool = True, gallery: int = GALLERY_SIZE,
                log: Callable[[str], None] = lambda m: None, out: Path | None = None,
                ci_resamples: int = CI_RESAMPLES, allow_outside_root: bool = False) -> AnalyzedRun:
    """Analyse a run folder and write analysis.json, the CSVs and (with `figures`) the PNGs,
    into the run folder or `out`; `ci_resamples` bootstrap resamples per interval (0: none).
    The gallery reads images back only from the data the run was swept from, unless it was
    swept with --allow-outside-root and `allow_outside_root` agrees (data.confine)."""
    run = load_run(path)
    result = compute(run, ci_resamples)
    out = Path(out) if out is not None else run.path
    check_outputs(out)
    # Every file is written whole under a temporary name and renamed, analysis.json last, and
    # what it no longer names is removed only after: a kill at any instant leaves the old
    # analysis or the new one, each with the files it names.
    write_tables(run, result, out / "analysis")
    entries = gallery_entries(run, gallery) if gallery else []
    stale = gallery_crops(run, entries, out / "gallery", allow_outside_root) if figures else []
    result = replace(result, gallery=entries)
    if figures:
        files, old = write_figures(result, out)
        result, stale = replace(result, figures=files), stale + old
    atomic_write_text(out / "analysis.json", json.dumps(result.to_dict(), indent=1) + "\n")
    for p in stale:
        p.unlink(missing_ok=True)
    log(f"analysis of {len(run.c.image_ids)} images -> {out / 'analysis.json'}")
    return AnalyzedRun(run, result)


def format_result(a: Analysis) -> str:
    head = f"{a.n_images} images x {a.n_transforms} transforms: "
    if a.partial:
        std = a.standard_top1
        return (head + f"partial run ({a.evaluated:.1%} of the grid evaluated): upper bound "
                f"{a.upper_bound:.2%}, standard ({a.standard.id}) "
                + ("not evaluated for every image" if std is None else f"{std:.2%}")
                + "; only the upper bound and the standard crop are exact, so there is no min cover, "
                f"{a.top_k}-crop, per-anchor or per-scale figure")
    ci = a.confidence or {}

    def fig(key: str, value: float) -> str:
        return f"{value:.2%}" + (f" {interval(ci[key])}" if key in ci else "")

    chance = "" if a.chance_upper_bound is None else f" (chance {fig('chance_upper_bound', a.chance_upper_bound)})"
    return (head + f"standard ({a.standard.id}) {fig('standard_top1', a.standard_top1)}, first {a.top_k} of the cover "
            f"{fig(f'top{a.top_k}_upper_bound', a.top_k_upper_bound)}, upper bound {fig('upper_bound', a.upper_bound)}"
            f"{chance}; greedy min cover: {a.cover_size} transform(s)")
