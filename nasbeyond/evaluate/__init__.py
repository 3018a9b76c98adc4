"""Evaluators and measurements: training from scratch lives in ``nasbeyond.train``; here are the
benchmark-table evaluators and the measurements every evaluator shares."""

from nasbeyond.evaluate.measure import count_macs, count_params, measure_latency
from nasbeyond.evaluate.nb201_table import NB201TableEvaluator, load_table

__all__ = [
    "NB201TableEvaluator",
    "count_macs",
    "count_params",
    "load_table",
    "measure_latency",
]
