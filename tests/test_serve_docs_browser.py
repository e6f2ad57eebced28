"""The API docs in a real browser with every other host blocked: ``/docs`` (Swagger UI)
renders from this server's own copies of its script and styles (issue 17: with FastAPI's
defaults it loaded them from a CDN and showed a blank page offline).

Headless Chromium (Debian's chromium and chromium-driver) through Selenium, against the app
served by uvicorn on 127.0.0.1, as in ``tests/radar/dashboard/test_dashboard_browser.py``.
"""

from __future__ import annotations

import string

import pytest

pytest.importorskip("selenium")
pytest.importorskip("uvicorn")

from serve import ServeSettings, create_app  # noqa: E402
from tests.radar.dashboard.fixtures import browser_missing, chrome, running_server  # noqa: E402

pytestmark = pytest.mark.browser

# Chrome DevTools' URL block list takes wildcards, not exceptions: every https URL and every
# http host that starts with a letter (all named hosts); the server is http://127.0.0.1.
BLOCKED = ["https://*", "wss://*", *(f"http://{c}*" for c in string.ascii_lowercase)]
TIMEOUT_S = 20


@pytest.fixture
def offline_browser():
    """Headless Chromium that can reach 127.0.0.1 only."""
    if reason := browser_missing():
        pytest.skip(reason)
    driver = chrome()
    try:  # quit the browser also when the block cannot be set
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": BLOCKED})
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def base_url(tmp_path):
    app = create_app(ServeSettings(model_dir=tmp_path / "no-model", db_path=tmp_path / "db"))
    with running_server(app) as url:
        yield url


def _wait_for(driver, css: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, TIMEOUT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _loaded_from(driver) -> set[str]:
    """The origins of every resource the page loaded (scripts, styles, the schema)."""
    return set(driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin)"))


def _fetch_fails(driver, url: str) -> bool:
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {mode: 'no-cors'}).then(() => done(false), () => done(true));",
        url)


def test_swagger_ui_renders_with_the_network_blocked(offline_browser, base_url, tmp_path):
    from selenium.webdriver.common.by import By

    driver = offline_browser
    driver.get(f"{base_url}/docs")
    _wait_for(driver, ".swagger-ui .opblock")
    loaded_from = _loaded_from(driver)
    title = driver.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    paths = {el.text.replace("\u200b", "")
             for el in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    styled = driver.execute_script(
        "return getComputedStyle(document.querySelector('.swagger-ui .opblock-summary-method'))"
        ".backgroundColor")
    driver.save_screenshot(str(tmp_path / "docs.png"))

    assert title.startswith("complaint-radar")
    assert {"/v1/classify", "/v1/risk", "/v1/model", "/healthz"} <= paths
    assert styled not in ("", "rgba(0, 0, 0, 0)")  # swagger-ui.css was applied
    assert loaded_from == {base_url}
    assert (tmp_path / "docs.png").stat().st_size > 20_000  # a rendered page, not a blank one
    # And the block holds: the CDN FastAPI's own page loads Swagger UI from is out of reach.
    assert _fetch_fails(driver, "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css")
