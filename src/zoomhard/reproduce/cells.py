"""Running a study's cells: each (experiment, model, dataset) into its own folder, with the same
run folders and JSON as the commands.

    zoom    OUT/runs/EXP/MODEL/DATASET/          a sweep's run folder, analysed, with report.html
    bench   OUT/runs/EXP/MODEL/DATASET/result.json (bench --json) + predictions.csv
    tta     OUT/runs/EXP/MODEL/DATASET/result.json (tta --json) + images.csv (one row per image)

A cell recorded as done (in OUT/study.json, under the same fingerprint) whose files are all there
is skipped without loading anything; a zoom cell cut short resumes, as its sweep does; bench and
tta cells, single passes, run again. A cell that fails is recorded with its reason and the study
goes on.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UsageError, ZoomhardError
from ..runs.files import atomic_write_text, write_csv
from .studyfile import Cell, StudyError, grid

RESULT = "result.json"
STUDY_JSON = "study.json"


@dataclass
class Engine:
    """How zoom cells run (`sweep --engine`), and whether commands draw their own progress bars."""
    name: str = "local"
    ray_address: str | None = None
    progress: bool = False


def user_errors() -> tuple[type[Exception], ...]:
    """A cell's failure that is the user's to fix (data missing, weights offline, a disk full):
    its message is the whole reason; anything else also keeps its traceback."""
    return ZoomhardError, OSError


def cell_setup(cell: Cell):
    """The cell's one Setup: its model, its dataset, the experiment's protocol and clip_norm, the
    device and backend it runs on. What it leaves unset the protocol decides, as for a command."""
    from ..config import Setup

    m, d, o, run = cell.model_options, cell.dataset_options, cell.experiment.options, cell.experiment.run
    return Setup(model=m["spec"], weights=m["weights"], data=d["data"], labels=d["labels"], subset=d["subset"],
                 real_labels=d["real_labels"], real_mode=d["real_mode"],
                 allow_outside_root=d.get("allow_outside_root", False), clip_norm=o.get("clip_norm"),
                 protocol=cell.experiment.protocol, **{k: run[k] for k in ("device", "backend") if k in run})


def _command_options(cell: Cell, engine: Engine) -> dict:
    """What every command's config takes besides its setup: how it batches and draws progress."""
    run = cell.experiment.run
    return {"progress": engine.progress, **{k: run[k] for k in ("batch_size", "workers") if k in run}}


def sweep_config(cell: Cell, out: Path, engine: Engine):
    from ..sweep import SweepConfig

    return SweepConfig(cell_setup(cell), out=str(cell.folder(out)), grid=grid(cell.experiment.options),
                       engine=engine.name, ray_address=engine.ray_address, **_command_options(cell, engine))


def bench_config(cell: Cell, out: Path, engine: Engine):
    from ..bench import BenchConfig

    return BenchConfig([cell_setup(cell)], predictions=str(cell.folder(out) / "predictions.csv"),
                       **_command_options(cell, engine))


def tta_config(cell: Cell, out: Path, engine: Engine):
    from ..tta import TTAConfig

    o = cell.experiment.options
    memo = {k: o[k] for k in ("views", "steps", "lr", "seed", "prior_strength", "transforms") if k in o}
    return TTAConfig(cell_setup(cell), methods=tuple(o["methods"]), grid=grid(o), **memo,
                     **_command_options(cell, engine))


def check_configs(cells: list[Cell], out: Path, engine: Engine) -> None:
    """Every cell's config object can be built, before any cell runs."""
    make = {"zoom": sweep_config, "bench": bench_config, "tta": tta_config}
    for cell in cells:
        try:
            make[cell.kind](cell, out, engine)
        except (StudyError, UsageError) as e:
            raise StudyError(f"experiment {cell.experiment.name!r}: {e}") from None


def outputs_present(cell: Cell, out: Path) -> bool:
    """The files a done cell leaves, all there (and, for a zoom cell, its analysis up to date)."""
    folder = cell.folder(out)
    if cell.kind != "zoom":
        return (folder / RESULT).is_file()
    from ..report.load import read_fresh

    try:
        return read_fresh(folder) is not None and (folder / "report.html").is_file()
    except Exception:  # a folder broken since: run the cell again, which says what is wrong
        return False


def is_done(cell: Cell, out: Path, record: dict | None) -> bool:
    return bool(record) and record.get("status") == "done" and record.get("fingerprint") == cell.fingerprint() \
        and outputs_present(cell, out)


def run_zoom(cell: Cell, out: Path, engine: Engine, log: Callable[[str], None]) -> dict:
    from ..report.html import write_report
    from ..report.analyze import analyze_run, format_result
    from ..sweep import run_sweep

    from ..runs.identity import IdentityError

    cfg = sweep_config(cell, out, engine)
    try:
        run_sweep(cfg, log=log)
    except IdentityError as e:
        # The cell's folder is the study's own: a study file changed since (another grid, a
        # labels file edited in place) redoes the cell, keeping the old run beside it.
        aside = _set_aside(Path(cfg.out))
        log(f"{cell.key}: {e}; the study changed since, so the cell runs again (its old run is kept in {aside})")
        run_sweep(cfg, log=log)
    result = analyze_run(cfg.out).result
    write_report([cfg.out], Path(cfg.out) / "report.html")
    return {"summary": format_result(result)}


def _set_aside(folder: Path) -> Path:
    """Move a cell's folder out of the way, to FOLDER.replaced-YYYYmmdd-HHMMSS[-N] beside it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = folder.with_name(f"{folder.name}.replaced-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = folder.with_name(f"{folder.name}.replaced-{stamp}-{n}")
    os.replace(folder, aside)
    return aside


def run_bench_cell(cell: Cell, out: Path, engine: Engine, log: Callable[[str], None]) -> dict:
    from ..bench import run_bench

    cfg = bench_config(cell, out, engine)
    Path(cfg.predictions).parent.mkdir(parents=True, exist_ok=True)
    summary = run_bench(cfg, log=log)[0]
    write_json(cell.folder(out) / RESULT, summary)
    return {"summary": f"{summary['n']} images: top-1 {summary['top1']:.2%}, top-5 {summary['top5']:.2%}"}


def run_tta_cell(cell: Cell, out: Path, engine: Engine, log: Callable[[str], None]) -> dict:
    from ..tta import run_tta

    report = run_tta(tta_config(cell, out, engine), log=log)
    folder = cell.folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(report.images[0])
    write_csv(folder / "images.csv", columns,
              ([" ".join(map(str, r[c])) if isinstance(r[c], list) else r[c] for c in columns] for r in report.images))
    # the command's --json: one object for one method, else a list
    write_json(folder / RESULT, report.results[0] if len(report.results) == 1 else report.results)
    return {"summary": ", ".join(f"{r['method']} {r['top1']:.2%}" for r in report.results)
            + f" (baseline {report.results[0]['baseline_top1']:.2%})"}


RUNNERS = {"zoom": run_zoom, "bench": run_bench_cell, "tta": run_tta_cell}


def run_cell(cell: Cell, out: Path, engine: Engine, log: Callable[[str], None]) -> dict:
    """Run one cell; its record: status done or failed (with the reason), timings."""
    folder = cell.folder(out)
    resumed = cell.kind == "zoom" and (folder / "run.json").is_file()
    record = {"key": cell.key, "kind": cell.kind, "experiment": cell.experiment.name, "model": cell.model,
              "dataset": cell.dataset, "folder": str(folder.relative_to(out)), "fingerprint": cell.fingerprint(),
              "action": "resumed" if resumed else "ran", "started": time.time()}
    t0 = time.perf_counter()
    try:
        record.update(RUNNERS[cell.kind](cell, out, engine, log), status="done")
    except user_errors() as e:
        record.update(status="failed", reason=str(e) or type(e).__name__)
    except Exception as e:  # an internal bug: the study goes on, the traceback is kept beside the cell
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "error.txt").write_text(traceback.format_exc())
        record.update(status="failed", reason=f"{type(e).__name__}: {e} (traceback: {folder / 'error.txt'})")
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def pending_state(cell: Cell, out: Path, record: dict | None) -> str:
    """What --dry-run says of a cell: done, partial (how far), failed before, or to run."""
    if is_done(cell, out, record):
        return f"done ({record.get('seconds', 0):.1f} s)"
    folder = cell.folder(out)
    if cell.kind == "zoom" and (folder / "run.json").is_file():
        from ..data import open_source
        from ..runs.store import RunStore

        store = RunStore(folder)
        done = len(store.done_ids() | set(store.errors()))
        try:
            total = len(open_source(cell.dataset_options["data"], labels=cell.dataset_options["labels"]))
        except user_errors() as e:
            return f"partial: {done} images swept (data now unavailable: {e})"
        return f"partial: {done} of {total} images swept, resumes" if done < total else "swept, analysis to write"
    if record and record.get("status") == "failed":
        return f"to run (failed before: {record.get('reason')})"
    return "to run"


def write_json(path: Path, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def read_records(out: Path) -> dict[str, dict]:
    """Each cell's last record from OUT/study.json (none when absent or unreadable)."""
    try:
        data = json.loads((Path(out) / STUDY_JSON).read_text())
        return {c["key"]: c for c in data.get("cells", []) if isinstance(c, dict) and "key" in c}
    except (OSError, ValueError, AttributeError):
        return {}
