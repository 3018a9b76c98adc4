"""Reporting: the live progress bar and the top-k table."""

from nasbeyond.report.progress import ProgressBar
from nasbeyond.report.table import trials_table

__all__ = ["ProgressBar", "trials_table"]
