#!/usr/bin/env python
"""The pictures in docs/pages.md: the galaxy map, a station page and the admin's summary, taken with
Debian's Chromium from a running server.

    DJANGO_SUPERUSER_PASSWORD=demo-pass-123 make run          # terminal 1: seeded demo galaxy
    .venv/bin/python manage.py demo_traffic --trades 400 --interval 0.3   # terminal 2
    make install && .venv/bin/python scripts/screenshots.py --username admin \
        --password demo-pass-123

It signs in through the admin's login form as a browser does, waits for the pages to be live
and for shipments to be on the map, and writes docs/screenshots/{map,station,admin}.png.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--station", default="ceres-prime", help="whose page to take")
    parser.add_argument(
        "--map-station", default="titan-refinery", help="whose panel the map's picture shows"
    )
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("Chromium is not installed: apt-get install chromium (scripts/ensure-test-tools)")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        page.goto(f"{args.url}/admin/login/?next=/admin/")
        page.fill("#id_username", args.username)
        page.fill("#id_password", args.password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{args.url}/admin/")
        page.screenshot(path=str(OUT / "admin.png"), full_page=True)

        page.goto(f"{args.url}/map/")
        page.wait_for_selector("body[data-stream=live]", timeout=30_000)
        try:
            page.wait_for_selector("[data-shipment]", timeout=60_000)
        except Exception:
            sys.exit("No shipment on the map after a minute: is demo_traffic running?")
        page.wait_for_timeout(3000)  # a few more arrive and move
        # In a cluster at this scale? Zoom into it (a click on the cluster) until it stands alone.
        for _ in range(8):
            if page.locator(f'[data-station="{args.map_station}"] g.mark').is_visible():
                break
            page.locator(f'[data-cluster~="{args.map_station}"] circle').click()
            page.wait_for_timeout(300)
        page.locator(f'[data-station="{args.map_station}"] g.mark').click()
        page.mouse.move(2, 2)
        page.wait_for_selector("#panel-stock table", timeout=15_000)
        page.screenshot(path=str(OUT / "map.png"))

        page.goto(f"{args.url}/stations/{args.station}/")
        page.wait_for_selector("body[data-stream=live]", timeout=30_000)
        page.wait_for_selector("#chart[data-points]", timeout=30_000)
        page.screenshot(path=str(OUT / "station.png"), full_page=True)
        browser.close()
    print(f"written: {', '.join(str(OUT / n) for n in ('map.png', 'station.png', 'admin.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
