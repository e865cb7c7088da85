"""The whole study: every cell in turn under one progress display, then its tables, report page
and OUT/study.json (written after every cell too, so an interrupted study knows what it did)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .. import checks
from ..runs.lock import acquire_run_lock
from ..spec import DataSpec
from ..runs.identity import library_versions
from .cells import STUDY_JSON, Engine, write_json, check_configs, is_done, pending_state, read_records, run_cell
from .studyfile import Study


def study_json(study: Study, records: list[dict], started: float, finished: float | None,
               outputs: dict | None = None) -> dict:
    return {"study": study.resolved(), "versions": library_versions(), "started": started, "finished": finished,
            "cells": records, "outputs": outputs or {}}


def dry_run(study: Study, out: Path) -> dict:
    """What a run of the study would do; nothing runs and nothing is written. "cells": each cell,
    its folder, how far it is and its work (images x crops per image, where the data can be
    seen); "missing": every data, labels and weights path that is not there; "images": each
    dataset's image count (None where it cannot be counted)."""
    out = Path(out)
    check_configs(study.cells(), out, Engine())   # as a run would refuse them
    before = read_records(out)
    images, missing, absent = {}, [], set()
    for name, d in study.datasets.items():
        images[name], why = _count_images(d)
        if why:
            missing.append(f"datasets.{name}: {why}")
            absent.add(name)
        missing += [f"datasets.{name}: {key} {d[key]}: no such file"
                    for key in ("labels", "real_labels") if d.get(key) and not Path(d[key]).is_file()]
    missing += [f"models.{name}: weights {m['weights']}: no such file"
                for name, m in study.models.items() if m.get("weights") and not Path(m["weights"]).is_file()]
    cells = []
    for c in study.cells():
        per_image, unit = _crops_per_image(c)
        n = images[c.dataset]
        state = pending_state(c, out, before.get(c.key))
        if c.dataset in absent and not state.startswith("done"):
            state += "; its data is missing"
        cells.append({"key": c.key, "kind": c.kind, "folder": str(c.folder(out)), "data": c.dataset_options["data"],
                      "state": state, "images": n, "per_image": per_image,
                      "unit": unit, "crops": None if n is None else n * per_image})
    return {"cells": cells, "missing": missing, "images": images}


def _count_images(dataset: dict) -> tuple[int | None, str | None]:
    """(images, None), or (None, why not) for data that is not there; a hub dataset is not
    fetched to be counted."""
    from ..data import open_source
    from ..data.hub import parse_ref
    from .cells import user_errors

    spec = dataset["data"]
    ds = DataSpec.parse(spec)
    if ds.source == "hf" and not Path(parse_ref(ds.rest)[0]).expanduser().exists():
        return None, None   # on the hub: counted when the cell runs
    try:
        return len(open_source(spec, labels=dataset.get("labels"),
                               allow_outside_root=dataset.get("allow_outside_root", False))), None
    except user_errors() as e:
        return None, f"data: {e}" if str(e).startswith(spec) else f"data {spec}: {e}"


def _crops_per_image(cell) -> tuple[int, str]:
    """How many crops of each image a cell classifies, and what they are."""
    from .studyfile import grid

    if cell.kind == "zoom":
        return len(grid(cell.experiment.options)), "transforms"
    if cell.kind == "bench":
        return 1, "crop"
    methods = cell.experiment.options.get("methods", ())
    return len(methods), "methods"


def format_dry_run(plan: dict) -> str:
    """The cells, one line each, then what is missing and the work that can be seen."""
    width = max((len(c["key"]) for c in plan["cells"]), default=0) + 2
    lines = []
    for c in plan["cells"]:
        if c["images"] is not None:
            work = f"{c['images']:,} images x {c['per_image']} {c['unit']}"
        else:
            work = "images counted when it runs" if c["data"].startswith("hf:") else "images unknown"
        lines.append(f"{c['key']:<{width}} {c['state']}  [{work}]  {c['folder']}")
    for m in plan["missing"]:
        lines.append(f"missing: {m}")
    todo = [c for c in plan["cells"] if not c["state"].startswith("done")]
    zoom = [c for c in todo if c["kind"] == "zoom"]
    seen = [c for c in zoom if c["crops"] is not None]
    crops = f"{sum(c['crops'] for c in seen):,} crops in the {len(seen)} of {len(zoom)} zoom cells to run whose data is here"
    lines.append(f"total: {len(plan['cells'])} cells, {len(todo)} to run; {crops}"
                 + (f"; {len(plan['missing'])} paths missing" if plan["missing"] else ""))
    return "\n".join(lines)


def run_study(study: Study, out: str | Path, engine: Engine | None = None, progress: bool = True,
              log: Callable[[str], None] = print) -> dict:
    """Run every cell not already done, then write the tables, report.html and study.json;
    returns study.json's content (each cell's status in "cells"). One reproduce writes a study
    folder at a time (OUT/.lock, as a run folder's)."""
    out = Path(out)
    checks.out_folder(out)
    engine = engine or Engine()
    cells = study.cells()
    check_configs(cells, out, engine)   # before anything runs
    lock = acquire_run_lock(out)        # one reproduce per study folder, as one sweep per run folder
    try:
        return _run_cells(study, out, engine, cells, progress, log)
    finally:
        lock.release()


def _run_cells(study: Study, out: Path, engine: Engine, cells: list, progress: bool,
               log: Callable[[str], None]) -> dict:
    from tqdm.auto import tqdm

    from .html import write_study_report
    from .tables import write_tables

    before = read_records(out)
    done_before = {c.key for c in cells if is_done(c, out, before.get(c.key))}
    log(f"study {study.name!r}: {len(cells)} cells, {len(done_before)} done before, "
        f"{len(cells) - len(done_before)} to run -> {out}")
    started = time.time()
    records: list[dict] = []
    bar = tqdm(total=len(cells), unit="cell", desc=f"study {study.name}", disable=not progress, dynamic_ncols=True)
    say = (lambda m: tqdm.write(m)) if progress else log

    def save(extra: list[dict] = ()) -> None:
        rest = [before[c.key] for c in cells[len(records) + len(extra):] if c.key in before]
        write_json(out / STUDY_JSON, study_json(study, records + list(extra) + rest, started, None))

    stopped = False
    try:
        for k, cell in enumerate(cells, 1):
            bar.set_postfix_str(cell.key, refresh=True)
            tag = f"[{k}/{len(cells)}] {cell.key}"
            if cell.key in done_before:
                records.append({**before[cell.key], "action": "skipped",
                                "folder": str(cell.folder(out).relative_to(out))})
                say(f"{tag}: done before, skipped")
            else:
                say(f"{tag}: running")
                save([{"key": cell.key, "status": "running", "started": time.time()}])
                try:
                    record = run_cell(cell, out, engine, say)
                except KeyboardInterrupt:
                    stopped = {"key": cell.key, "kind": cell.kind, "status": "interrupted", "action": "stopped",
                               "reason": "stopped: run the same command to resume", "started": time.time()}
                    save([stopped])
                    raise
                records.append(record)
                if record["status"] == "done":
                    say(f"{tag}: done in {record['seconds']:.1f} s: {record.get('summary', '')}")
                else:
                    say(f"{tag}: FAILED: {record['reason']}")
                save()
            bar.update(1)
    except KeyboardInterrupt:
        # A stopped study still writes its tables and report over the cells that are done
        # (those not reached keep their records from before); the CLI then says how to resume.
        reached = {r["key"] for r in records} | ({stopped["key"]} if stopped else set())
        finished = records + ([stopped] if stopped else []) + [
            {**before[c.key], "action": "skipped"} for c in cells if c.key not in reached and c.key in done_before]
        bar.close()
        write_study_report(study, out, finished, write_tables(study, out, finished))
        raise
    finally:
        bar.close()
    tables = write_tables(study, out, records)
    page = write_study_report(study, out, records, tables)
    result = study_json(study, records, started, time.time(),
                        {"tables": {k: str(p.relative_to(out)) for k, p in tables.files.items()},
                         "report": str(page.relative_to(out))})
    write_json(out / STUDY_JSON, result)
    return result


def format_outcome(result: dict, out: Path) -> str:
    cells = result["cells"]
    failed = [c for c in cells if c["status"] != "done"]
    ran = sum(c.get("action") in ("ran", "resumed") and c["status"] == "done" for c in cells)
    lines = [f"{len(cells)} cells: {ran} ran, {sum(c.get('action') == 'skipped' for c in cells)} done before, "
             f"{len(failed)} failed -> {Path(out) / result['outputs']['report']}, {Path(out) / 'tables'}"]
    lines += [f"  failed {c['key']}: {c.get('reason')}" for c in failed]
    return "\n".join(lines)
