"""The figures of one analysed run, as PNG files that read without the text around them.

Each figure is `name(a, run_dir, path)`: drawn from the run's Analysis into `path`; it returns
False when it has nothing to draw. report.presenters lists them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..analysis import Analysis  # noqa: E402
from .text import count, prob_text  # noqa: E402

DPI = 110
# Percent axes run a little past 100 so that a curve at 100 % is not drawn on the frame.
PERCENT_TOP = 104


def percent_axis(ax) -> None:
    ax.set_ylim(0, PERCENT_TOP)
    ax.set_yticks(range(0, 101, 20))


def legend_below(ax, entries: int) -> None:
    """The legend under the axes, never over the data."""
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2 if entries > 1 else 1, fontsize=8,
              frameon=False)


def _title_suffix(a: Analysis) -> str:
    return f"{a.model or '?'} on {a.n_images} images"


def _axis_names(n: int, kind: str) -> list[str]:
    if n == 3:
        return ["top", "middle", "bottom"] if kind == "row" else ["left", "centre", "right"]
    return [f"{kind} {i}" for i in range(n)]


def heatmap(ax, values: np.ndarray, fmt, cmap: str, vmin=None, vmax=None, notes=None):
    """`notes`: a second, smaller line of text per cell (rows x cols strings), or None."""
    rows, cols = values.shape
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, origin="upper")
    ax.set_xticks(range(cols), _axis_names(cols, "col"))
    ax.set_yticks(range(rows), _axis_names(rows, "row"))
    ax.set_xlabel("anchor column (left to right)")
    ax.set_ylabel("anchor row (top to bottom)")
    for r in range(rows):
        for c in range(cols):
            v = values[r, c]
            red, green, blue, _ = im.cmap(im.norm(v))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5   # text must contrast with the cell
            ax.text(c, r, fmt(v), ha="center", va="center", fontsize=12,
                    color="white" if dark else "black", fontweight="bold")
            if notes is not None:
                ax.text(c, r + 0.28, notes[r][c], ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    return im


# Where the image's top is, said on every anchor map: the paper's Figure 2 drew the same
# (rows, cols) arrays with imshow(origin="lower"), so its top row of cells is the image's
# bottom row.
ROW_ORIENTATION = ("cells laid out as in the image, top row = top of the image "
                   "(the paper's Figure 2 draws the bottom row at the top)")


def spatial_bias(a: Analysis, run_dir: Path, path: Path) -> bool:
    """Two maps side by side: per anchor, the images some transform at that anchor gets right,
    over all transforms (per_anchor) and over the greedy cover's transforms only
    (per_anchor_cover, the paper's quantity without its unpublished visibility mask)."""
    panels = ((a.per_anchor, f"all {a.n_transforms} transforms"),
              (a.per_anchor_cover, f"the greedy cover's {count(a.cover_size, 'transform')} only\n"
                                   "(what the paper's Figure 2 shows)"))
    maps = [np.array(values, dtype=float) * 100 for values, _ in panels]
    lo, hi = min(m.min() for m in maps), max(m.max() for m in maps)   # one colour scale for both
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2), layout="constrained")
    # the chance level of each anchor's best-of-scales (another image's labels), under the left map
    chance = a.chance_per_anchor
    notes = [None, None] if chance is None else [[[f"chance {v:.1%}" for v in line] for line in chance], None]
    for ax, (_, over), values, note in zip(axes, panels, maps, notes):
        im = heatmap(ax, values, lambda x: f"{x:.1f}%", "viridis", vmin=lo, vmax=max(hi, lo + 1e-9), notes=note)
        ax.set_title(f"over {over}", fontsize=9)
    axes[1].set_ylabel("")
    fig.colorbar(im, ax=axes, label="images solved by some transform at this anchor (%)", shrink=0.85)
    fig.suptitle(f"Spatial bias: upper bound per anchor. {_title_suffix(a)}\n{ROW_ORIENTATION}", fontsize=10)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return True


def scale_curves(a: Analysis, run_dir: Path, path: Path) -> bool:
    grid = a.grid
    scales = list(a.per_scale)
    ub = [a.per_scale[s] * 100 for s in scales]
    centre = [a.center_per_scale[s] * 100 for s in scales]
    n = grid.rows * grid.cols
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.plot(scales, ub, "o-", color="tab:blue", ms=4, label=f"upper bound over the {n} anchors")
    ax.plot(scales, centre, "s-", color="tab:orange", ms=4, label="centre anchor alone")
    ax.axvline(grid.crop, color="gray", ls=":", lw=1, label=f"crop size {grid.crop}: zoom-out left, zoom-in right")
    ax.axhline(a.standard_top1 * 100, color="tab:red", ls="--", lw=1,
               label=f"standard crop {a.standard.id}: {a.standard_top1:.1%}")
    if len(scales) > 1 and scales[-1] / scales[0] > 8:
        ax.set_xscale("log", base=2)
    ticks = scales if len(scales) <= 8 else [s for s in scales if s in (16, 32, 64, 128, 256, 512, 1024)]
    ax.set_xticks(ticks or scales)
    ax.minorticks_off()
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("scale: shorter side resized to (pixels)")
    ax.set_ylabel("top-1 accuracy (%)")
    percent_axis(ax)
    ax.grid(alpha=0.3)
    legend_below(ax, 4)
    ax.set_title(f"Accuracy vs scale\n{_title_suffix(a)}", fontsize=11)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return True


def cover_curve(a: Analysis, run_dir: Path, path: Path) -> bool:
    """Images solved by the first k transforms of the greedy cover, from k = 0 (none). The
    x axis spans at least a few transforms, so that a short cover reads as a curve that
    reaches the upper bound early, not as a lone dot."""
    top_k = a.top_k
    curve = np.array(a.cover_curve, dtype=float) * 100
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    k = np.arange(0, len(curve) + 1)
    ax.plot(k, np.concatenate([[0.0], curve]), "o-", ms=3, color="tab:green",
            label="first k transforms of the greedy cover")
    ax.axhline(a.upper_bound * 100, color="tab:blue", ls="--", lw=1,
               label=f"upper bound, all {a.n_transforms}: {a.upper_bound:.1%}")
    ax.axhline(a.standard_top1 * 100, color="tab:red", ls="--", lw=1,
               label=f"standard crop: {a.standard_top1:.1%}")
    if len(curve) >= top_k:
        ax.axvline(top_k, color="gray", ls=":", lw=1)
        ax.annotate(f"{top_k} crops: {curve[top_k - 1]:.1f}%", (top_k, curve[top_k - 1]),
                    textcoords="offset points", xytext=(8, -14), fontsize=8)
    elif len(curve):
        ax.annotate(f"all solvable images by k = {len(curve)}", (len(curve), curve[-1]),
                    textcoords="offset points", xytext=(8, -14), fontsize=8)
    ax.set_xlim(0, max(len(curve), 5) + 0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    percent_axis(ax)
    ax.set_xlabel("k: number of transforms (greedy min-cover order)")
    ax.set_ylabel("images solved by some of the first k (%)")
    ax.grid(alpha=0.3)
    legend_below(ax, 3)
    verb = "covers" if len(curve) == 1 else "cover"
    ax.set_title(f"Cover curve: {count(len(curve), 'transform')} {verb} every solvable image\n{_title_suffix(a)}",
                 fontsize=11)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return True


def top_histograms(a: Analysis, run_dir: Path, path: Path) -> bool:
    h = a.top_k_histograms
    loc = np.array(h.location, dtype=float)
    scales = list(h.scale)
    counts = [h.scale[s] for s in scales]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.3), gridspec_kw={"width_ratios": [1, 1.8]})
    im = heatmap(a1, loc, lambda x: f"{int(x)}", "Blues", vmin=0)
    bar = fig.colorbar(im, ax=a1, label="transforms")
    bar.locator = matplotlib.ticker.MaxNLocator(integer=True)
    bar.update_ticks()
    a1.set_title("their anchors", fontsize=10)
    a2.bar(range(len(scales)), counts, color="tab:purple")
    a2.set_xticks(range(len(scales)), scales, rotation=90, fontsize=7)
    a2.set_xlabel("scale")
    a2.set_ylabel("transforms")
    a2.set_title("their scales", fontsize=10)
    a2.yaxis.get_major_locator().set_params(integer=True)
    which = (f"The greedy cover's {count(a.cover_size, 'transform')}" if a.cover_size <= a.top_k
             else f"The first {a.top_k} of the greedy cover's {a.cover_size} transforms")
    fig.suptitle(f"{which}: anchors and scales. {_title_suffix(a)}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def gallery(a: Analysis, run_dir: Path, path: Path) -> bool:
    """Standard crop (wrong, red) beside the best zoom crop (right, green), one image per row."""
    from PIL import Image

    shown = [e for e in a.gallery or [] if e.best.crop is not None]
    if not shown:
        return False
    fig, axes = plt.subplots(len(shown), 2, figsize=(7, 3.3 * len(shown) + 0.6), squeeze=False, layout="constrained")
    for (a1, a2), e in zip(axes, shown):
        for ax, side, color in ((a1, "standard", "tab:red"), (a2, "best", "tab:green")):
            d = getattr(e, side)
            ax.imshow(np.asarray(Image.open(run_dir / d.crop)))
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_color(color)
                s.set_linewidth(3)
            verdict = "wrong" if side == "standard" else "right"
            ax.set_title(f"{d.transform}: {d.name} ({prob_text(d.prob)}, {verdict})", color=color, fontsize=9)
        a1.set_ylabel(_short(e.image_id) + "\nlabel: " + _short(", ".join(e.labels)), fontsize=8)
    best = "the most confident right zoom among those tried (a partial run)" if a.partial else "best zoom"
    fig.suptitle(f"Fixed by zoom: standard crop (left) vs {best} (right)\n{_title_suffix(a)}", fontsize=11)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return True


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
