"""Reporting: the live progress bar and the top-k table."""

from nasbeyond.report.progress import ProgressBar
from nasbeyond.report.table import pareto_table, trials_table

__all__ = ["ProgressBar", "pareto_table", "trials_table"]
