"""README's screenshots of the dashboard and the report, taken with Playwright and Debian's
Chromium (as the browser tests do).

    python scripts/readme_screenshots.py RUN_DIR [RUN_DIR ...] [--out docs/img]

Serves the runs with `nasbeyond dashboard` and saves dashboard-compare.png (every run's
best-so-far curve), dashboard-run.png (the first run), dashboard-trial.png (the best trial of the
last run) and report.png (the first run's report.html, written if missing), each as a 256-colour
PNG.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


def save(png: bytes, path: Path) -> None:
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    img.save(path, optimize=True)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--out", default="docs/img")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "nasbeyond", "dashboard", *args.run_dirs, "--port", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        found = re.search(r"http://\S+/", line)
        if not found:
            raise SystemExit(f"dashboard did not start: {line}")
        url = found.group(0)
        last = len(args.run_dirs) - 1
        with urllib.request.urlopen(f"{url}api/runs/{last}") as r:
            best = json.load(r)["best"]["id"]
        report = Path(args.run_dirs[0]) / "report.html"
        if not report.exists():
            cmd = [sys.executable, "-m", "nasbeyond", "report", args.run_dirs[0]]
            subprocess.run(cmd, check=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url)
            page.wait_for_selector("#compare-chart .main-svg")
            page.wait_for_timeout(500)
            save(page.screenshot(), out / "dashboard-compare.png")
            page.goto(f"{url}#/run/0")
            page.wait_for_selector("#importance-chart .main-svg")
            page.wait_for_selector("tr.trial-row")
            page.set_viewport_size({"width": 1280, "height": 1340})  # parallel coordinates seen
            page.wait_for_selector("#parallel-chart .axis-title", timeout=120_000)
            page.wait_for_timeout(500)
            save(page.screenshot(), out / "dashboard-run.png")
            page.set_viewport_size({"width": 1280, "height": 860})
            page.goto(f"{url}#/run/{last}/trial/{best}")
            page.wait_for_selector("#trial-detail")
            page.wait_for_function(
                "() => { const i = document.getElementById('arch-img');"
                " return !i || (i.complete && i.naturalWidth > 0); }"
            )
            save(page.screenshot(), out / "dashboard-trial.png")
            page.goto(report.resolve().as_uri())
            page.wait_for_load_state("load")
            save(page.screenshot(), out / "report.png")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
