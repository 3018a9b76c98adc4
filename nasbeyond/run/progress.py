"""A dependency-free progress line: trials done / total, best reward, elapsed and ETA.
On a terminal it redraws in place; in a log it prints one line per finished trial."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from nasbeyond.trial import Trial


def _clock(seconds: float) -> str:
    s = int(max(0, seconds))
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


class ProgressBar:
    """Callable as the ``progress`` hook of ``run``."""

    def __init__(
        self,
        done: int = 0,
        stream: TextIO | None = None,
        width: int = 24,
        label: str = "best val",
    ) -> None:
        self.label = label  # "best reward" when the reward is not the validation accuracy
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.monotonic()
        self.first_done = done  # trials finished before this process started (resume)
        self.tty = self.stream.isatty()

    def __call__(self, trial: Trial, done: int, total: int, best: Trial | None) -> None:
        """``total`` 0 means no trial limit (a time budget): no bar, no ETA."""
        elapsed = time.monotonic() - self.start
        best_s = f"{best.reward:.4f}" if best and best.reward is not None else "-"
        status = (
            "ok" if trial.status == "ok" else f"FAILED ({(trial.error or '').splitlines()[0][:60]})"
        )
        tail = f"{self.label} {best_s} | elapsed {_clock(elapsed)}"
        if total > 0:
            new = done - self.first_done
            eta = elapsed / new * (total - done) if new else 0.0
            fill = round(self.width * done / total)
            bar = "#" * fill + "-" * (self.width - fill)
            line = f"[{bar}] {done}/{total} {tail} eta {_clock(eta)} | trial {trial.id} {status}"
        else:
            line = f"{done} trials {tail} | trial {trial.id} {status}"
        if self.tty and total > 0:
            self.stream.write("\r\033[K" + line + ("\n" if done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
