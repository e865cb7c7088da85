"""The report's HTML sections of one analysed run, each `name(a: AnalyzedRun) -> str` (empty
when there is nothing to show); report.presenters lists them. Every text is escaped."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from .text import data_uri, e, prob_text

if TYPE_CHECKING:
    from .load import AnalyzedRun


def own_crop(run_dir: Path, rel: str) -> Path:
    """A gallery crop of the run itself (files.own_png), or RunError in one line."""
    from ..errors import RunError
    from .files import own_png

    p = own_png(run_dir, rel)
    if p is None:
        raise RunError(f"{Path(run_dir) / str(rel)[:200]} is not one of the run's own gallery crops (a PNG file "
                       "inside the run folder); it is not embedded: analyse the run again")
    return p


def jpeg_uri(path: Path, size: int | None = None) -> str:
    """An image file (a crop the analysis cut) as a JPEG data URI, at most `size` pixels a side."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if size:
            im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
    return data_uri(buf.getvalue(), "image/jpeg")


def disentangle_table(a: AnalyzedRun) -> str:
    r = a.result
    d, dc = r.disentangle, r.disentangle_cover
    rows = [("zoom-in only", f"scale > {d.crop}", d.zoom_in, dc.zoom_in),
            ("zoom-out only", f"scale < {d.crop}", d.zoom_out, dc.zoom_out),
            (f"{d.crop} only", f"scale = {d.crop}", d.crop_scale, dc.crop_scale)]
    out = ["<table><thead><tr><th rowspan='2'>transforms</th><th rowspan='2'>scales</th>"
           "<th colspan='2'>all transforms</th><th colspan='3'>greedy cover's transforms only (the paper's)</th></tr>"
           "<tr><th>upper bound</th><th>solved by this group alone</th><th>cover scales</th><th>upper bound</th>"
           "<th>solved by this group alone</th></tr></thead><tbody>"]
    for label, scales, g, gc in rows:
        out.append(f"<tr><td>{e(label)}</td><td>{e(scales)} ({len(g.scales)})</td>"
                   f"<td>{g.upper_bound:.2%}</td><td>{g.exclusive:.2%}</td><td>{len(gc.scales)}</td>"
                   f"<td>{gc.upper_bound:.2%}</td><td>{gc.exclusive:.2%}</td></tr>")
    out.append("</tbody></table><p class='note'>The cover's columns are the paper's quantity. Its upper "
               "bounds are computed as the study's notebook does; the shares solved by a group alone use this "
               "run's own cover, whereas the notebook took every network's from the cover of the last network "
               "in its loop, so they are not expected to equal the paper's.</p>")
    return "".join(out)


def cover_tie_note(a: AnalyzedRun) -> str:
    """A note beside the spatial-bias map when the cover's first pick was a tie: the map's
    right-hand panel then shows which transform the tie went to, not a preference."""
    r = a.result
    if not r.cover_ties or r.cover_ties[0] < 2:
        return ""
    first, n = r.min_cover[0], r.cover_ties[0]
    return (f"<p class='note'>The greedy cover's first pick, {e(first.id)}, tied with {n - 1} other "
            f"transform{'s' if n > 2 else ''}: each was right on the same {r.min_cover_new[0]} images. Ties go "
            f"to the first in the study's order (location by location from the top left, scales in the "
            f"order of its list), so the cover-only map's cell at row {first.row}, column {first.col} shows "
            f"where that tie was broken, not a spatial preference.</p>")


def spatial_bias_notes(a: AnalyzedRun) -> str:
    return cover_tie_note(a) + paper_center_bias(a)


def paper_center_bias(a: AnalyzedRun) -> str:
    """The paper's per-anchor figures beside this run's, for the study's ResNet-50 alone."""
    from .center_bias import matching_figures

    p = matching_figures(a.result, a.run.config, a.run.path)
    if p is None:
        return ""
    maps = (("paper (greedy cover, visibility-masked)", p["per_anchor"]),
            ("this run: greedy cover", a.result.per_anchor_cover), ("this run: all transforms", a.result.per_anchor))
    out = [f"<h3>Spatial bias beside the paper ({e(p['model'])}, {e(p['dataset'])}, Figure 2)</h3>",
           "<table class='paper-center-bias'><thead><tr><th>anchor row (0 = top)</th>",
           *(f"<th colspan='3'>{e(name)}</th>" for name, _ in maps), "</tr></thead><tbody>"]
    for row in range(3):
        cells = "".join(f"<td>{m[row][col]:.2%}</td>" for _, m in maps for col in range(3))
        out.append(f"<tr><td>{row}</td>{cells}</tr>")
    out.append(f"</tbody></table><p class='note'>{e(p['note'])}</p>")
    return "".join(out)


def gallery_cards(a: AnalyzedRun) -> str:
    entries = [x for x in a.result.gallery or [] if x.best.crop is not None]
    out = ["<h3>Fixed by zoom</h3>"]
    if not entries:
        return out[0] + "<p class='note'>No image here is wrong at the standard crop and right under some zoom.</p>"
    out.append("<div class='gallery'>")
    for x in entries:
        out.append("<div class='card'>")
        out.append(f"<div class='card-title'>{e(x.image_id)} <span class='muted'>label: {e(', '.join(x.labels))}</span></div>")
        for d, cls, verdict in ((x.standard, "bad", "wrong"), (x.best, "ok", "right")):
            uri = jpeg_uri(own_crop(a.run.path, d.crop))
            alt = f"{x.image_id} at {d.transform}"
            out.append(f"<figure class='{cls}'><img src='{uri}' alt='{e(alt)}' width='224' height='224'>"
                       f"<figcaption>{e(d.transform)}: <b>{e(d.name)}</b> ({prob_text(d.prob)}, {verdict})"
                       "</figcaption></figure>")
        out.append("</div>")
    out.append("</div>")
    return "".join(out)
