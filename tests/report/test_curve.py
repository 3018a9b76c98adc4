from nasbeyond.report.curve import best_so_far, search_summary
from nasbeyond.trial import Trial


def trials(rewards):
    return [
        Trial(i, {"i": i}, "failed" if r is None else "ok", r) for i, r in enumerate(rewards, 1)
    ]


def test_best_so_far_steps_only_when_beaten():
    assert best_so_far(trials([0.5, 0.4, None, 0.5, 0.7, 0.6])) == [(1, 0.5), (5, 0.7)]


def test_summary_compares_early_and_late_halves_of_the_ok_trials():
    text = search_summary(trials([0.5, 0.6, None, 0.4, 0.8, 0.9, 0.7]))
    assert text is not None
    assert "0.5000 (trial 1) -> 0.6000 (trial 2) -> 0.8000 (trial 5) -> 0.9000 (trial 6)" in text
    assert "trials 1-4: 0.5000" in text and "trials 5-7: 0.8000 (+0.3000)" in text


def test_no_summary_from_too_few_trials():
    assert search_summary(trials([0.5, None, 0.6])) is None
