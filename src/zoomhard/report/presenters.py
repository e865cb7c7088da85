"""Every analysis as the outputs show it, in one list that `analyze`, `report` and `compare`
iterate: a CSV table (tables.py), a figure (figures.py) with its caption, an HTML section of
the report (sections.py) and summary columns (the report's summary table, compare's rows).
Adding an analysis is its function(s) and one row of PRESENTERS.

A presenter marked grid_wide needs every transform of every image: a partial run
(--until-correct) gets none of its outputs, and stale ones of an earlier full analysis are
removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..analysis import TOP_K, Analysis
from . import sections as S
from . import tables as T
from .text import percent

if TYPE_CHECKING:
    from .load import AnalyzedRun, LoadedRun


@dataclass(frozen=True)
class Figure:
    key: str                      # report.figures.<key> draws it; its name in analysis.json's "figures"
    file: str                     # under RUN/figures/
    caption: str | None = None    # under it in the report; None: a section shows it instead

    @property
    def path(self) -> str:
        return f"figures/{self.file}"

    def draw(self, a: Analysis, run_dir: Path, path: Path | None = None) -> bool:
        """Draw into `path` (default: its place in run_dir); False when there is nothing to draw."""
        from . import figures   # matplotlib only when a figure is drawn: compare and summary need none

        return getattr(figures, self.key)(a, run_dir, path or run_dir / self.path)


@dataclass(frozen=True)
class Column:
    key: str                                  # compare's row key (--json)
    head: str                                 # header in the report's summary table
    value: Callable[[Analysis], Any]          # None where a partial run has none
    compare_head: str | None = None           # header in compare's table; None: --json only
    percent: bool = True                      # a fraction shown as a percentage, else a count
    of_transforms: bool = False               # compare's table adds the run's number of transforms

    def text(self, v) -> str:
        return percent(v) if self.percent else "-" if v is None else str(v)


@dataclass(frozen=True)
class Presenter:
    name: str                                              # its CSV is RUN/analysis/NAME.csv
    grid_wide: bool = True
    table: Callable[[LoadedRun, Analysis], T.Table] | None = None
    figure: Figure | None = None
    section: Callable[[AnalyzedRun], str] | None = None    # HTML below the run's figures
    columns: tuple[Column, ...] = ()

    @property
    def csv(self) -> str:
        return f"{self.name}.csv"

    def shown(self, a: Analysis) -> bool:
        return not (self.grid_wide and a.partial)


def _group(name: str) -> Callable[[Analysis], float | None]:
    return lambda a: None if a.disentangle is None else getattr(a.disentangle, name).upper_bound


PRESENTERS: tuple[Presenter, ...] = (
    Presenter("standard", grid_wide=False, columns=(
        Column("crop1", "standard 1-crop", lambda a: a.standard_top1, "1-crop"),)),
    Presenter("per_anchor", table=T.per_anchor, section=S.spatial_bias_notes, figure=Figure(
        "spatial_bias", "spatial_bias.png",
        "Spatial bias: the fraction of images some transform at each anchor gets right, over all transforms "
        "(left) and over the greedy cover's transforms only (right, the paper's quantity). Under each cell of the "
        "left map, its chance level: how often the same predictions are right against the labels of another image "
        "of the run. The cells are laid out as in the image, its top row at the top; the paper's Figure 2 draws the "
        "bottom row at the top.")),
    Presenter("per_scale", table=T.per_scale, figure=Figure(
        "scale_curves", "scale_curves.png",
        "Accuracy vs scale: the upper bound over all anchors and the centre anchor alone.")),
    Presenter("min_cover", table=T.min_cover, figure=Figure(
        "cover_curve", "cover_curve.png", "Accuracy of the first k transforms of the greedy minimum cover."),
        columns=(Column(f"crop{TOP_K}", f"{TOP_K}-crop (cover)", lambda a: a.top_k_upper_bound, f"{TOP_K}-crop"),
                 Column("min_cover", "min cover", lambda a: a.cover_size, percent=False))),
    Presenter("top_histograms", figure=Figure(
        "top_histograms", f"top{TOP_K}_histograms.png",
        f"The anchors and scales of the greedy cover's transforms (its first {TOP_K} when it has more).")),
    Presenter("upper_bound", grid_wide=False, columns=(
        Column("crop_all", "upper bound", lambda a: a.upper_bound, "all-crop (n)", of_transforms=True),
        Column("chance", "chance", lambda a: a.chance_upper_bound, "chance"),
        Column("unsolved", "unsolved", lambda a: a.unsolved))),
    Presenter("disentangle", section=S.disentangle_table, columns=(
        Column("zoom_in", "zoom-in only", _group("zoom_in")), Column("zoom_out", "zoom-out only", _group("zoom_out")))),
    Presenter("per_transform", table=T.per_transform),
    Presenter("per_class", grid_wide=False, table=T.per_class),
    Presenter("per_image", grid_wide=False, table=T.per_image),
    Presenter("gallery", grid_wide=False, figure=Figure("gallery", "gallery.png"), section=S.gallery_cards),
)

COLUMNS: tuple[Column, ...] = tuple(c for p in PRESENTERS for c in p.columns)
