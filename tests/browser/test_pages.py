"""The dashboard and the HTML report in a real browser: Debian's Chromium driven by Playwright.

One real search (nb201-table: 3 trials in-process, then `nasbeyond resume` in a subprocess
while the page watches) and one 10,000-trial store are made per module, one `nasbeyond
dashboard` process serves both, and one browser is started for the module. Never
`playwright install` (it downloads a browser): `make test` apt-installs `chromium`.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")
pytest.importorskip("fastapi")
from playwright.sync_api import sync_playwright  # noqa: E402

from nasbeyond.arch import arch_key, canonical_json  # noqa: E402
from nasbeyond.config import RunConfig  # noqa: E402
from nasbeyond.run import Experiment  # noqa: E402
from nasbeyond.run.store import SQLiteStore  # noqa: E402
from nasbeyond.trial import Result  # noqa: E402
from tests.dashboard.stores import big_run  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
HOSTILE = "<img src=x onerror=window.pwned=1><script>window.pwned=2</script>"
# serial: the module's tests share one search, one dashboard process and one browser; split
# over xdist workers, each worker would start its own.
pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="needs Debian's chromium (`make test` installs it)"
    ),
    pytest.mark.serial,
]


def nasbeyond(*args: str) -> list[str]:
    return [sys.executable, "-m", "nasbeyond", *args]


def count_is(n: str) -> str:
    """A predicate (a function: the page's CSP forbids evaluating expression strings) true once
    the run's trial count reads ``n``."""
    return f"() => document.getElementById('trial-count')?.textContent.startsWith('{n}')"


def not_blank(png: bytes) -> bool:
    """More than a flat page: many colours and real contrast."""
    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png)).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 16)
    many = colours is None or len(colours) > 50
    return many and ImageStat.Stat(img.convert("L")).stddev[0] > 10


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    live = root / "live"
    config = RunConfig(
        space="nb201", evaluator="nb201-table", strategy="random", trials=3, seed=0,
        executor="inline", run_dir=str(live),
    )  # fmt: skip
    Experiment(config).run()
    big = big_run(root / "big", n=9_999)
    store = SQLiteStore(big, create=False)  # trial 10,000: text that would run if put as HTML
    odd = {"edges": [HOSTILE, *["none"] * 5]}  # trial 1, ok and best: an option label too
    store._db.execute(
        "UPDATE trials SET arch = ?, arch_key = ?, reward = 1.0 WHERE id = 1",
        (canonical_json(odd), arch_key(odd)),
    )
    tid = store.start_trial({"edges": [HOSTILE] * 6}, None, dict)
    store.finish_trial(tid, Result.failed(f"Traceback\nValueError: {HOSTILE}"), dict)
    store.close()
    return live, big


@pytest.fixture(scope="module")
def dashboard(runs):
    """The URL of `nasbeyond dashboard LIVE BIG --port 0`, a real server in a subprocess."""
    proc = subprocess.Popen(
        nasbeyond("dashboard", *map(str, runs), "--port", "0"),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    logged: list[str] = []
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, f"dashboard did not start: {line!r}"
        # drain the server's stderr (a full pipe would stall it) and keep it for the end
        threading.Thread(target=lambda: logged.extend(proc.stderr or ()), daemon=True).start()
        yield found.group(0)
    finally:
        proc.terminate()
        proc.wait(10)
    assert not any("Traceback" in line for line in logged), "".join(logged)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page and the console errors and uncaught exceptions it logs."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg, errors
    context.close()


def test_new_trials_appear_without_reload_and_detail_opens(page, dashboard, runs):
    pg, errors = page
    pg.goto(dashboard + "#/run/0")
    pg.wait_for_function(count_is("3"))
    pg.wait_for_selector("#best-chart .main-svg")
    pg.evaluate("window.notReloaded = true")  # a reload would drop it
    t0 = time.perf_counter()
    resume = subprocess.run(
        nasbeyond("resume", str(runs[0]), "--trials", "6"), capture_output=True, timeout=120
    )
    assert resume.returncode == 0, resume.stderr
    t1 = time.perf_counter()
    pg.wait_for_function(count_is("6"), timeout=20_000)  # polled, not reloaded
    shown = time.perf_counter() - t1
    print(f"\nresume subprocess {t1 - t0:.1f} s; its trials shown {shown:.1f} s after it ended")
    pg.wait_for_selector("tr.trial-row[data-id='6']")
    pg.wait_for_selector("#final-test")  # the best arch's test accuracy, written at the end
    assert pg.evaluate("window.notReloaded") is True
    assert pg.locator("tr.trial-row").count() == 6

    pg.click("tr.trial-row[data-id='6']")
    pg.wait_for_selector("#trial-detail[data-id='6']")
    pg.wait_for_function(
        "() => { const i = document.getElementById('arch-img');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    assert "val_acc" in pg.inner_text("#trial-metrics")
    assert '"edges"' in pg.inner_text("#trial-arch")
    assert pg.evaluate("window.notReloaded") is True
    assert not_blank(pg.screenshot(full_page=True))
    assert errors == []


def test_runs_compared_and_large_run_loads(page, dashboard):
    pg, errors = page
    pg.goto(dashboard)
    pg.wait_for_selector(".run-card[data-run='1']")
    pg.wait_for_function(
        "() => document.querySelectorAll('#compare-chart .scatterlayer .trace').length === 2"
    )
    legend = pg.eval_on_selector_all(
        "#compare-chart .legendtext", "els => els.map(e => e.textContent)"
    )
    assert legend == ["live", "big"]
    assert not_blank(pg.screenshot())

    start = time.perf_counter()
    pg.goto(dashboard + "#/run/1")
    pg.wait_for_function(count_is("10,000"))
    pg.wait_for_selector("#best-chart .main-svg")
    rows = pg.locator("tr.trial-row").count()
    print(
        f"\n10,000-trial run: count, curve and first page shown {time.perf_counter() - start:.2f} s"
    )
    assert rows == 50
    pg.click("#next-page")
    pg.wait_for_function(
        "() => document.getElementById('page-info')?.textContent.startsWith('51-100')"
    )
    assert pg.inner_text("#page-info") == "51-100 of 10,000"
    pg.wait_for_selector("#scatter-chart .main-svg")
    assert not_blank(pg.screenshot())
    assert errors == []


def test_store_text_is_shown_as_text(page, dashboard):
    pg, errors = page
    pg.goto(dashboard + "#/run/1/trial/10000")
    pg.wait_for_selector("#trial-detail[data-id='10000']")
    assert HOSTILE in pg.inner_text("#trial-error") and HOSTILE in pg.inner_text("#trial-arch")
    assert pg.evaluate("window.pwned") is None and pg.locator("#view img[src='x']").count() == 0
    assert errors == []  # the arch no space accepts is shown as JSON, not drawn


def test_parallel_coordinates_of_the_decisions(page, dashboard):
    pg, errors = page
    pg.goto(dashboard + "#/run/1")
    pg.wait_for_selector("#parallel-chart")
    assert pg.locator("#parallel-chart .axis-title").count() == 0  # drawn when seen
    pg.locator("#parallel-chart").scroll_into_view_if_needed()
    titles = "#parallel-chart .axis-title"
    drawn = f"() => document.querySelectorAll('{titles}').length === 7"
    pg.wait_for_function(drawn, timeout=60_000)
    names = pg.eval_on_selector_all(titles, "els => els.map(e => e.textContent)")
    assert names == [f"edges.{i}" for i in range(6)] + ["reward"]
    assert pg.get_attribute("#parallel-chart", "data-lines") == "2000"
    ticks = pg.eval_on_selector_all(
        "#parallel-chart .y-axis .tick text", "els => els.map(e => e.textContent)"
    )
    assert "nor_conv_3x3" in ticks and HOSTILE in ticks  # option labels, the store's as text
    assert pg.evaluate("window.pwned") is None and pg.locator("#view img[src='x']").count() == 0
    assert pg.locator("#parallel-chart .no-webgl").count() == 0  # WebGL drew (CSP allows regl)
    assert "the best 2,000 of 9,800 ok trials" in pg.inner_text("#parallel-note")
    assert not_blank(pg.locator("#parallel-chart").screenshot())
    assert errors == []


def test_report_opens_offline_with_its_charts(page, runs):
    from nasbeyond.report.html import write_report

    pg, errors = page
    out = write_report(runs[0], Path(runs[0]) / "report.html", samples=False)
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(out.resolve().as_uri())
    charts = pg.eval_on_selector_all(
        "img.chart", "els => els.map(e => [e.alt, e.complete && e.naturalWidth > 0])"
    )
    assert len(charts) >= 3 and all(ok for _, ok in charts), charts
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # offline
    assert not_blank(pg.screenshot(full_page=True))
    assert errors == []
