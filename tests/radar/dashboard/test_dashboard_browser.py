"""The dashboard in a real browser: headless Chromium (Debian's chromium and
chromium-driver) through Selenium, against the real app served by uvicorn on 127.0.0.1.

Overview, a brand page with its plotly charts and posts, the theme filter; a screenshot of
each page under the test's folder (``screenshots/``).
"""

from __future__ import annotations

import pytest

pytest.importorskip("selenium")
pytest.importorskip("uvicorn")

from serve import ServeSettings, create_app  # noqa: E402
from tests.radar.dashboard.fixtures import (  # noqa: E402
    WINDOW_SIZE,
    browser_missing,
    build_fixture_store,
    chrome,
    png_size,
    running_server,
    walk_dashboard,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def browser():
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    driver = chrome()
    yield driver
    driver.quit()


def test_dashboard_in_headless_chromium(browser, tmp_path):
    fixture = build_fixture_store(tmp_path / "radar.db")
    app = create_app(ServeSettings(model_dir=tmp_path / "no-model", db_path=fixture.db_path))
    with running_server(app) as base_url:
        seen = walk_dashboard(browser, base_url, fixture.filter_theme, tmp_path / "screenshots")

    assert seen["overview_brands"] == list(fixture.brands_by_share)
    assert seen["overview_arrows"] == ["▲", "≈", "new"]
    assert seen["brand_title"] == fixture.top_brand

    everyone = seen["brand_customers"]
    assert everyone and seen["brand_posts"] >= len(everyone)
    assert 0 < seen["raw_links"] < seen["brand_posts"]  # only posts with a URL link out
    assert all(name.startswith("c_") for name, _ in everyone)

    theme = fixture.filter_theme
    assert seen["filtered_url"].endswith(f"?theme={theme}")
    assert seen["select_value"] == theme
    kept = seen["filtered_customers"]
    assert kept == [c for c in everyone if theme in c[1]]  # same pseudonyms, same order
    assert 0 < len(kept) < len(everyone)

    for name in ("overview", "brand", "brand-filtered"):
        path = tmp_path / "screenshots" / f"{name}.png"
        assert seen["screenshots"][name] == path and path.is_file()
        width, height = png_size(path)
        assert width >= WINDOW_SIZE[0] * 0.9 and height >= 600
        assert path.stat().st_size > 20_000  # a rendered page, not a blank one
    assert (tmp_path / "screenshots" / "brand.png").read_bytes() != \
        (tmp_path / "screenshots" / "brand-filtered.png").read_bytes()
