"""Presenting a run: analysis.json, CSVs and figures (`analyze_run`), the Table-1-style
comparison (`compare`), and one self-contained HTML page for several runs (`write_report`)."""

from .load import AnalyzedRun, load_run
from .analyze import analyze_run

__all__ = ["AnalyzedRun", "analyze_run", "load_run"]
