"""Tests of the alert rules and messages (radar/monitor/alerts.py).

End to end over real scoring: synthetic customers -> ``score_brands`` -> the store's
history -> ``find_alerts`` with examples from ``window_customers``. An injected rise
fires exactly one ``risk_rise`` with the scored numbers; flat series with noise fire
nothing; a theme that grows fires a ``theme_jump`` whose examples come from customers
with that theme. Hand-built points pin the edges (gaps, few customers, decreases,
thresholds), and the payloads are checked for shape, wording and privacy.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from nlp.risk import SCORE_VERSION, RiskConfig, RiskPost, score_brands
from nlp.types import Post
from radar.monitor.alerts import (
    Alert,
    AlertRules,
    alert_key,
    find_alerts,
    pick_examples,
    top_driver,
)
from radar.store import open_store
from radar.store.history import (
    HistoryPoint,
    StoredPost,
    WindowCustomer,
    brand_history,
    post_key,
    save_brand_windows,
    window_customers,
)

ANCHOR = datetime(2026, 12, 1, tzinfo=UTC)  # the latest window is the week ending 2026-11-30
WEEK = timedelta(days=7)
BRAND = "AcmeTelco"
MODEL = "demo-model@1"
# Strong themes, so a customer's risk is p_complaint * RISK_PER_COMPLAINT (no churn term):
# 1 - (1 - 0.15) * (1 - 0.40) * (1 - 0.35) * (1 - 0.25), the weights of risk.v1.
RISE_THEMES = {"unresolved": 1.0, "not_known": 1.0, "billing": 1.0}
RISK_PER_COMPLAINT = 1 - 0.85 * 0.60 * 0.65 * 0.75


# --- synthetic data through the real scoring --------------------------------------------------


@dataclass(frozen=True)
class Synthetic:
    """What a test wrote to the store, and the p_complaint values it drew, per week."""

    history: dict[str, list[HistoryPoint]]
    complaints: dict[int, list[float]]
    authors: list[str]


def synthetic_posts(rng: random.Random, week: int, n: int, complaint_mean: float,
                    themes: dict[str, float] | None = None, tag: str = "",
                    spread: float = 0.08, text: str = "still no fix for my line") -> tuple[
                        list[Post], list[RiskPost], list[float]]:
    """``n`` customers with one post each in week ``week`` before the anchor (1 = latest).

    Each author is named in their own post (as a handle) next to a link, so masking is
    tested on every example.
    """
    start = ANCHOR - week * WEEK
    posts, risk_posts, drawn = [], [], []
    for i in range(n):
        author = f"cust_{tag}w{week}_{i:03d}"
        p_complaint = min(1.0, max(0.0, rng.gauss(complaint_mean, spread)))
        created = start + timedelta(hours=rng.uniform(1, 160))
        post_id = f"{tag}w{week}-{i}"
        body = f"@{BRAND} {text} #{i}, I am @{author} https://t.co/{post_id}"
        posts.append(Post(source="mastodon", post_id=post_id, text=body, brand=BRAND,
                          author_id=author, created_at=created,
                          url=f"https://social.example/posts/{post_id}"))
        risk_posts.append(RiskPost(post_id=post_key("mastodon", post_id), brand=BRAND,
                                   author_id=author, created_at=created,
                                   p_complaint=p_complaint, p_positive=0.0,
                                   themes=dict(themes or RISE_THEMES), churn_intent=0.0,
                                   text=body))
        drawn.append(p_complaint)
    return posts, risk_posts, drawn


def store_weeks(store, weeks: dict[int, list[tuple[list[Post], list[RiskPost], list[float]]]]
                ) -> Synthetic:
    """Score the weeks' posts as the monitor does and read the history back."""
    posts, risk_posts, complaints, authors = [], [], {}, []
    for week, groups in weeks.items():
        for group_posts, group_risk, drawn in groups:
            posts += group_posts
            risk_posts += group_risk
            complaints.setdefault(week, []).extend(drawn)
            authors += [p.author_id for p in group_posts]
    # The synthetic weeks are whole (as a store collecting all along would have them).
    windows, _ = score_brands(risk_posts, RiskConfig(), window=WEEK, anchor=ANCHOR,
                              coverage=(ANCHOR - 52 * WEEK, ANCHOR + 52 * WEEK))
    store.save_posts(posts)
    save_brand_windows(store, windows, MODEL, ANCHOR + timedelta(hours=1))
    return Synthetic({BRAND: brand_history(store, BRAND, SCORE_VERSION)}, complaints, authors)


def rising_history(store, seed: int = 0, n: int = 60, low: float = 0.20,
                   high: float = 0.45) -> Synthetic:
    """An injected rise of the mean risk from ``low`` to ``high``, same themes (so no
    theme moves)."""
    rng = random.Random(seed)
    return store_weeks(store, {
        2: [synthetic_posts(rng, 2, n, low / RISK_PER_COMPLAINT)],
        1: [synthetic_posts(rng, 1, n, high / RISK_PER_COMPLAINT)]})


def customers_of(store):
    """The examples callable the monitor passes: riskiest customers first."""
    return lambda point: window_customers(store, point, limit=50)


@pytest.fixture
def store(store_db):
    """The post store, once per backend (a SQLite file, a PostgreSQL database)."""
    with_store = open_store(store_db)
    yield with_store
    with_store.db.close()


# --- end to end -------------------------------------------------------------------------------


def test_injected_rise_fires_exactly_one_risk_rise_with_the_scored_numbers(store):
    data = rising_history(store)
    before, now = data.history[BRAND]

    alerts = find_alerts(data.history, customers_of(store), AlertRules())

    assert [a.kind for a in alerts] == ["risk_rise"]
    alert = alerts[0]
    # The shares are the means of the risks drawn, independently of the scorer.
    expected_before = sum(data.complaints[2]) / 60 * RISK_PER_COMPLAINT
    expected_now = sum(data.complaints[1]) / 60 * RISK_PER_COMPLAINT
    assert alert.previous_share == pytest.approx(expected_before, abs=1e-9)
    assert alert.share == pytest.approx(expected_now, abs=1e-9)
    assert alert.change == pytest.approx(expected_now - expected_before, abs=1e-9)
    assert 0.15 < alert.change < 0.35
    assert (alert.change_low, alert.change_high) == (now.trend_low, now.trend_high)
    assert 0 < alert.change_low < alert.change < alert.change_high
    assert alert.key == f"{BRAND}|2026-12-01T00:00:00Z|risk_rise|"
    assert (alert.window_start, alert.window_end) == (now.window_start, now.window_end)
    assert alert.previous_window_end == before.window_end == now.window_start
    assert (alert.customers, alert.previous_customers) == (60, 60)
    assert (alert.model_version, alert.score_version) == (MODEL, SCORE_VERSION)
    assert alert.top_driver == ("unresolved", pytest.approx(now.drivers["unresolved"]))
    assert alert.theme is None
    # Three examples from the three riskiest customers, masked, in that order.
    riskiest = window_customers(store, now, limit=3)
    assert [e["url"] for e in alert.examples] == [c.posts[0].url for c in riskiest]
    for example in alert.examples:
        assert set(example) == {"text", "url", "created_at", "source"}
        assert example["text"].startswith("@user still no fix") and "http" in example["text"]
        assert example["source"] == "mastodon" and example["created_at"].endswith("Z")
    assert "week ending 2026-11-30" in alert.headline
    _assert_no_author_ids(alert, data.authors)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_flat_series_with_noise_fires_nothing(store, seed):
    rng = random.Random(seed)
    mean = 0.3 / RISK_PER_COMPLAINT
    data = store_weeks(store, {2: [synthetic_posts(rng, 2, 60, mean, spread=0.15)],
                               1: [synthetic_posts(rng, 1, 60, mean, spread=0.15)]})
    before, now = data.history[BRAND]
    assert now.trend != 0 and now.previous_share == pytest.approx(before.at_risk_share)

    assert find_alerts(data.history, customers_of(store), AlertRules()) == []


def test_a_growing_theme_fires_a_theme_jump_with_examples_of_that_theme(store):
    rng = random.Random(11)
    data = store_weeks(store, {
        2: [synthetic_posts(rng, 2, 60, 0.8, {"billing": 1.0}, text="charged twice")],
        # Riskier billing customers rank first; the waiting ones are new and less risky.
        1: [synthetic_posts(rng, 1, 30, 0.9, {"billing": 1.0}, tag="b", text="charged twice"),
            synthetic_posts(rng, 1, 30, 0.6, {"waiting": 1.0}, tag="w",
                            text="on hold for two hours")]})
    before, now = data.history[BRAND]
    assert "waiting" not in before.drivers and now.drivers["waiting"] > 0.15

    alerts = find_alerts(data.history, customers_of(store), AlertRules())

    assert [(a.kind, a.theme) for a in alerts] == [("theme_jump", "waiting")]
    alert = alerts[0]
    assert alert.share == pytest.approx(now.drivers["waiting"])
    assert alert.previous_share == 0.0
    assert alert.change == pytest.approx(now.drivers["waiting"])
    assert alert.change_low is None and alert.change_high is None
    assert alert.key == f"{BRAND}|2026-12-01T00:00:00Z|theme_jump|waiting"
    assert alert.top_driver[0] == "billing"  # the biggest driver is still billing
    # The riskiest customers complain about billing; the examples show the new theme.
    assert window_customers(store, now, limit=1)[0].drivers.get("waiting") is None
    assert len(alert.examples) == 3
    assert all("on hold for two hours" in e["text"] for e in alert.examples)
    assert "'waiting' share of risk up" in alert.headline
    _assert_no_author_ids(alert, data.authors)


def test_too_few_customers_fire_nothing_even_for_a_real_rise(store):
    # Few customers need a steep rise to clear the noise (the interval is wide).
    data = rising_history(store, n=15, low=0.1, high=0.7)
    assert data.history[BRAND][1].trend_significant is True

    assert find_alerts(data.history, customers_of(store), AlertRules()) == []
    # The same data fires once the bar is lowered: the rule, not the data, held it back.
    assert len(find_alerts(data.history, customers_of(store),
                           AlertRules(min_customers=15))) == 1


def test_a_completed_week_is_checked_when_the_next_has_begun(store):
    """The cycle that brings a week's rise may also bring the next week's first posts:
    the completed week still alerts, and only that one."""
    rng = random.Random(3)
    low, high = 0.2 / RISK_PER_COMPLAINT, 0.45 / RISK_PER_COMPLAINT
    data = store_weeks(store, {3: [synthetic_posts(rng, 3, 60, low)],
                               2: [synthetic_posts(rng, 2, 60, high)],
                               1: [synthetic_posts(rng, 1, 60, high)]})
    assert data.history[BRAND][1].trend_significant is True

    (alert,) = find_alerts(data.history, customers_of(store), AlertRules())
    assert alert.kind == "risk_rise" and alert.window_end == data.history[BRAND][1].window_end


def test_a_rise_three_windows_back_is_not_announced(store):
    rng = random.Random(3)
    low, high = 0.2 / RISK_PER_COMPLAINT, 0.45 / RISK_PER_COMPLAINT
    data = store_weeks(store, {4: [synthetic_posts(rng, 4, 60, low)],
                               3: [synthetic_posts(rng, 3, 60, high)],
                               2: [synthetic_posts(rng, 2, 60, high)],
                               1: [synthetic_posts(rng, 1, 60, high)]})
    assert data.history[BRAND][1].trend_significant is True

    assert find_alerts(data.history, customers_of(store), AlertRules()) == []


def test_examples_are_asked_for_only_when_something_fires(store):
    rng = random.Random(4)
    mean = 0.3 / RISK_PER_COMPLAINT
    data = store_weeks(store, {2: [synthetic_posts(rng, 2, 60, mean)],
                               1: [synthetic_posts(rng, 1, 60, mean)]})
    calls = []

    find_alerts(data.history, lambda p: calls.append(p) or [], AlertRules())

    assert calls == []


# --- hand-built points: the edges ------------------------------------------------------------


def point(window_end: datetime = ANCHOR, *, customers: int = 60, share: float = 0.3,
          previous_share: float | None = 0.2, trend_low: float | None = 0.05,
          trend_high: float | None = 0.15, significant: bool | None = True,
          drivers: dict[str, float] | None = None, brand: str = BRAND,
          length: timedelta = WEEK) -> HistoryPoint:
    trend = None if previous_share is None else share - previous_share
    return HistoryPoint(
        brand=brand, window_start=window_end - length, window_end=window_end,
        score_version=SCORE_VERSION, model_version=MODEL, customers=customers,
        posts=customers, at_risk_share=share, ci_low=share - 0.05, ci_high=share + 0.05,
        ci_method="bootstrap", expected_at_risk=share * customers,
        previous_share=previous_share, trend=trend, trend_low=trend_low,
        trend_high=trend_high, trend_significant=significant,
        drivers=drivers or {"waiting": 0.5, "unthemed": 0.5}, computed_at=window_end)


def first_point(**kwargs) -> HistoryPoint:
    return point(ANCHOR - WEEK, share=0.2, previous_share=None, trend_low=None, trend_high=None,
                 significant=None, **kwargs)


def no_examples(_point: HistoryPoint) -> list[dict]:
    return []


def kinds(history, rules: AlertRules | None = None) -> list[tuple[str, str | None]]:
    return [(a.kind, a.theme) for a in find_alerts(history, no_examples, rules or AlertRules())]


def test_consecutive_windows_with_a_rise_fire():
    assert kinds({BRAND: [first_point(), point()]}) == [("risk_rise", None)]


def test_points_are_sorted_before_the_latest_pair_is_taken():
    assert kinds({BRAND: [point(), first_point()]}) == [("risk_rise", None)]


def test_non_consecutive_windows_fire_nothing():
    gap = point(ANCHOR - 2 * WEEK, share=0.2, previous_share=None, trend_low=None,
                trend_high=None, significant=None, drivers={"billing": 1.0})
    jump = point(drivers={"waiting": 0.9, "billing": 0.1})

    assert kinds({BRAND: [gap, jump]}) == []


def test_a_single_point_fires_nothing():
    assert kinds({BRAND: [point()]}) == []
    assert kinds({BRAND: []}) == []


@pytest.mark.parametrize("changes", [
    {"significant": False},
    {"significant": None},
    {"trend_low": 0.0},  # the interval touches zero
    {"trend_low": -0.02},
    {"share": 0.1, "trend_low": -0.15, "trend_high": -0.05},  # a real fall is no alert
])
def test_a_rise_within_the_noise_or_a_fall_fires_nothing(changes):
    assert kinds({BRAND: [first_point(), point(**changes)]}) == []


@pytest.mark.parametrize("side", ["before", "now"])
def test_each_window_needs_min_customers(side):
    before = first_point(customers=19 if side == "before" else 60)
    now = point(customers=19 if side == "now" else 60)

    assert kinds({BRAND: [before, now]}) == []
    assert kinds({BRAND: [before, now]}, AlertRules(min_customers=19)) == [("risk_rise", None)]


def test_theme_jump_thresholds_and_unthemed_excluded():
    before = first_point(drivers={"billing": 0.60, "unthemed": 0.30, "waiting": 0.10})
    now = point(significant=False, drivers={
        "billing": 0.05, "unthemed": 0.60, "waiting": 0.25, "churn_intent": 0.10})

    # waiting +0.15 exactly fires; unthemed +0.30 does not (it names no cause);
    # churn_intent +0.10 is below the jump.
    assert kinds({BRAND: [before, now]}) == [("theme_jump", "waiting")]
    assert kinds({BRAND: [before, now]}, AlertRules(theme_jump=0.16)) == []
    assert kinds({BRAND: [before, now]}, AlertRules(theme_jump=0.1)) == [
        ("theme_jump", "waiting"), ("theme_jump", "churn_intent")]
    assert kinds({BRAND: [before, now]},
                 AlertRules(theme_jump=0.1, theme_min_share=0.2)) == [("theme_jump", "waiting")]


def test_a_rise_and_a_jump_together_come_rise_first_and_brands_are_independent():
    before = first_point(drivers={"billing": 1.0})
    now = point(drivers={"billing": 0.5, "ivr_menu": 0.5})
    quiet = [first_point(brand="Zeta"), point(brand="Zeta", significant=False)]

    alerts = find_alerts({"Zeta": quiet, BRAND: [before, now]}, no_examples, AlertRules())

    assert [(a.brand, a.kind, a.theme) for a in alerts] == [
        (BRAND, "risk_rise", None), (BRAND, "theme_jump", "ivr_menu")]
    assert len({a.key for a in alerts}) == 2


def test_pick_examples_one_post_per_customer_first_and_theme_preferred():
    def post(post_id: str, text: str) -> StoredPost:
        return StoredPost(source="x", post_id=post_id, text=text, url=None, created_at=None)

    customers = [
        WindowCustomer(customer="@a", risk=0.9, drivers={"billing": 1.0},
                       posts=(post("1", "a1"), post("2", "a2"))),
        WindowCustomer(customer="@b", risk=0.8, drivers={"waiting": 1.0},
                       posts=(post("3", "b1"), post("4", ""))),
    ]
    assert [e["text"] for e in pick_examples(customers, 3)] == ["a1", "b1", "a2"]
    assert [e["text"] for e in pick_examples(customers, 3, "waiting")] == ["b1", "a1", "a2"]
    assert pick_examples(customers, 0) == ()
    assert pick_examples([], 3) == ()


def test_top_driver_prefers_a_named_driver_over_unthemed():
    assert top_driver({"unthemed": 0.5, "billing": 0.3, "waiting": 0.2}) == ("billing", 0.3)
    assert top_driver({"unthemed": 1.0}) == ("unthemed", 1.0)
    assert top_driver({}) is None


# --- rules config ------------------------------------------------------------------------------


def test_rules_from_dict_defaults_overrides_and_unknown_keys():
    assert AlertRules.from_dict(None) == AlertRules()
    rules = AlertRules.from_dict({"min_customers": 30, "theme_jump": 0.2})
    assert rules.to_dict() == {"min_customers": 30, "theme_jump": 0.2, "theme_min_share": 0.1,
                               "examples": 3}
    assert isinstance(AlertRules.from_dict({"theme_min_share": 0}).theme_min_share, float)
    with pytest.raises(ValueError, match=r"unknown alert rule keys \['min_customer'\]"):
        AlertRules.from_dict({"min_customer": 30})
    with pytest.raises(ValueError, match="must be a mapping"):
        AlertRules.from_dict([("min_customers", 30)])


@pytest.mark.parametrize(("changes", "message"), [
    ({"min_customers": 0}, "min_customers must be >= 1"),
    ({"min_customers": 2.5}, "min_customers must be a whole number"),
    ({"min_customers": True}, "min_customers must be a whole number"),
    ({"theme_jump": 0}, r"theme_jump must be in \(0, 1\]"),
    ({"theme_jump": "0.15"}, "theme_jump must be a number"),
    ({"theme_min_share": 1.5}, r"theme_min_share must be in \[0, 1\]"),
    ({"examples": -1}, "examples must be in"),
])
def test_bad_rules_are_refused_naming_the_value(changes, message):
    with pytest.raises(ValueError, match=message):
        AlertRules(**changes)


# --- payloads ---------------------------------------------------------------------------------


EXAMPLES = (
    {"text": "@user on hold 2h <again> & nobody picks up http", "created_at":
     "2026-11-29T10:00:00Z", "url": "https://social.example/posts/1", "source": "mastodon"},
    {"text": "refund still missing", "created_at": "2026-11-28T09:00:00Z", "url": None,
     "source": "appstore"},
)


def sample_alert(**changes) -> Alert:
    fields = dict(
        key=alert_key(BRAND, ANCHOR, "risk_rise"), kind="risk_rise", brand=BRAND,
        window_start=ANCHOR - WEEK, window_end=ANCHOR, previous_window_end=ANCHOR - WEEK,
        share=0.262, previous_share=0.200, change=0.062, change_low=0.021, change_high=0.103,
        theme=None, top_driver=("waiting", 0.34), customers=120, examples=EXAMPLES,
        model_version=MODEL, score_version=SCORE_VERSION, previous_customers=110)
    fields.update(changes)
    return Alert(**fields)


def test_payload_is_json_ready_and_complete():
    payload = sample_alert().to_payload()

    assert json.loads(json.dumps(payload)) == payload
    assert payload["window_end"] == "2026-12-01T00:00:00Z"
    assert payload["previous_window_end"] == "2026-11-24T00:00:00Z"
    assert payload["top_driver"] == {"driver": "waiting", "share": 0.34}
    assert payload["change_text"] == "+6.2 pts (95% CI +2.1 to +10.3)"
    assert payload["headline"] == ("AcmeTelco share of customers at risk up 6.2 pts "
                                   "(week ending 2026-11-30)")
    assert payload["examples"] == [dict(e) for e in EXAMPLES]
    assert payload["kind"] == "risk_rise" and payload["theme"] is None


def test_slack_payload_shape_and_text():
    alert = sample_alert()
    message = alert.slack_payload()

    assert set(message) == {"text", "blocks", "radar"}
    assert message["text"] == ("complaint-radar: AcmeTelco share of customers at risk up 6.2 pts "
                               "(week ending 2026-11-30)")
    assert message["radar"] == alert.to_payload()
    assert [b["type"] for b in message["blocks"]] == ["section", "section", "context"]
    facts = message["blocks"][0]["text"]
    assert message["blocks"][0]["text"]["type"] == "mrkdwn"
    assert facts["text"].startswith("*AcmeTelco*: share of customers at risk up 6.2 pts")
    assert "+6.2 pts (95% CI +2.1 to +10.3)" in facts["text"]
    assert "*Top driver:* waiting (34% of risk)" in facts["text"]
    quoted = message["blocks"][1]["text"]["text"].split("\n")[1:]
    assert len(quoted) == 2 and all(line.startswith("> ") for line in quoted)
    # Slack's control characters escaped; the link in Slack's <url|label> form.
    assert "&lt;again&gt; &amp; nobody" in quoted[0]
    assert quoted[0].endswith("<https://social.example/posts/1|mastodon 2026-11-29>")
    assert quoted[1].endswith("— appstore 2026-11-28")
    assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"][:2])


def test_slack_payload_of_a_theme_jump_has_no_interval():
    alert = sample_alert(kind="theme_jump", theme="waiting", key=alert_key(
        BRAND, ANCHOR, "theme_jump", "waiting"), share=0.3, previous_share=0.1, change=0.2,
        change_low=None, change_high=None)
    text = alert.slack_payload()["blocks"][0]["text"]["text"]

    assert alert.headline == ("AcmeTelco 'waiting' share of risk up 20.0 pts "
                              "(week ending 2026-11-30)")
    assert "*Change:* +20.0 pts, share of risk from 'waiting' 10.0% -&gt; 30.0%" in text
    assert "CI" not in text


def test_long_examples_are_shortened_in_messages_only():
    long_text = " ".join(["bad service"] * 100)  # masked examples carry no trailing space
    alert = sample_alert(examples=({"text": long_text, "url": None, "created_at": None,
                                    "source": "x"},))

    quoted = alert.slack_payload()["blocks"][1]["text"]["text"]
    assert len(quoted) < 400 and "bad… — x" in quoted
    assert alert.to_payload()["examples"][0]["text"] == long_text


def test_email_subject_and_body():
    message = sample_alert().email_message("radar@example.com", ["cx@example.com",
                                                                 "ops@example.com"],
                                           date=ANCHOR)

    assert message["Subject"] == ("complaint-radar: AcmeTelco share of customers at risk up "
                                  "6.2 pts (week ending 2026-11-30)")
    assert message["From"] == "radar@example.com"
    assert message["To"] == "cx@example.com, ops@example.com"
    assert message["X-Complaint-Radar-Alert"] == "AcmeTelco|2026-12-01T00:00:00Z|risk_rise|"
    assert message["Date"] == "Tue, 01 Dec 2026 00:00:00 +0000"
    assert message.get_content_type() == "text/plain"
    body = message.get_content()
    for line in ("Brand: AcmeTelco",
                 "Change: +6.2 pts (95% CI +2.1 to +10.3), share of customers at risk 20.0% -> "
                 "26.2%",
                 "Window: 2026-11-24 to 2026-11-30 (against the window ending 2026-11-23)",
                 "Customers: 120 (previous window 110)",
                 "Top driver: waiting (34% of risk)",
                 '1. "@user on hold 2h <again> & nobody picks up http"',
                 "   mastodon, 2026-11-29 10:00 UTC, https://social.example/posts/1",
                 '2. "refund still missing"'):
        assert line in body.splitlines()


def test_email_needs_a_sender_and_recipients():
    with pytest.raises(ValueError, match="needs a sender and recipients"):
        sample_alert().email_message("radar@example.com", [])
    with pytest.raises(ValueError, match="needs a sender and recipients"):
        sample_alert().email_message("", ["cx@example.com"])


def test_alert_kind_and_theme_must_agree():
    with pytest.raises(ValueError, match="kind must be one of"):
        sample_alert(kind="spike")
    with pytest.raises(ValueError, match="theme must be set for theme_jump"):
        sample_alert(kind="theme_jump")
    with pytest.raises(ValueError, match="theme must be set for theme_jump"):
        sample_alert(theme="waiting")


def test_a_window_other_than_a_week_is_named_as_such():
    alert = sample_alert(window_start=ANCHOR - timedelta(days=1))
    assert alert.headline.endswith("(window ending 2026-11-30)")
    alert = replace(sample_alert(), window_end=ANCHOR + timedelta(hours=12),
                    window_start=ANCHOR + timedelta(hours=12) - WEEK)
    assert alert.headline.endswith("(week ending 2026-12-01)")


def _assert_no_author_ids(alert: Alert, authors: list[str]) -> None:
    texts = [json.dumps(alert.to_payload()), json.dumps(alert.slack_payload()),
             alert.email_message("radar@example.com", ["cx@example.com"]).as_string()]
    for author in authors:
        for text in texts:
            assert author not in text
    # The handles were in the posts and were masked, not dropped with the text.
    assert all("@user" in e["text"] for e in alert.examples)
