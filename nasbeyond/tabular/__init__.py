"""Tabular AutoML: searched feature engineering, model search, k-fold selection and ensembling,
behind scikit-learn estimators.

    from nasbeyond.tabular import AutoClassifier
    clf = AutoClassifier(time_limit=60).fit(X, y)   # X: DataFrame or array; y: labels
    clf.predict_proba(X_new); clf.leaderboard(); clf.feature_importances_

Needs the ``tabular`` extra (pandas, LightGBM): ``pip install nasbeyond[tabular]``.
"""

from nasbeyond.tabular._data import Column, TabularFrame, TabularInputError
from nasbeyond.tabular.ensemble import caruana
from nasbeyond.tabular.estimator import AutoClassifier, AutoRegressor, Member
from nasbeyond.tabular.metrics import METRICS, get_metric
from nasbeyond.tabular.space import TabularPipelineSpace

__all__ = [
    "METRICS",
    "AutoClassifier",
    "AutoRegressor",
    "Column",
    "Member",
    "TabularFrame",
    "TabularInputError",
    "TabularPipelineSpace",
    "caruana",
    "get_metric",
]
