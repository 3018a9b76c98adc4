"""Evaluators and measurements: training from scratch lives in ``nasbeyond.train``; here are the
measurements every evaluator shares."""

from nasbeyond.evaluate.measure import count_macs, count_params

__all__ = ["count_macs", "count_params"]
