"""`zoomhard reproduce STUDY.toml`: a study file's whole matrix of experiments, models and
datasets, resumably, into one folder of run folders, tables and a report page.

    studyfile.py  the study file: schema and validation (StudyError: one line)
    cells.py      one (experiment, model, dataset) cell: its config object, its run, its record
    runner.py     the whole study: progress, study.json, then tables and report
    tables.py     zoom.csv, bench.csv, bench_origins.csv, tta.csv (and Markdown), paper figures beside
    html.py       OUT/report.html;  figures.py: its own figures
"""

from .cells import Engine
from .runner import dry_run, format_dry_run, format_outcome, run_study
from .studyfile import Study, StudyError, load_study

__all__ = ["Engine", "Study", "StudyError", "dry_run", "format_dry_run", "format_outcome", "load_study", "run_study"]
