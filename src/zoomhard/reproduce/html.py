"""OUT/report.html: one self-contained page for a whole study.

Its cells and their status, the tables with the paper's figures beside (differences coloured),
every zoom cell's spatial-bias map side by side per dataset (the paper's Figure 2 beside where
it has one), accuracy vs scale per dataset, and links to each zoom cell's own report. Figures
are embedded as data URIs and the page fetches nothing, like the run report.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..analysis import TOP_K
from ..runs.files import atomic_write_text
from ..report.files import own_png
from ..report.html import CSS, FIGURES
from ..report.load import summary
from ..report.text import data_uri, e
from . import figures as F
from .studyfile import Study
from ..report.center_bias import NOTE as PAPER_BIAS_NOTE, paper_center_bias
from .tables import DISENTANGLE_GROUPS, DISENTANGLE_NOTE, ZOOM_FIGURES, Tables, paper_column, paper_tta

EXTRA_CSS = """
td.up{color:#1a7f37}td.down{color:#c62828}td.status-done{color:#1a7f37}td.status-failed{color:#c62828;font-weight:600}
td.reason{text-align:left;max-width:520px;overflow-wrap:anywhere}.figures figure img{max-width:560px}
"""
FIGURE_NAMES = dict(zip(ZOOM_FIGURES, ("standard 1-crop", f"{TOP_K}-crop (cover)", "upper bound")))


def _pct(v) -> str:
    return "" if v is None else f"{v:.2%}"


def _diff_cell(v) -> str:
    if v is None:
        return "<td></td>"
    cls = "up" if v > 0 else "down" if v < 0 else ""
    return f"<td class='diff {cls}'>{v * 100:+.2f} pp</td>"


def _table(cls: str, head: list[str], rows: list[str]) -> str:
    if not rows:
        return "<p class='note'>No cell of this kind is done.</p>"
    return (f"<table class='{cls}'><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _cells_table(records: list[dict]) -> str:
    rows = []
    for r in records:
        link = (f"<a href='{e(Path(r['folder'], 'report.html').as_posix())}'>report</a>"
                if r.get("kind") == "zoom" and r.get("status") == "done" else
                f"<a href='{e(Path(r['folder'], 'result.json').as_posix())}'>result.json</a>"
                if r.get("status") == "done" else "")
        note = r.get("summary", "") if r.get("status") == "done" else r.get("reason", "")
        rows.append(f"<tr><td>{e(r['key'])}</td><td>{e(r.get('kind', ''))}</td>"
                    f"<td class='status-{e(r.get('status'))}'>{e(r.get('status'))}</td><td>{e(r.get('action', ''))}</td>"
                    f"<td>{r.get('seconds', 0):.1f}</td><td class='reason'>{e(note)}</td><td>{link}</td></tr>")
    return _table("cells", ["cell", "kind", "status", "this time", "seconds", "result or reason", "files"], rows)


def _zoom_table(t: Tables) -> str:
    head = ["model", "spec", "dataset", "images", "transforms"]
    for f in ZOOM_FIGURES:
        head += [FIGURE_NAMES[f], "paper", "difference"]
    rows = []
    for r in t.zoom:
        cells = "".join(f"<td>{e(r[c])}</td>" for c in ("model", "spec", "dataset", "images", "transforms"))
        for f in ZOOM_FIGURES:
            cells += f"<td>{_pct(r[f])}</td><td>{_pct(r[f'paper_{f}'])}</td>{_diff_cell(r[f'diff_{f}'])}"
        ci = "" if r["upper_bound_lo"] is None else f" [{_pct(r['upper_bound_lo'])}, {_pct(r['upper_bound_hi'])}]"
        cells += f"<td>{_pct(r['chance_upper_bound'])}</td><td>{ci.strip()}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return _table("zoom", head + ["chance (another image's labels)", "upper bound, 95 % interval"], rows)


def _disentangle_table(t: Tables) -> str:
    names = {"zoom_in": "zoom-in only", "zoom_out": "zoom-out only", "crop_scale": "224 only"}
    head = ["model", "dataset"]
    for g in DISENTANGLE_GROUPS:
        head += [f"{names[g]}: upper bound", "paper"]
    for g in DISENTANGLE_GROUPS:
        head += [f"{names[g]}: alone", "paper"]
    rows = []
    for r in t.disentangle:
        cells = f"<td>{e(r['model'])}</td><td>{e(r['dataset'])}</td>"
        for f in (*DISENTANGLE_GROUPS, *(f"exclusive_{g}" for g in DISENTANGLE_GROUPS)):
            cells += f"<td>{_pct(r[f])}</td><td>{_pct(r[f'paper_{f}'])}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return _table("disentangle", head, rows) + f"<p class='note'>{e(DISENTANGLE_NOTE)}</p>"


def _bench_tables(t: Tables) -> str:
    rows = [f"<tr><td>{e(r['model'])}</td><td>{e(r['spec'])}</td><td>{e(r['dataset'])}</td><td>{r['n']}</td>"
            f"<td>{_pct(r['top1'])}</td><td>{_pct(r['top5'])}</td><td>{e(r['paper_model'] or '')}</td>"
            f"<td>{_pct(r['paper_top1'])}</td>{_diff_cell(r['diff_top1'])}</tr>" for r in t.bench]
    origins = [f"<tr><td>{e(r['model'])}</td><td>{e(r['dataset'])}</td><td>{e(r['origin'])}</td><td>{r['n']}</td>"
               f"<td>{_pct(r['top1'])}</td></tr>" for r in t.bench_origins]
    return (_table("bench", ["model", "spec", "dataset", "images", "top-1", "top-5", "paper model", "paper top-1",
                             "difference"], rows)
            + "<h3>Per origin</h3>" + _table("origins", ["model", "dataset", "origin", "images", "top-1"], origins))


def _tta_table(t: Tables) -> str:
    rows = [f"<tr><td>{e(r['model'])}</td><td>{e(r['dataset'])}</td><td>{e(r['method'])}</td><td>{r['n']}</td>"
            f"<td>{_pct(r['top1'])}</td><td>{_pct(r['paper_top1'])}</td>{_diff_cell(r['diff_top1'])}"
            f"<td>{_pct(r['baseline_top1'])}</td><td>{_pct(r['paper_baseline_top1'])}</td>"
            f"{_diff_cell(r['diff_baseline_top1'])}<td>{r['seconds_per_image']:.3f}</td></tr>" for r in t.tta]
    notes = "".join(f"<p class='note'>{e(n)}</p>" for n in paper_tta()[0])
    return _table("tta", ["model", "dataset", "method", "images", "top-1", "paper", "difference", "baseline",
                          "paper baseline", "difference", "s / image"], rows) + notes


def _figure(path: Path, alt: str, caption: str) -> str:
    return (f"<figure><img src='{data_uri(path.read_bytes(), 'image/png')}' alt='{e(alt)}'>"
            f"<figcaption>{e(caption)}</figcaption></figure>")


def _by_dataset(study: Study, out: Path, records: list[dict]) -> dict[str, list[tuple[dict, dict]]]:
    """The done zoom cells' analyses, grouped by dataset in the study's order."""
    groups: dict[str, list[tuple[dict, dict]]] = {}
    for r in records:
        if r.get("kind") == "zoom" and r.get("status") == "done":
            groups.setdefault(r["dataset"], []).append((r, summary(out / r["folder"])))
    return {d: groups[d] for d in study.datasets if d in groups}


def _label(study: Study, record: dict) -> str:
    zooms = [x for x in study.experiments if x.kind == "zoom"]
    return record["model"] if len(zooms) == 1 else f"{record['experiment']}/{record['model']}"


def _bias_section(study: Study, out: Path, groups: dict) -> str:
    parts = []
    for dataset, cells in groups.items():
        figs = []
        for rec, result in cells:
            png = own_png(out / rec["folder"], (result.figures or {}).get("spatial_bias"), FIGURES)
            if png is not None:
                figs.append(_figure(png, "spatial bias",
                                    f"{_label(study, rec)} ({result.n_images} images, {result.n_transforms} transforms)"))
        column = paper_column(study.datasets[dataset], cells[0][1])
        paper = paper_center_bias().get(column or "")
        if paper:
            png = F.paper_spatial_bias(paper, column, out / "figures" / f"paper-spatial-bias-{dataset}.png")
            figs.append(_figure(png, "paper spatial bias",
                                f"The paper's Figure 2 ({column}, ResNet-50). {PAPER_BIAS_NOTE}"))
        parts.append(f"<h3>{e(dataset)}</h3><div class='figures'>{''.join(figs)}</div>")
    return "".join(parts) or "<p class='note'>No zoom cell is done.</p>"


def _scale_section(study: Study, out: Path, groups: dict) -> str:
    parts = []
    for dataset, cells in groups.items():
        png = F.scale_curves(dataset, [(_label(study, rec), r) for rec, r in cells],
                             out / "figures" / f"scale-curves-{dataset}.png")
        parts.append(f"<h3>{e(dataset)}</h3><div class='figures'>"
                     f"{_figure(png, 'scale curves', f'Accuracy vs scale on {dataset}, every model of the study.')}</div>")
    return "".join(parts) or "<p class='note'>No zoom cell is done.</p>"


def render(study: Study, out: Path, records: list[dict], tables: Tables) -> str:
    groups = _by_dataset(study, out, records)
    failed = sum(r.get("status") != "done" for r in records)
    links = "".join(f"<li><a href='{e(Path(r['folder'], 'report.html').as_posix())}'>{e(r['key'])}</a></li>"
                    for cells in groups.values() for r, _ in cells)
    sections = (("cells", "Cells", _cells_table(records)),
                ("zoom", f"Zoom: standard crop, {TOP_K}-crop cover, upper bound (the paper's Table 1)", _zoom_table(tables)),
                ("disentangle", "Disentangling: zoom-in, zoom-out, 224 over each cover", _disentangle_table(tables)),
                ("bench", "Single-crop benchmark", _bench_tables(tables)),
                ("tta", "Test-time augmentation", _tta_table(tables)),
                ("bias", "Spatial bias per dataset", _bias_section(study, out, groups)),
                ("scale", "Accuracy vs scale per dataset", _scale_section(study, out, groups)),
                ("reports", "Each zoom cell's own report", f"<ul class='reports'>{links}</ul>" if links else
                 "<p class='note'>No zoom cell is done.</p>"))
    nav = "".join(f"<li><a href='#{key}'>{e(title.split(':')[0])}</a></li>" for key, title, _ in sections)
    body = [f"<h1>zoomhard study: {e(study.name)}</h1>",
            f"<p class='muted'>{len(records)} cells, {failed} not done; protocol {e(study.protocol)}; "
            f"study file {e(study.path)}; generated {e(time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))}. "
            "Accuracies in %; differences in percentage points (this study minus the paper).</p>",
            f"<nav><ul>{nav}</ul></nav>",
            *(f"<section id='{key}'><h2>{e(title)}</h2>{html}</section>" for key, title, html in sections)]
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>zoomhard study: {e(study.name)}</title><style>{CSS}{EXTRA_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def write_study_report(study: Study, out: Path, records: list[dict], tables: Tables) -> Path:
    return atomic_write_text(Path(out) / "report.html", render(study, Path(out), records, tables))
