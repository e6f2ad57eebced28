"""Private data never reaches a page visitor, an alert recipient or a report reader.

Posts hold e-mail addresses, phone numbers and payment-card numbers; one post has no author
and came from a file on the server. The brand page (HTML, its CSV and JSON), the alert
e-mail, the Slack message, the webhook payload and ``radar report --brand`` show none of
them, and no server path (the store's or the file's). What is not private (dates, times,
prices, flight numbers, years) is still shown as written.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from nlp.risk import SCORE_VERSION, RiskConfig, RiskPost, score_brands
from nlp.types import Post, Prediction
from radar.cli import app
from radar.monitor.alerts import Alert, alert_key, pick_examples
from radar.monitor.notify import WebhookChannel
from radar.store import open_store
from radar.store.history import (
    latest_points,
    post_key,
    record_alert,
    save_brand_windows,
    window_customers,
)

BRAND = "Acme"
ANCHOR = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
MODEL = "fake-1"
FILE_SOURCE = "file:/srv/private/exports/acme-dump.csv"  # what `radar import` stores
SERVER_PATH = "/srv/private"

# Each private value, and fragments of it that must not survive either (a masked area
# code with the number left is no mask).
PRIVATE = {
    "jane.doe+radar@example.com": ["jane.doe", "radar@example.com"],
    "j_smith@mail.example.co.uk": ["j_smith", "mail.example.co.uk"],
    "+44 20 7946 0958": ["7946 0958", "7946"],
    "(555) 123-4567": ["123-4567"],
    "555-987-6543": ["987-6543"],
    "07700 900123": ["900123"],
    "+1-202-555-0199": ["555-0199"],
    "4111 1111 1111 1111": ["1111 1111", "4111"],
    "5500-0000-0000-0004": ["0000-0004", "5500"],
    "378282246310005": ["378282246310005", "246310005"],
}
# Not private: shown as written.
KEPT = ("UA1234", "2015-02-24", "10:30", "$40", "3 hours", "2 of 5", "12.5%", "since 2019",
        "order #123456789")
# (author, text): every private value in some post; author None for the file's row.
POSTS = [
    ("maria_k", "@acme I'm done, cancelling. Email me at jane.doe+radar@example.com or call "
                "+44 20 7946 0958 https://t.co/abc"),
    ("tom_b", "@acme charged my card 4111 1111 1111 1111 twice! Ring me on (555) 123-4567, "
              "switching provider"),
    ("aisha", "@acme refund to 5500-0000-0000-0004 never came, text 07700 900123 or "
              "j_smith@mail.example.co.uk. Leaving."),
    ("lukas", "@acme flight UA1234 on 2015-02-24 at 10:30 cost $40 and waited 3 hours, rated "
              "2 of 5, a 12.5% fee, customer since 2019, order #123456789. I quit."),
    (None, "Terrible service, leaving Acme. Call 555-987-6543 or +1-202-555-0199, card "
           "378282246310005"),
]

runner = CliRunner()


def _assert_private_free(text: str, where: str, extra: tuple[str, ...] = ()) -> None:
    shown = html.unescape(text)
    for value, fragments in PRIVATE.items():
        for piece in (value, *fragments):
            assert piece not in shown, f"{where} shows {piece!r} (of {value!r})"
    for piece in (SERVER_PATH, "acme-dump.csv\t", "post:", *extra):
        assert piece not in shown, f"{where} shows {piece!r}"


# --- the masking function -------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("mail me: jane.doe+radar@example.com!", "mail me: [email]!"),
    ("x-@example.com and bob@mail.example.co.uk", "[email] and [email]"),
    ("call +44 20 7946 0958 now", "call [phone] now"),
    ("call (555) 123-4567", "call [phone]"),
    ("call 555-123-4567.", "call [phone]."),
    ("call 555.123.4567", "call [phone]"),
    ("ring 07700 900123", "ring [phone]"),
    ("ring +1-202-555-0199", "ring [phone]"),
    ("+33 6 12 34 56 78", "[phone]"),
    ("+4915112345678", "[phone]"),
    ("tel:+15551234567", "tel:[phone]"),
    ("my number 5551234567", "my number [phone]"),
    ("+44 (0)20 7946 0958", "[phone]"),
    ("card 4111 1111 1111 1111 exp 12/25", "card [card] exp 12/25"),
    ("card 4111-1111-1111-1111", "card [card]"),
    ("mistyped 4111 1111 1111 1112", "mistyped [card]"),  # grouped as a card: a card
    ("on 2015-02-24 555-123-4567", "on 2015-02-24 [phone]"),
    ("555-123-4567 555-987-6543", "[phone] [phone]"),
    ("+44 20 7946 0958 2015", "[phone] 2015"),
    ("card 4111111111111111", "card [card]"),
    ("amex 3782 822463 10005", "amex [card]"),
    ("amex 378282246310005", "amex [card]"),
    ("@acme see https://t.co/x", "@user see http"),
    ("@jane@mastodon.social hi", "@user hi"),
    ("a &amp; b &lt;3", "a & b <3"),
])
def test_mask_for_display_masks_private_data(raw, expected):
    from nlp.text import mask_for_display

    assert mask_for_display(raw) == expected


@pytest.mark.parametrize("kept", [
    "2015-02-24", "on 2015-02-24 10:30 UTC", "2015-02-24T10:30:00Z", "24.02.2015", "10:30",
    "$40", "$1,299.99", "€ 1.299,00", "3 hours", "UA1234", "flight UA 1234", "2 of 5",
    "12.5%", "2019", "from 2019 2020", "order #123456789", "order 123456789",
    "ref 1234567890123456", "1,000,000 customers", "10-15 minutes", "v2.3.1", "1/2/2024",
    "between 9 and 5", "3 times in 24 hours", "prices 20.75 30.25", "1 2 3 4 5 6 7 8 9",
    "order 113-1234567-1234567", "10.000.000 euros", "2019-2020 season", "192.168.1.1",
    "2015-02-24 3 hours late", "Feb 24 2015 10 hours", "on 24.02.2015 12 hours late",
])
def test_mask_for_display_keeps_what_is_not_private(kept):
    from nlp.text import mask_for_display

    assert mask_for_display(kept) == kept


@pytest.mark.parametrize("hostile", ["1 " * 20000, "11 " * 20000, "1-1 " * 10000 + "x",
                                     "+" + " 1" * 20000, "a." * 20000 + "@b", "a@" * 20000])
def test_mask_for_display_reads_long_hostile_text_in_linear_time(hostile):
    import time

    from nlp.text import mask_for_display

    started = time.perf_counter()
    mask_for_display(hostile)
    assert time.perf_counter() - started < 1.0  # about 0.1 s here; quadratic would be minutes


def test_mask_for_display_leaves_normalize_text_alone():
    """The model's text is unchanged: masking for display is its own function."""
    from nlp.text import normalize_text

    raw = "mail jane@example.com, call 555-123-4567, card 4111 1111 1111 1111 @acme"
    assert normalize_text(raw) == raw.replace("@acme", "@user")


# --- a store with private posts ---------------------------------------------------------------


@pytest.fixture
def private_store(tmp_path):
    """The posts above in a store: one window of risk (the monitor's way), their
    predictions (for `radar report --db`), and an alert with examples, recorded."""
    posts, risk_posts, predictions = [], [], []
    for i, (author, text) in enumerate(POSTS):
        source, post_id = (FILE_SOURCE, f"p{31 + i}") if author is None else ("social", f"{i}")
        created = ANCHOR + timedelta(days=1, hours=i)
        posts.append(Post(source=source, post_id=post_id, text=text, brand=BRAND,
                          author_id=author, created_at=created,
                          url=None if author is None else f"https://social.example/p/{i}"))
        risk_posts.append(RiskPost(post_id=post_key(source, post_id), brand=BRAND,
                                   author_id=author, created_at=created, p_complaint=0.95,
                                   p_positive=0.01, themes={"billing": 0.9}, churn_intent=0.9,
                                   text=text))
        predictions.append(Prediction(source, post_id, "negative",
                                      {"negative": 0.9, "neutral": 0.05, "positive": 0.05},
                                      0.95, {"billing": 0.9}, 0.9, MODEL))
    windows, _ = score_brands(risk_posts, RiskConfig(), window=WEEK, anchor=ANCHOR)
    db_path = tmp_path / "radar.db"
    store = open_store(db_path)
    try:
        store.save_posts(posts)
        store.save_predictions(predictions)
        save_brand_windows(store, windows, MODEL, ANCHOR + WEEK + timedelta(hours=1))
        [point] = latest_points(store, SCORE_VERSION)
        customers = window_customers(store, point, 0.0, None, 50)
        assert any(c.customer.startswith("post:") for c in customers)  # the file's post
        alert = Alert(
            key=alert_key(BRAND, point.window_end, "risk_rise"), kind="risk_rise", brand=BRAND,
            window_start=point.window_start, window_end=point.window_end,
            previous_window_end=point.window_start, share=point.at_risk_share,
            previous_share=0.1, change=point.at_risk_share - 0.1, change_low=0.05,
            change_high=0.5, theme=None, top_driver=("billing", 0.9),
            customers=point.customers, examples=pick_examples(customers, 5),
            model_version=MODEL, score_version=SCORE_VERSION)
        record_alert(store, alert.key, BRAND, alert.window_end, alert.kind,
                     alert.to_payload(), point.computed_at)
    finally:
        store.close()
    return db_path, alert


# --- what a page visitor sees -------------------------------------------------------------------


@pytest.fixture
def client(private_store, tmp_path, monkeypatch):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from serve import ServeSettings, create_app

    db_path, _ = private_store
    monkeypatch.setenv("RADAR_PSEUDONYM_KEY", "privacy-test-key")
    settings = ServeSettings(model_dir=tmp_path / "no-model", db_path=db_path)
    with TestClient(create_app(settings)) as c:
        yield c, db_path


def test_the_brand_page_shows_no_private_data_and_no_server_path(client):
    c, db_path = client
    page = c.get(f"/brands/{BRAND}")
    assert page.status_code == 200
    _assert_private_free(page.text, "brand page", (str(db_path), str(db_path.parent)))
    shown = html.unescape(page.text)
    assert shown.count('class="customer"') == len(POSTS)  # every customer is listed
    assert "[email]" in shown and "[phone]" in shown and "[card]" in shown
    for kept in KEPT:
        assert kept in shown, kept
    assert "file:acme-dump.csv" in shown  # where the post came from, without the path


def test_the_overview_and_messages_show_no_server_path(client):
    c, db_path = client
    for path in ("/", "/brands/Nonesuch"):
        response = c.get(path)
        _assert_private_free(response.text, path, (str(db_path), str(db_path.parent)))


def test_a_missing_store_is_said_without_its_path(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from serve import ServeSettings, create_app

    db_path = tmp_path / "secret-place" / "radar.db"
    settings = ServeSettings(model_dir=tmp_path / "no-model", db_path=db_path)
    with TestClient(create_app(settings)) as c:
        for path in ("/", f"/brands/{BRAND}", "/v1/brands"):
            response = c.get(path)
            assert "no store" in response.text, path
            assert "secret-place" not in response.text, path


def test_the_brand_exports_show_no_private_data(client):
    c, db_path = client
    exports = {"customers.csv": c.get(f"/brands/{BRAND}/customers.csv"),
               "history JSON": c.get(f"/v1/brands/{BRAND}/history")}
    for where, response in exports.items():
        assert response.status_code == 200, where
        _assert_private_free(response.text, where, (str(db_path),))
        assert "[email]" in response.text, where
    customers = exports["history JSON"].json()["customers"]
    assert len(customers) == len(POSTS)
    assert all(re.fullmatch(r"(c|anon)_[0-9a-f]{12}", c["customer"]) for c in customers)


# --- what an alert recipient sees ---------------------------------------------------------------


def test_the_alert_email_slack_and_webhook_show_no_private_data(private_store):
    _, alert = private_store
    assert len(alert.examples) == len(POSTS)
    sent: list[bytes] = []

    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, text="ok")

    WebhookChannel("https://hooks.example/T0/B0/x",
                   transport=httpx.MockTransport(receive)).send(alert)
    email = alert.email_message("radar@example.org", ["cx@example.org"]).as_string()
    outputs = {"e-mail": alert.email_text(), "e-mail message": email,
               "slack": json.dumps(alert.slack_payload()), "payload": json.dumps(
                   alert.to_payload()), "webhook body": sent[0].decode("utf-8")}
    for where, text in outputs.items():
        _assert_private_free(text, where)
    assert "[card]" in alert.email_text() and "file:acme-dump.csv" in alert.email_text()


def test_a_recorded_alert_of_an_older_monitor_is_masked_when_sent_again():
    """Examples recorded before masking existed are masked on the way out."""
    from tests.radar.monitor.test_alerts import sample_alert

    raw = sample_alert(examples=({"text": "call me 555-987-6543", "source": FILE_SOURCE,
                                  "url": "file:///srv/private/x", "created_at": None},))
    again = Alert.from_payload(raw.to_payload())
    for text in (again.email_text(), json.dumps(again.slack_payload())):
        _assert_private_free(text, "alert sent again")


# --- Slack's control characters ------------------------------------------------------------------


def test_slack_text_escapes_the_brand_everywhere():
    from tests.radar.monitor.test_alerts import sample_alert

    brand = "<!channel> A&B <https://evil.example|click>"
    message = sample_alert(brand=brand).slack_payload()
    escaped = "&lt;!channel&gt; A&amp;B &lt;https://evil.example|click&gt;"
    assert message["text"] == f"complaint-radar: {escaped} share of customers at risk up " \
                              "6.2 pts (week ending 2026-11-30)"
    texts = [message["text"], *(b["text"]["text"] for b in message["blocks"] if "text" in b),
             *(e["text"] for b in message["blocks"] for e in b.get("elements", ()))]
    for text in texts:
        assert "<!channel>" not in text and "A&B" not in text
    assert message["radar"]["brand"] == brand  # the machine-readable copy stays exact


def test_slack_links_cannot_be_broken_out_of():
    from tests.radar.monitor.test_alerts import sample_alert

    message = sample_alert(examples=({"text": "x", "source": "s|<b>", "created_at": None,
                                      "url": "https://a.example/<x>|y z&q=1"},)).slack_payload()
    line = message["blocks"][1]["text"]["text"].splitlines()[1]
    link = line[line.index("<"):]
    assert link == "<https://a.example/%3Cx%3E%7Cy%20z&amp;q=1|s|&lt;b&gt;>"


# --- what a report reader sees --------------------------------------------------------------------


def test_radar_report_brand_shows_no_private_data(private_store):
    db_path, _ = private_store
    result = runner.invoke(app, ["report", "--db", str(db_path), "--brand", BRAND,
                                 "--min-risk", "0"], env={"COLUMNS": "500"})
    assert result.exit_code == 0, result.output
    table = result.output[result.output.index("customers at risk"):]
    # Wide enough that no post is wrapped (a value split over two lines would hide).
    assert all(len(line) < 500 for line in table.splitlines())
    _assert_private_free(table, "radar report --brand")
    assert len(re.findall(r"\banon_[0-9a-f]{12}\b", table)) == 1
    assert len(re.findall(r"\bc_[0-9a-f]{12}\b", table)) == len(POSTS) - 1
    assert "[phone]" in table and "[card]" in table


def test_pseudonyms_hide_authorless_post_ids():
    from nlp.report import Pseudonymizer

    name = Pseudonymizer("k")
    key = f"post:{FILE_SOURCE}\tp31"
    assert re.fullmatch(r"anon_[0-9a-f]{12}", name(key))
    assert name(key) == name(key) != name(f"post:{FILE_SOURCE}\tp32")
