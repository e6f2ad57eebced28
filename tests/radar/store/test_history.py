"""The records the risk history hands out: ``window_customers``, ``alert_payloads`` and
``undelivered_alerts`` return frozen dataclasses, field by field as tested here."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from nlp.risk import SCORE_VERSION, RiskConfig, RiskPost, score_brands
from nlp.types import Post
from radar.store import history, open_store

ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)
BRAND = "Acme"


@pytest.fixture
def store(store_db):
    """A store on each backend: a SQLite file, then a PostgreSQL database."""
    opened = open_store(store_db)
    yield opened
    opened.close()


def _at(hours: int) -> datetime:
    return ANCHOR + timedelta(hours=hours)


def _point(store) -> history.HistoryPoint:
    """One week of three customers: ann (billing and churn, two stored posts and one that
    is not in the store), cat (waiting) and bob (happy)."""
    rows = [  # post id, author, hour, stored text (None: not stored), url, themes, churn
        ("1", "ann", 1, "@acme billed me twice", "https://social.example/p/1", {"billing": 0.9},
         0.8),
        ("2", "ann", 2, "cancelling @acme", None, {"billing": 0.9}, 0.9),
        ("3", "ann", 3, None, None, {"billing": 0.9}, 0.1),
        ("4", "cat", 4, "two hours on hold", "https://social.example/p/4", {"waiting": 0.9},
         0.05),
        ("5", "bob", 5, "thanks, sorted", None, {}, 0.02),
    ]
    risk_posts = [RiskPost(post_id=history.post_key("social", pid), brand=BRAND, author_id=author,
                           created_at=_at(hour), p_complaint=0.9 if themes else 0.04,
                           p_positive=0.02 if themes else 0.9, themes=themes,
                           churn_intent=churn)
                  for pid, author, hour, _, _, themes, churn in rows]
    store.save_posts([Post(source="social", post_id=pid, text=text, brand=BRAND,
                           author_id=author, created_at=_at(hour), url=url)
                      for pid, author, hour, text, url, _, _ in rows if text is not None])
    windows, _ = score_brands(risk_posts, RiskConfig(), window=WEEK, anchor=ANCHOR)
    history.save_brand_windows(store, windows, "model@1", ANCHOR + WEEK)
    [point] = history.brand_history(store, BRAND, SCORE_VERSION)
    return point


def test_window_customers_are_frozen_records_with_their_stored_posts(store):
    assert [f.name for f in dataclasses.fields(history.WindowCustomer)] == [
        "customer", "risk", "drivers", "posts"]
    assert [f.name for f in dataclasses.fields(history.StoredPost)] == [
        "source", "post_id", "text", "url", "created_at"]

    rows = history.window_customers(store, _point(store))

    assert all(isinstance(r, history.WindowCustomer) for r in rows)
    assert [r.customer for r in rows] == ["@ann", "@cat", "@bob"]  # riskiest first
    assert rows[0].risk > rows[1].risk > rows[2].risk
    ann = rows[0]
    # Biggest share of the risk first (post 2 says she leaves); the post that is not in
    # the store is left out; times come back as UTC datetimes.
    assert ann.posts == (
        history.StoredPost(source="social", post_id="2", text="cancelling @acme", url=None,
                           created_at=_at(2)),
        history.StoredPost(source="social", post_id="1", text="@acme billed me twice",
                           url="https://social.example/p/1", created_at=_at(1)))
    shares = list(ann.drivers.values())
    assert shares == sorted(shares, reverse=True) and {"billing", "churn_intent"} <= set(
        ann.drivers)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ann.risk = 0.0  # type: ignore[misc]


def test_window_customers_filter_by_risk_and_theme_and_stop_at_the_limit(store):
    point = _point(store)
    everyone = history.window_customers(store, point)

    assert history.window_customers(store, point, limit=2) == everyone[:2]
    assert history.window_customers(store, point, min_risk=everyone[1].risk) == everyone[:2]
    waiting = history.window_customers(store, point, theme="waiting")
    assert [r.customer for r in waiting] == ["@cat"]
    assert history.has_theme(waiting[0].drivers, "waiting")


def _record(store, key: str, window_end: datetime, recorded: datetime, brand: str = BRAND
            ) -> dict:
    payload = {"key": key, "kind": "risk_rise", "brand": brand, "change": 0.1,
               "examples": [{"text": "on hold", "url": None, "created_at": None,
                             "source": "social"}]}
    assert history.record_alert(store, key, brand, window_end, "risk_rise", payload, recorded)
    return payload


def test_alert_payloads_are_stored_alerts_newest_window_first_with_their_deliveries(store):
    assert [f.name for f in dataclasses.fields(history.StoredAlert)] == [
        "alert_key", "brand", "window_end", "kind", "payload", "deliveries"]
    assert [f.name for f in dataclasses.fields(history.AlertDelivery)] == [
        "channel", "attempts", "status", "last_error"]
    older = _record(store, "a|1", ANCHOR, _at(1))
    newer = _record(store, "a|2", ANCHOR + WEEK, _at(2))
    _record(store, "b|2", ANCHOR + WEEK, _at(2), brand="Other")
    history.record_delivery(store, "a|2", "webhook", 1, "sent", None, _at(3))
    history.record_delivery(store, "a|2", "email", 2, "failed", "SMTP said no", _at(3))

    recorded = history.alert_payloads(store, BRAND)

    assert recorded == [
        history.StoredAlert(
            alert_key="a|2", brand=BRAND, window_end=ANCHOR + WEEK, kind="risk_rise",
            payload=newer, deliveries=(
                history.AlertDelivery(channel="email", attempts=2, status="failed",
                                      last_error="SMTP said no"),
                history.AlertDelivery(channel="webhook", attempts=1, status="sent",
                                      last_error=None))),
        history.StoredAlert(alert_key="a|1", brand=BRAND, window_end=ANCHOR, kind="risk_rise",
                            payload=older, deliveries=())]
    assert [a.alert_key for a in history.alert_payloads(store)] == ["a|2", "b|2", "a|1"]


def test_undelivered_alerts_are_those_some_channel_has_not_sent_oldest_first(store):
    _record(store, "old", ANCHOR, _at(1))
    _record(store, "sent", ANCHOR, _at(2))
    _record(store, "half", ANCHOR + WEEK, _at(3))
    _record(store, "failed", ANCHOR, _at(4))
    for channel in ("webhook", "email"):
        history.record_delivery(store, "sent", channel, 1, "sent", None, _at(5))
    history.record_delivery(store, "half", "webhook", 1, "sent", None, _at(5))
    history.record_delivery(store, "failed", "webhook", 4, "failed", "HTTP 503", _at(5))

    pending = history.undelivered_alerts(store, ["webhook", "email"], since=_at(2))

    assert [a.alert_key for a in pending] == ["half", "failed"]
    assert all(isinstance(a, history.StoredAlert) for a in pending)
    assert pending[0].payload["key"] == "half"
    webhook_only = history.undelivered_alerts(store, ["webhook"], _at(2))
    assert [a.alert_key for a in webhook_only] == ["failed"]
    assert history.undelivered_alerts(store, [], _at(0)) == []
