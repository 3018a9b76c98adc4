import io

from nasbeyond.run import ProgressBar
from nasbeyond.trial import Trial


def test_progress_line_with_and_without_a_trial_limit():
    out = io.StringIO()
    bar = ProgressBar(stream=out)
    best = Trial(1, {}, "ok", 0.91)
    bar(best, 1, 4, best)
    bar(Trial(2, {}, "failed", error="RuntimeError: boom\nmore"), 2, 4, best)
    bar(Trial(3, {}, "ok", 0.5), 3, 0, best)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[######------------------] 1/4 best val 0.9100")
    assert "eta" in lines[0] and lines[1].endswith("FAILED (RuntimeError: boom)")
    assert lines[2].startswith("3 trials best val 0.9100") and "eta" not in lines[2]
