"""Regenerate the README's dashboard screenshots (docs/img/dashboard-*.png).

Builds the browser test's fixture store (tests/dashboard_fixtures.py: three brands, six
weekly windows) in a temporary folder, serves the real app on 127.0.0.1 and walks it in
headless Chromium with the browser test's own code, then copies the overview and the
brand page into ``--out``.

    .venv/bin/python bench/dashboard_screenshots.py [--out docs/img] [--max-height 2000]

Needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img",
                        help="folder for dashboard-overview.png and dashboard-brand.png")
    parser.add_argument("--max-height", type=int, default=2000,
                        help="tallest screenshot in pixels (the page is cut below it)")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))  # tests/ is not installed; its fixtures are shared here
    from serve import ServeSettings, create_app
    from tests.radar.dashboard.fixtures import (
        browser_missing,
        build_fixture_store,
        chrome,
        png_size,
        running_server,
        walk_dashboard,
    )

    reason = browser_missing()
    if reason:
        sys.exit(reason)
    # Stable pseudonyms, so regenerated pictures differ only where the page did.
    os.environ.setdefault("RADAR_PSEUDONYM_KEY", "dashboard-screenshots")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        fixture = build_fixture_store(root / "radar.db")
        app = create_app(ServeSettings(model_dir=root / "no-model", db_path=fixture.db_path))
        driver = chrome()
        try:
            with running_server(app) as base_url:
                seen = walk_dashboard(driver, base_url, fixture.filter_theme, root / "shots",
                                      max_height=args.max_height)
        finally:
            driver.quit()
        args.out.mkdir(parents=True, exist_ok=True)
        for name in ("overview", "brand"):
            target = args.out / f"dashboard-{name}.png"
            shutil.copyfile(seen["screenshots"][name], target)
            width, height = png_size(target)
            print(f"{target}: {width}x{height}, {target.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
