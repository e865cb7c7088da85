"""One self-contained HTML page for one or more runs: summary table, figures, the gallery of
images fixed by zoom, and an explorer of every image's scales x anchors correctness grid.

Figures and crops are embedded as base64 data URIs and the explorer's data sits inline as JSON,
so the page works from file:// and fetches nothing (its Content-Security-Policy forbids it).
Every label and file name is escaped: html.escape in markup, \\u003c-style escapes in the JSON,
and the script writes data with textContent only.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..analysis import TOP_K, Analysis
from ..errors import UsageError
from ..grid import ZoomGrid
from ..stats import interval
from .presenters import COLUMNS, PRESENTERS
from ..runs.files import atomic_write_text
from ..runs.store import RunError
from .files import own_png
from .load import AnalyzedRun, load_run, read_fresh
from .analyze import analyze_run, check_outputs
from .text import class_name, count, data_uri, e, percent

EXPLORER_LIMIT = 1000    # images per run in the explorer (the first ones, in sweep order)
THUMBNAIL_LIMIT = 200    # runs with at most this many images get thumbnails in the explorer


def _thumbnail(read, locator: str, size: int = 112) -> str | None:
    from PIL import Image

    from ..crops import ImageDecodeError, decode_image
    from ..data import DataError

    try:
        img = decode_image(read(locator))
    except (ImageDecodeError, DataError, OSError):
        return None
    img.thumbnail((size, size), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return data_uri(buf.getvalue(), "image/jpeg")


FIGURES = frozenset(p.figure.path for p in PRESENTERS if p.figure)   # as analysis.json names them


def outputs_intact(run_dir: Path, a: Analysis) -> bool:
    """Every file the analysis names (its figures, its gallery's crops) is the run's own PNG
    (files.own_png), so the page may embed it."""
    crops = [d.crop for e in a.gallery or [] for d in (e.standard, e.best) if d.crop is not None]
    return a.figures is not None and all(own_png(run_dir, rel, FIGURES) is not None
                                         for rel in [*a.figures.values(), *crops])


def own_png_bytes(run_dir: Path, rel: str) -> bytes:
    """The bytes of the run's own figure or crop (files.own_png), or RunError in one line."""
    p = own_png(run_dir, rel, FIGURES)
    if p is None:
        raise RunError(f"{Path(run_dir) / str(rel)[:200]} is not one of the run's own figures (a PNG file inside "
                       "the run folder); it is not embedded: analyse the run again")
    return p.read_bytes()


def _script_json(data) -> str:
    """JSON that is safe inside <script type="application/json">: no '<', '>' or '&' left."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _analyzed(path: str, scratch: ExitStack, allow_outside_root: bool = False) -> AnalyzedRun:
    """The run's analysis: reused when analysis.json and its figures are up to date. A run
    that cannot be written to (read-only, someone else's) is analysed into a scratch folder
    that lasts until the report is written; the run itself is left as it is."""
    fresh = read_fresh(path)
    if fresh is not None and outputs_intact(Path(path), fresh):
        return AnalyzedRun(load_run(path), fresh)
    try:
        check_outputs(Path(path))
        writable = os.access(path, os.W_OK)
    except RunError:   # links in place of its output folders: analysed aside, the run left as it is
        writable = False
    if writable:
        return analyze_run(path, allow_outside_root=allow_outside_root)
    tmp = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="zoomhard-analysis-")))
    a = analyze_run(path, out=tmp, allow_outside_root=allow_outside_root)
    return AnalyzedRun(replace(a.run, path=tmp), a.result)


def _explorer_data(a: AnalyzedRun, name: str, limit: int, thumbs: int, allow_outside_root: bool = False) -> dict:
    from ..data.confine import LocatorPolicy

    run, c, grid = a.run, a.run.c, a.run.grid
    read = LocatorPolicy(run.config, run.path, allow_outside_root).read
    n = min(limit, len(c.image_ids))
    top1 = run.values("top1", fill=np.int16(-1))[:n].astype(np.int64)
    cells = np.where(top1 >= 0, top1 * 2 + c.matrix[:n], -1)
    labels = run.labels()
    origin = run.images.column("origin").to_pylist()
    locator = run.images.column("locator").to_pylist()
    sizes = list(zip(run.images.column("width").to_pylist(), run.images.column("height").to_pylist()))
    used = set(int(k) for k in np.unique(top1[top1 >= 0])) | {k for ls in labels[:n] for k in ls}
    classes = {str(k): class_name(k) for k in sorted(used)}
    with_thumbs = len(c.image_ids) <= thumbs
    images = [{"id": c.image_ids[i], "labels": list(labels[i]), "origin": origin[i],
               "cells": cells[i].tolist(), "thumb": _thumbnail(read, locator[i]) if with_thumbs else None,
               "size": list(sizes[i])}
              for i in range(n)]
    return {"name": name, "model": a.result.model, "scales": list(grid.scales), "rows": grid.rows,
            "cols": grid.cols, "crop": grid.crop, "standard": c.zooms.index(grid.standard), "classes": classes,
            "total": len(c.image_ids), "images": images, "boxes": box_table(grid, sizes[:n])}


def box_table(grid: ZoomGrid, sizes) -> dict[str, dict]:
    """The explorer's crop boxes, from grid.py, once per image size ("WxH"): "resized", the
    [width, height] of the image resized to each scale, and "crops", each transform's
    [left, top, right, bottom] on it (canonical order). The page's script only draws them."""
    table, per = {}, grid.rows * grid.cols
    for w, h in sizes:
        key = f"{w}x{h}"
        if key in table or not (w and h) or min(w, h) <= 0:   # no size, no picture to draw on
            continue
        boxes = grid.boxes(w, h)
        table[key] = {"resized": [[b.width, b.height] for b in boxes[::per]],
                      "crops": [[b.left, b.top, b.right, b.bottom] for b in boxes]}
    return table


def _summary_table(runs: list[tuple[str, AnalyzedRun]]) -> str:
    head = ("run", "model", "data", "images", "transforms", *(c.head for c in COLUMNS))
    out = ["<table class='summary'><thead><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for name, a in runs:
        r = a.result
        cells = (name + (" (partial)" if r.partial else ""), r.model, (r.data or {}).get("spec", "?"),
                 r.n_images, r.n_transforms, *(c.text(c.value(r)) for c in COLUMNS))
        out.append("<tr>" + "".join(f"<td>{e(x)}</td>" for x in cells) + "</tr>")
    out.append("</tbody></table>")
    if any(a.result.partial for _, a in runs):
        out.append(f"<p class='note'>{e(PARTIAL_NOTE)}</p>")
    return "".join(out)


PARTIAL_NOTE = ("partial run (--until-correct): only the upper bound and the standard crop (when it was "
                f"evaluated) are exact; the cover, {TOP_K}-crop, per-anchor, per-scale and zoom-in/out figures "
                "need every transform of every image and are left out.")


def _ci(r, key: str) -> str:
    """' [lo, hi]' (95 % bootstrap interval) when the analysis has one for `key`."""
    lo_hi = (r.confidence or {}).get(key)
    return f" <span class='muted'>{interval(lo_hi)}</span>" if lo_hi else ""


def _run_section(i: int, name: str, a: AnalyzedRun) -> str:
    r = a.result
    out = [f"<section class='run' id='run-{i}'><h2>{e(name)} <span class='muted'>{e(r.model)}</span></h2>"]
    if r.partial:
        out.append(f"<p>{r.n_images} images x {r.n_transforms} transforms, {r.evaluated:.1%} of them evaluated. "
                   f"Standard crop {e(r.standard.id)}: <b>{percent(r.standard_top1)}</b>"
                   f"{'' if r.standard_top1 is not None else ' (not evaluated for every image)'}; "
                   f"any transform (upper bound): <b>{r.upper_bound:.2%}</b>{_ci(r, 'upper_bound')}.</p>"
                   f"<p class='note'>{e(PARTIAL_NOTE)}</p>")
    else:
        out.append(f"<p>{r.n_images} images x {r.n_transforms} transforms. Standard crop {e(r.standard.id)}: "
                   f"<b>{r.standard_top1:.2%}</b>{_ci(r, 'standard_top1')}; first {r.top_k} of the greedy cover: "
                   f"<b>{r.top_k_upper_bound:.2%}</b>{_ci(r, f'top{r.top_k}_upper_bound')}; "
                   f"any transform (upper bound): <b>{r.upper_bound:.2%}</b>{_ci(r, 'upper_bound')}; the greedy cover needs "
                   f"{count(r.cover_size, 'transform')} to solve every solvable image.</p>")
        if r.chance_upper_bound is not None:
            out.append(f"<p>Chance level of the upper bound: <b>{r.chance_upper_bound:.2%}</b>"
                       f"{_ci(r, 'chance_upper_bound')}: the same predictions scored against the labels of "
                       f"another image of the run (exact; {r.distinct_top1:.1f} distinct top-1 classes per image). "
                       "The upper bound is what the framings find beyond that.</p>")
    shown = [p for p in PRESENTERS if p.shown(r)]
    out.append("<div class='figures'>")
    for p in shown:
        rel = (r.figures or {}).get(p.figure.key) if p.figure and p.figure.caption else None
        if rel:
            out.append(f"<figure><img src='{data_uri(own_png_bytes(a.run.path, rel), 'image/png')}' "
                       f"alt='{e(p.figure.key.replace('_', ' '))}'><figcaption>{e(p.figure.caption)}</figcaption></figure>")
    out.append("</div>")
    out += [p.section(a) for p in shown if p.section]
    out.append("</section>")
    return "".join(out)


def render(runs: list[tuple[str, AnalyzedRun]], explorer_limit: int = EXPLORER_LIMIT,
           thumbnails: int = THUMBNAIL_LIMIT, allow_outside_root: bool = False) -> str:
    data = [_explorer_data(a, name, explorer_limit, thumbnails, allow_outside_root) for name, a in runs]
    toc = "".join(f"<li><a href='#run-{i}'>{e(name)}</a></li>" for i, (name, _) in enumerate(runs))
    body = [
        "<h1>zoomhard report</h1>",
        f"<p class='muted'>{len(runs)} run(s), generated {e(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))}. "
        "Would the classifier get each image right if it looked at the right part of it?</p>",
        f"<nav><ul>{toc}<li><a href='#explorer'>explorer</a></li></ul></nav>",
        "<h2>Summary</h2>", _summary_table(runs),
        *(_run_section(i, name, a) for i, (name, a) in enumerate(runs)),
        EXPLORER_HTML,
        f"<script type='application/json' id='zh-data'>{_script_json(data)}</script>",
        f"<script>{EXPLORER_JS}</script>",
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>zoomhard report: {e(', '.join(n for n, _ in runs))}</title><style>{CSS}</style></head><body>"
        + "\n".join(body) + "</body></html>\n")


def write_report(runs: list[str], out: str | Path, explorer_limit: int = EXPLORER_LIMIT,
                 thumbnails: int = THUMBNAIL_LIMIT, allow_outside_root: bool = False) -> Path:
    """Analyse each run if needed and write one self-contained HTML page. Images are read back
    (gallery, thumbnails) only from the data each run was swept from, unless the run was swept
    with --allow-outside-root and `allow_outside_root` agrees (data.confine)."""
    from .. import checks

    checks.out_folder(Path(out).parent, "--out")
    if Path(out).is_dir():
        raise UsageError(f"--out {out} is a folder; give the HTML file to write, e.g. {Path(out) / 'report.html'}")
    with ExitStack() as scratch:
        analyzed = [(_run_name(p, runs), _analyzed(p, scratch, allow_outside_root)) for p in runs]
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, render(analyzed, explorer_limit, thumbnails, allow_outside_root))
    return out


def _run_name(path: str, runs: list[str]) -> str:
    names = [Path(p).name for p in runs]
    name = Path(path).name
    return name if names.count(name) == 1 else str(path)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 48px;color:#222}
h1{margin-top:24px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.muted{color:#777;font-weight:normal;font-size:.9em}.note{color:#777}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f4f4f4}
nav ul{display:flex;gap:16px;list-style:none;padding:0;flex-wrap:wrap}
.figures{display:flex;flex-wrap:wrap;gap:16px}.figures figure{margin:0;max-width:100%}
.figures img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:12px;color:#555;max-width:560px}
.gallery{display:flex;flex-wrap:wrap;gap:16px}.card{border:1px solid #ddd;padding:8px;border-radius:6px}
.card figure{display:inline-block;margin:4px;vertical-align:top;width:224px}
.card .bad img{outline:3px solid #d62728}.card .ok img{outline:3px solid #2ca02c}
.card-title{font-weight:600;max-width:470px;overflow-wrap:anywhere}
#explorer .controls{display:flex;gap:12px;align-items:center;flex-wrap:wrap;margin:8px 0}
#explorer .panes{display:flex;gap:16px;align-items:flex-start}
#image-list{list-style:none;margin:0;padding:0;width:300px;max-height:720px;overflow:auto;border:1px solid #ddd}
#image-list li{padding:4px 8px;cursor:pointer;border-bottom:1px solid #eee;overflow-wrap:anywhere;display:flex;gap:6px;align-items:center}
#image-list li:hover{background:#f0f6ff}#image-list li.sel{background:#dbeaff}
#image-list img{width:40px;height:40px;object-fit:cover}
.badge{font-size:11px;padding:0 4px;border-radius:3px;color:#fff}.badge.ok{background:#2ca02c}.badge.bad{background:#d62728}.badge.fix{background:#1f77b4}
#image-view{flex:1;min-width:0}#image-view img.thumb{width:100%;height:100%;display:block}
#image-view .frame{position:relative;float:right;margin-left:12px;background:#000}
#image-view .placeholder{width:100%;height:100%;background:#ccc;color:#555;font-size:11px;display:flex;align-items:center;justify-content:center}
#image-view .cropbox{position:absolute;box-sizing:border-box;border:2px solid #2ca02c;box-shadow:0 0 0 1px #000,inset 0 0 0 1px #000;pointer-events:none}
#image-view .cropbox.bad{border-color:#d62728}#image-view .cropbox.beyond{border-style:dashed}
table.grid td{cursor:pointer}table.grid td.pick{outline:2px solid #1f77b4;outline-offset:-1px}
table.grid td{width:26px;height:14px;padding:0;border:1px solid #fff}table.grid th{font-size:11px;padding:0 4px;font-weight:normal}
table.grid td.ok{background:#2ca02c}table.grid td.bad{background:#f2c4c4}table.grid td.none{background:#eee}
table.grid td.std{outline:2px solid #000}
"""

EXPLORER_HTML = """
<section id="explorer"><h2>Explorer</h2>
<p class="muted">Each image's correctness under every transform: rows are scales, columns anchors
(r0 = top, c0 = left). Green = right, pink = wrong; the outlined cell is the standard crop.
Hover a cell for the transform and the predicted class; click it to draw its crop on the image.</p>
<div class="controls">
<label>run <select id="run-select"></select></label>
<label>show <select id="filter">
<option value="all">all images</option><option value="fixed">fixed by zoom (standard wrong, some zoom right)</option>
<option value="unsolved">unsolved by every transform</option><option value="standard">right at the standard crop</option>
</select></label>
<label>search <input id="search" type="search" placeholder="image id or label"></label>
<span id="count" class="muted"></span></div>
<div class="panes"><ul id="image-list"></ul><div id="image-view"><p class="muted">Click an image on the left.</p></div></div>
</section>
"""

EXPLORER_JS = r"""
(function(){
"use strict";
const runs = JSON.parse(document.getElementById("zh-data").textContent);
const $ = (id) => document.getElementById(id);
const el = (tag, props, text) => { const n = document.createElement(tag);
  if (props) for (const k in props) n.setAttribute(k, props[k]);
  if (text !== undefined) n.textContent = String(text); return n; };
const sel = $("run-select"), filt = $("filter"), search = $("search"), list = $("image-list"), view = $("image-view");
runs.forEach((r, i) => sel.appendChild(el("option", {value: String(i)}, r.name + (r.model ? " (" + r.model + ")" : ""))));
function cname(run, k) { return k < 0 ? "-" : (run.classes[String(k)] || String(k)); }
function stats(run, im) {
  let right = 0; for (const v of im.cells) if (v >= 0 && (v & 1)) right++;
  const std = im.cells[run.standard]; return {right: right, std: std >= 0 && (std & 1) === 1};
}
function keep(run, im, mode, q) {
  const s = stats(run, im);
  if (mode === "fixed" && !(s.right > 0 && !s.std)) return false;
  if (mode === "unsolved" && s.right > 0) return false;
  if (mode === "standard" && !s.std) return false;
  if (!q) return true;
  const hay = (im.id + " " + im.labels.map((k) => cname(run, k)).join(" ")).toLowerCase();
  return hay.indexOf(q) >= 0;
}
function show(run, im, li) {
  for (const x of list.querySelectorAll("li.sel")) x.classList.remove("sel");
  if (li) li.classList.add("sel");
  view.textContent = "";
  const s = stats(run, im), n = im.cells.length;
  const frame = imageFrame(im);
  if (frame) view.appendChild(frame);
  view.appendChild(el("h3", {"class": "image-title"}, im.id));
  view.appendChild(el("p", null, "label: " + im.labels.map((k) => cname(run, k)).join(", ") +
    (im.origin ? "  |  origin: " + im.origin : "")));
  view.appendChild(el("p", null, "right under " + s.right + " of " + n + " transforms; standard crop " +
    (s.std ? "right" : "wrong") + " (" + cname(run, im.cells[run.standard] >> 1) + ")"));
  const t = el("table", {"class": "grid"}), head = el("tr");
  head.appendChild(el("th", null, "scale"));
  for (let r = 0; r < run.rows; r++) for (let c = 0; c < run.cols; c++) head.appendChild(el("th", null, "r" + r + "c" + c));
  t.appendChild(head);
  const per = run.rows * run.cols;
  run.scales.forEach((scale, si) => {
    const tr = el("tr"); tr.appendChild(el("th", null, String(scale)));
    for (let a = 0; a < per; a++) {
      const j = si * per + a, v = im.cells[j], r = Math.floor(a / run.cols), c = a % run.cols;
      const cls = (v < 0 ? "none" : (v & 1) ? "ok" : "bad") + (j === run.standard ? " std" : "");
      const td = el("td", {"class": cls});
      td.title = "s" + scale + "-r" + r + "c" + c + ": " + (v < 0 ? "no prediction" : cname(run, v >> 1) + ((v & 1) ? " (right)" : " (wrong)"));
      td.addEventListener("click", () => pick(run, im, j, td));
      tr.appendChild(td);
    }
    t.appendChild(tr);
  });
  view.appendChild(t);
  if (frame) view.appendChild(el("p", {"class": "muted", id: "crop-caption"},
    "Click a cell to draw that transform's crop on the image."));
}
// A transform's crop as fractions of the image, from the boxes grid.py placed (box_table).
function cropBox(run, im, j) {
  const t = run.boxes[im.size[0] + "x" + im.size[1]], per = run.rows * run.cols;
  const si = Math.floor(j / per), a = j % per, W = t.resized[si][0], H = t.resized[si][1], b = t.crops[j];
  const id = "s" + run.scales[si] + "-r" + Math.floor(a / run.cols) + "c" + (a % run.cols);
  return {id: id, x0: b[0] / W, y0: b[1] / H, x1: b[2] / W, y1: b[3] / H,
          beyond: b[0] < 0 || b[1] < 0 || b[2] > W || b[3] > H};
}
function imageFrame(im) {
  if (!(im.size && im.size[0] > 0 && im.size[1] > 0)) return null;
  const frame = el("div", {"class": "frame"});
  const k = 224 / Math.max(im.size[0], im.size[1]);
  frame.style.width = Math.round(im.size[0] * k) + "px"; frame.style.height = Math.round(im.size[1] * k) + "px";
  if (im.thumb) frame.appendChild(el("img", {"class": "thumb", src: im.thumb, alt: im.id}));
  else frame.appendChild(el("div", {"class": "placeholder"}, im.size[0] + " x " + im.size[1]));
  frame.appendChild(el("div", {"class": "cropbox", id: "crop-box", hidden: ""}));
  return frame;
}
function pick(run, im, j, td) {
  for (const x of view.querySelectorAll("td.pick")) x.classList.remove("pick");
  td.classList.add("pick");
  const box = $("crop-box"), caption = $("crop-caption");
  if (!box) return;
  const b = cropBox(run, im, j), clip = (x) => Math.min(1, Math.max(0, x)), beyond = b.beyond;
  const x0 = clip(b.x0), y0 = clip(b.y0), x1 = clip(b.x1), y1 = clip(b.y1);
  box.hidden = false;
  box.className = "cropbox" + (beyond ? " beyond" : "") + ((im.cells[j] & 1) && im.cells[j] >= 0 ? " ok" : " bad");
  box.style.left = (100 * x0) + "%"; box.style.top = (100 * y0) + "%";
  box.style.width = (100 * (x1 - x0)) + "%"; box.style.height = (100 * (y1 - y0)) + "%";
  box.dataset.transform = b.id;
  box.dataset.box = [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0].join(",");
  const v = im.cells[j];
  caption.textContent = b.id + ": " + (v < 0 ? "no prediction" : cname(run, v >> 1) + ((v & 1) ? " (right)" : " (wrong)")) +
    (beyond ? "; the crop reaches past the image (black there), the box shows the part on it" : "");
}
function refresh() {
  const run = runs[Number(sel.value) || 0], mode = filt.value, q = search.value.trim().toLowerCase();
  list.textContent = "";
  let shown = 0;
  for (const im of run.images) {
    if (!keep(run, im, mode, q)) continue;
    shown++;
    const s = stats(run, im), li = el("li", {"data-id": im.id, tabindex: "0"});
    if (im.thumb) li.appendChild(el("img", {src: im.thumb, alt: ""}));
    li.appendChild(el("span", {"class": "name"}, im.id));
    li.appendChild(el("span", {"class": "badge " + (s.std ? "ok" : s.right ? "fix" : "bad")},
      s.std ? "right" : s.right ? "zoom fixes" : "unsolved"));
    li.addEventListener("click", () => show(run, im, li));
    li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") show(run, im, li); });
    list.appendChild(li);
  }
  $("count").textContent = shown + " shown" + (run.total > run.images.length ?
    " (explorer holds the first " + run.images.length + " of " + run.total + " images)" : "");
}
sel.addEventListener("change", refresh); filt.addEventListener("change", refresh); search.addEventListener("input", refresh);
refresh();
})();
"""
