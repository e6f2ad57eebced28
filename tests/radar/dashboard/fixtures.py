"""A realistic risk history for the dashboard's tests and README screenshots, a server to
serve it, and the browser walk through its pages.

Three brands over six weekly windows, built the way the monitor builds them: synthetic
scored posts (``RiskPost``) through ``score_brands`` with an anchor, ``save_brand_windows``
per window (the model changes after week three), and the matching ``Post``s (most with a
URL) so customers' posts resolve. One brand rises beyond the noise in its last window, one
stays flat, one is new; the rising brand carries a recorded alert.

Selenium and uvicorn are imported only by the functions that need them.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nlp.risk import SCORE_VERSION, RiskConfig, RiskPost, score_brands
from nlp.types import Post
from radar.monitor.alerts import find_alerts
from radar.store import StoreTarget, open_store
from radar.store.history import (
    brand_history,
    has_theme,
    latest_points,
    post_key,
    record_alert,
    record_delivery,
    save_brand_windows,
    window_customers,
)

ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
WEEKS = 6
MODEL_BEFORE = "baseline-2024.01"
MODEL_AFTER = "transformer-2024.02"
SWITCH_WEEK = 3  # windows from this one on were scored by MODEL_AFTER
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_BROWSER = "sudo apt-get install -y chromium chromium-driver"
WINDOW_SIZE = (1400, 1000)

# brand -> (handle it is mentioned as, weeks it has posts, at-risk rate per week, themes)
BRANDS: dict[str, tuple[str, range, tuple[float, ...], tuple[str, ...]]] = {
    "AcmeTelco": ("acmetelco", range(WEEKS), (0.14, 0.15, 0.15, 0.17, 0.19, 0.55),
                  ("ivr_menu", "billing", "waiting", "not_known")),
    "Bluebird Air": ("bluebirdair", range(WEEKS), (0.30, 0.29, 0.27, 0.27, 0.25, 0.24),
                     ("product_failure", "waiting", "staff_attitude")),
    "Cornershop": ("cornershop", range(WEEKS - 1, WEEKS), (0.12,) * WEEKS,
                   ("self_service", "billing", "product_failure")),
}
COMPLAINTS = {
    "waiting": ("Two hours on hold with @{h} and still nobody picks up.",
                "@{h} day 9 of waiting for the callback you promised.",
                "45 minutes in the @{h} queue for a one-line question. Seriously?"),
    "ivr_menu": ("The @{h} phone menu sends me round in circles, I just want a human!",
                 "Press 1, press 3, press 1 again... @{h} your bot hung up on me twice.",
                 "@{h} is there any way to reach an actual person? The chatbot only loops."),
    "not_known": ("Third time I give @{h} my account number this week, do they keep no notes?",
                  "@{h} 12 years a customer and every agent asks me to start from scratch.",
                  "Had to re-verify my identity for the fourth time today @{h}."),
    "billing": ("@{h} charged me twice again this month, receipt here "
                "https://pics.example.net/bill-{n}.png",
                "Why did my @{h} bill go up 20% without a word?",
                "@{h} still no refund for the fee you admitted was a mistake."),
    "staff_attitude": ("The @{h} agent at the desk was rude and walked off mid-sentence.",
                       "@{h} your staff laughed when I asked about my lost bag."),
    "product_failure": ("@{h} cancelled my booking with no warning, again.",
                        "Flight delayed 5 hours and the @{h} app still says on time."),
    "self_service": ("The @{h} app logs me out every time I try to pay.",
                     "@{h} your website's payment page has been broken since Monday."),
    "unresolved": ("Fourth call to @{h} about the same fault, still not fixed.",),
}
CHURN = ("Done with @{h}. Switching to someone else as soon as my contract allows.",
         "That's it @{h}, cancelling. Anyone recommend a better provider?",
         "Moving everything away from @{h} this week, not putting up with this any more.")
NEUTRAL = ("Thanks @{h}, sorted quickly today.", "@{h} what time does the Leeds store open?",
           "Nice new ad @{h} :)")
FIRST_NAMES = ("maria", "tom", "aisha", "lukas", "chen", "olu", "sofia", "raj", "emma", "ivan",
               "noor", "pablo", "yuki", "femi", "lena", "omar", "zoe", "kofi", "ana", "jonas")


@dataclass(frozen=True)
class DashboardFixture:
    """The fixture store and what the tests know about it."""

    db_path: StoreTarget  # a SQLite file, or a PostgreSQL URL: as given to build_fixture_store
    brands_by_share: tuple[str, ...]  # the overview's order (latest at-risk share, highest first)
    trends: dict[str, str]  # brand -> trend label of its latest window
    authors: tuple[str, ...]  # every raw author id in the store
    top_brand: str
    filter_theme: str  # a theme some, not all, of top_brand's at-risk customers have
    posts_with_url: int
    posts_without_url: int


def _author(brand_index: int, i: int) -> str:
    return f"{FIRST_NAMES[i % len(FIRST_NAMES)]}_{brand_index}{i:02d}x"


def _posts(rng: random.Random) -> tuple[list[RiskPost], list[Post]]:
    """Synthetic scored posts and the stored posts behind them."""
    risk_posts: list[RiskPost] = []
    posts: list[Post] = []
    serial = 0
    for b, (brand, (handle, weeks, rates, themes)) in enumerate(BRANDS.items()):
        pool = [_author(b, i) for i in range(70)]
        for week in weeks:
            start = ANCHOR + week * WEEK
            authors = rng.sample(pool, 36 + rng.randint(0, 4))
            # Fixed counts per week, so only the rates move the share (not sampling luck).
            at_risk_count = round(rates[week] * len(authors))
            complainers = at_risk_count + round(0.45 * (len(authors) - at_risk_count))
            for n, author in enumerate(authors):
                # The rising brand's last week is driven by its phone menu.
                favourite = "ivr_menu" if week == WEEKS - 1 and brand == "AcmeTelco" else None
                shapes = (["churn", "complaint"] + ["complaint"] * (n % 2) if n < at_risk_count
                          else ["complaint"] if n < complainers else ["neutral"])
                for shape in shapes:
                    serial += 1
                    theme = favourite if favourite and rng.random() < 0.7 else rng.choice(themes)
                    texts = {"churn": CHURN, "neutral": NEUTRAL}.get(shape, COMPLAINTS[theme])
                    text = rng.choice(texts).format(h=handle, n=serial)
                    created = start + timedelta(minutes=rng.randint(0, 7 * 24 * 60 - 1))
                    # Review dumps carry no link; social posts do.
                    source, url = (("reviews-dump", None) if serial % 5 == 0 else
                                   ("social", f"https://social.example.org/p/{serial}"))
                    post_id = str(100000 + serial)
                    posts.append(Post(source=source, post_id=post_id, text=text, brand=brand,
                                      author_id=author, created_at=created, url=url))
                    p_complaint = {"churn": 0.9, "complaint": 0.85, "neutral": 0.04}[shape]
                    risk_posts.append(RiskPost(
                        post_id=post_key(source, post_id), brand=brand, author_id=author,
                        created_at=created, p_complaint=p_complaint,
                        p_positive=0.85 if shape == "neutral" else 0.02,
                        themes={} if shape == "neutral" else {theme: 0.9},
                        churn_intent=0.88 if shape == "churn" else 0.03, text=text))
    return risk_posts, posts


def build_fixture_store(db_path: StoreTarget, seed: int = 7) -> DashboardFixture:
    """Write the fixture history into a new store at ``db_path``: a SQLite file path, or the
    URL of an empty PostgreSQL database."""
    risk_posts, posts = _posts(random.Random(seed))
    windows, _ = score_brands(risk_posts, RiskConfig(), window=WEEK, anchor=ANCHOR)
    store = open_store(db_path)
    try:
        store.save_posts(posts)
        for window in windows:
            week = (window.risk.window_start - ANCHOR) // WEEK
            model = MODEL_AFTER if week >= SWITCH_WEEK else MODEL_BEFORE
            save_brand_windows(store, [window], model, window.risk.window_end
                               + timedelta(hours=6, minutes=week))
        latest = {w.risk.brand: w for w in windows
                  if w.risk.window_end == ANCHOR + WEEKS * WEEK}
        order = tuple(sorted(latest, key=lambda b: (-latest[b].risk.at_risk_share, b)))
        trends = {b: _trend(w) for b, w in latest.items()}
        top = order[0]
        _record_alerts(store)
        point = next(p for p in latest_points(store, SCORE_VERSION) if p.brand == top)
        at_risk = window_customers(store, point, min_risk=0.5, limit=1000)
        counts: dict[str, int] = {}
        for row in at_risk:
            for key in row.drivers:
                counts[key] = counts.get(key, 0) + has_theme(row.drivers, key)
        themes = [k for k, n in counts.items()
                  if 0 < n < len(at_risk) and k not in ("churn_intent", "unthemed")]
        # Closest to half, so the filter visibly removes customers and keeps some.
        theme = min(themes, key=lambda k: (abs(counts[k] - len(at_risk) / 2), k))
    finally:
        store.close()
    return DashboardFixture(
        db_path=db_path, brands_by_share=order, trends=trends,
        authors=tuple(sorted({p.author_id for p in posts if p.author_id})), top_brand=top,
        filter_theme=theme, posts_with_url=sum(p.url is not None for p in posts),
        posts_without_url=sum(p.url is None for p in posts))


def _trend(window) -> str:
    if window.trend_significant is None:
        return "new"
    if not window.trend_significant:
        return "flat"
    return "up" if window.risk.trend > 0 else "down"


def _record_alerts(store) -> int:
    """The monitor's own alert rules over the fixture history, recorded with deliveries
    (the webhook at once, the e-mail after two failures), as ``radar monitor`` would."""
    history = {p.brand: brand_history(store, p.brand, SCORE_VERSION)
               for p in latest_points(store, SCORE_VERSION)}
    alerts = find_alerts(history, lambda point: window_customers(store, point, limit=50))
    for alert in alerts:
        at = alert.window_end + timedelta(hours=6)
        record_alert(store, alert.key, alert.brand, alert.window_end, alert.kind,
                     alert.to_payload(), at)
        record_delivery(store, alert.key, "webhook", 1, "sent", None, at)
        record_delivery(store, alert.key, "email", 3, "sent", None, at)
    return len(alerts)


# --- a real server ---------------------------------------------------------------------------


@contextmanager
def running_server(app: Any, timeout_s: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a background thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()


# --- the browser -----------------------------------------------------------------------------


def browser_missing() -> str | None:
    """Why headless Chromium cannot run here (with the install command), or None."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        return f"{' and '.join(missing)} not found; install them: {INSTALL_BROWSER}"
    return None


def chrome(size: tuple[int, int] = WINDOW_SIZE):
    """Headless Debian Chromium driven through its own chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     f"--window-size={size[0]},{size[1]}", "--hide-scrollbars",
                     "--force-device-scale-factor=1"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _customers(driver) -> list[tuple[str, tuple[str, ...]]]:
    from selenium.webdriver.common.by import By

    return [(el.find_element(By.CSS_SELECTOR, ".pseudonym").text,
             tuple(el.get_attribute("data-drivers").split()))
            for el in driver.find_elements(By.CSS_SELECTOR, "li.customer")]


def _wait_for_brand_page(driver, wait) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    for chart in ("risk-chart", "driver-chart"):
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#{chart} .main-svg")))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.customer li.post")))


def _screenshot(driver, path: Path, max_height: int | None) -> Path:
    """The viewport; with ``max_height``, the page up to that height (the window grows for
    one picture, then returns to its size)."""
    if max_height is None:
        driver.save_screenshot(str(path))
        return path
    size = driver.get_window_size()
    # The window is taller than the page's viewport by the browser's own bars.
    height, bars = driver.execute_script(
        "return [document.body.scrollHeight, window.outerHeight - window.innerHeight]")
    driver.set_window_size(size["width"], min(int(height) + 8, max_height) + int(bars))
    time.sleep(0.5)  # let plotly's responsive charts redraw at the new size
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    return path


def walk_dashboard(driver, base_url: str, theme: str, out_dir: Path,
                   max_height: int | None = None, timeout_s: float = 15.0) -> dict[str, Any]:
    """Overview, then the first brand's page, then that page filtered by ``theme``; a
    screenshot of each (the viewport, or the page up to ``max_height`` pixels). Returns
    what was seen, for the caller to check."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    out_dir.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(driver, timeout_s)
    seen: dict[str, Any] = {"screenshots": {}}

    driver.get(base_url + "/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "tr.brand-row")))
    rows = driver.find_elements(By.CSS_SELECTOR, "tr.brand-row")
    seen["overview_brands"] = [row.get_attribute("data-brand") for row in rows]
    seen["overview_arrows"] = [row.find_element(By.CSS_SELECTOR, ".arrow").text for row in rows]
    seen["screenshots"]["overview"] = _screenshot(driver, out_dir / "overview.png", max_height)

    rows[0].find_element(By.CSS_SELECTOR, "td.brand a").click()
    _wait_for_brand_page(driver, wait)
    seen["brand_title"] = driver.find_element(By.CSS_SELECTOR, "#summary h1").text
    seen["brand_customers"] = _customers(driver)
    seen["brand_posts"] = len(driver.find_elements(By.CSS_SELECTOR, "li.post"))
    seen["raw_links"] = len(driver.find_elements(By.CSS_SELECTOR, "li.post a.raw"))
    seen["screenshots"]["brand"] = _screenshot(driver, out_dir / "brand.png", max_height)

    select = driver.find_element(By.ID, "theme-select")
    Select(select).select_by_value(theme)  # the page reloads with ?theme=
    wait.until(ec.staleness_of(select))
    _wait_for_brand_page(driver, wait)
    seen["filtered_url"] = driver.current_url
    seen["filtered_customers"] = _customers(driver)
    seen["select_value"] = Select(driver.find_element(By.ID, "theme-select")) \
        .first_selected_option.get_attribute("value")
    if max_height is None:  # the filtered list, not the charts above it, is what changed
        driver.execute_script("document.getElementById('customers').scrollIntoView();")
    seen["screenshots"]["brand-filtered"] = _screenshot(
        driver, out_dir / "brand-filtered.png", max_height)
    return seen


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header.

    Raises:
        ValueError: the file is not a PNG.
    """
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])
