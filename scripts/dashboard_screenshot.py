"""Screenshot the dashboard of a running service and measure what the page downloads.

Usage (a service running, e.g. the README's replay demo on :3001):
    python scripts/dashboard_screenshot.py http://127.0.0.1:3001/dashboard docs/img/dashboard.png

Drives the system Chromium (``make browser`` installs it) through Playwright, waits for the
page to draw and for ``--wait`` more seconds of live updates, saves a full-page PNG and prints
the page weight: the bytes of every HTTP answer the first load fetched (page, script, style
sheet, chart library and the first API reads), how long pushed predictions took to reach the
chart, and any console error.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from playwright.sync_api import Response, sync_playwright


def main() -> None:
    """Take the screenshot and print the page weight."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out", type=Path)
    parser.add_argument("--wait", type=float, default=10.0, help="seconds of live updates")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1300)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args()
    sizes: dict[str, int] = {}
    errors: list[str] = []

    def record(response: Response) -> None:
        if response.url not in sizes:
            sizes[response.url] = len(response.body())

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("response", record)
        started = time.perf_counter()
        page.goto(args.url)
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        ready_s = time.perf_counter() - started
        first_load = dict(sizes)
        page.wait_for_timeout(args.wait * 1000)
        delays = page.evaluate(
            "() => { const v = window.mlpkgDashboard; return Object.keys(v.receivedAt)"
            ".filter((id) => id in v.drawnAt).map((id) => v.drawnAt[id] - v.receivedAt[id]); }"
        )
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    for url, size in sorted(first_load.items(), key=lambda item: -item[1]):
        print(f"{size:>9,d}  {url}")
    print(f"{sum(first_load.values()):>9,d}  total, first load; ready after {ready_s:.2f} s")
    if delays:
        median = sorted(delays)[len(delays) // 2]
        print(
            f"pushed predictions drawn on the chart: {len(delays)}, after "
            f"{min(delays):.0f}-{max(delays):.0f} ms (median {median:.0f})"
        )
    print(f"console errors: {errors or 'none'}")


if __name__ == "__main__":
    main()
