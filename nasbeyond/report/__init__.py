"""Reporting: the top-k table and the Pareto front table (the live progress line is
``nasbeyond.run.progress``)."""

from nasbeyond.report.table import pareto_table, trials_table

__all__ = ["pareto_table", "trials_table"]
