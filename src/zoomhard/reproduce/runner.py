"""The whole study: every cell in turn under one progress display, then its tables, report page
and OUT/study.json (written after every cell too, so an interrupted study knows what it did)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .. import checks
from ..runlock import acquire_run_lock
from ..store import library_versions
from .cells import STUDY_JSON, Engine, write_json, check_configs, is_done, pending_state, read_records, run_cell
from .study import Study


def study_json(study: Study, records: list[dict], started: float, finished: float | None,
               outputs: dict | None = None) -> dict:
    return {"study": study.resolved(), "versions": library_versions(), "started": started, "finished": finished,
            "cells": records, "outputs": outputs or {}}


def dry_run(study: Study, out: Path) -> list[dict]:
    """Each cell, its folder and how far it is; nothing runs and nothing is written."""
    out = Path(out)
    check_configs(study.cells(), out, Engine())   # as a run would refuse them
    before = read_records(out)
    return [{"key": c.key, "kind": c.kind, "folder": str(c.folder(out)), "state": pending_state(c, out, before.get(c.key))}
            for c in study.cells()]


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
                    save([{"key": cell.key, "status": "interrupted", "started": time.time()}])
                    raise
                records.append(record)
                if record["status"] == "done":
                    say(f"{tag}: done in {record['seconds']:.1f} s: {record.get('summary', '')}")
                else:
                    say(f"{tag}: FAILED: {record['reason']}")
                save()
            bar.update(1)
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
