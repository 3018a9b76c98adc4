"""Tabular NAS benchmark data shipped with nasbeyond (see each folder's README for provenance)."""
