"""The study page's own figures: the paper's Figure 2 drawn like a run's spatial-bias map, and
accuracy vs scale with one curve per model of a dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import ScalarFormatter

from ..analysis import Analysis
from ..report.figures import DPI, heatmap, legend_below, percent_axis, plt


def paper_spatial_bias(values: list[list[float]], dataset: str, path: Path) -> Path:
    """The study's per-anchor upper bound of ResNet-50 on `dataset`, as a run's map is drawn."""
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    im = heatmap(ax, np.array(values, dtype=float) * 100, lambda x: f"{x:.1f}%", "viridis")
    fig.colorbar(im, ax=ax, label="images solved by some scale at this anchor (%)")
    ax.set_title(f"The paper's Figure 2: ResNet-50 on {dataset}\n(over its min-cover transforms; "
                 "cells laid out as in the image)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def scale_curves(dataset: str, results: list[tuple[str, Analysis]], path: Path) -> Path:
    """Upper bound over the anchors at each scale (solid) and the centre anchor alone (dashed),
    one colour per model."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    all_scales: set[int] = set()
    for k, (name, r) in enumerate(results):
        scales = list(r.per_scale)
        all_scales.update(scales)
        color = f"C{k % 10}"
        ax.plot(scales, [r.per_scale[s] * 100 for s in scales], "o-", ms=4, color=color,
                label=f"{name}: any anchor")
        ax.plot(scales, [r.center_per_scale[s] * 100 for s in scales], "s--", ms=3, color=color, alpha=0.7,
                label=f"{name}: centre anchor")
    scales = sorted(all_scales)
    if len(scales) > 1 and scales[-1] / scales[0] > 8:
        ax.set_xscale("log", base=2)
    ax.set_xticks(scales if len(scales) <= 8 else [s for s in scales if s in (16, 32, 64, 128, 256, 512, 1024)])
    ax.minorticks_off()
    ax.get_xaxis().set_major_formatter(ScalarFormatter())
    ax.set_xlabel("scale: shorter side resized to (pixels)")
    ax.set_ylabel("top-1 accuracy (%)")
    percent_axis(ax)
    ax.grid(alpha=0.3)
    legend_below(ax, 2 * len(results))
    ax.set_title(f"Accuracy vs scale on {dataset}", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return path
