"""Tabular AutoML on a real table: search pipelines for 60 s, then score the ensemble on held-out
rows (README, "Tabular AutoML")."""

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from nasbeyond.tabular import AutoClassifier

if __name__ == "__main__":  # trials run in spawned worker processes: guard the entry point
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)  # any DataFrame or 2-D array
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    clf = AutoClassifier(time_limit=60).fit(X_train, y_train)
    board = clf.leaderboard()  # every tried pipeline: CV score, time, status, weight
    print(board[["model", "roc_auc", "fidelity", "time_s", "status", "weight"]].head(10))
    print(clf.score(X_test, y_test), clf.predict_proba(X_test[:3]))
    print(sorted(zip(clf.feature_importances_, X.columns, strict=True), reverse=True)[:5])
