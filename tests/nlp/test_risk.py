"""Tests of the ex-customer-at-risk score ``risk.v1`` (nlp/risk.py, docs/risk.md).

Property tests (hypothesis) protect the documented invariants: risk in [0, 1], churn
posts never lower risk, duplicates and brand replies change nothing, the interval is wide
for few customers and narrows with more, every result is stamped ``risk.v1``. Unit and
directional tests pin the weights' ordering, resolution, windows, trend and config checks.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from nlp.risk import (
    BASE_DRIVER,
    CHURN_DRIVER,
    DRIVER_KEYS,
    SCORE_VERSION,
    THEME_WEIGHTS,
    RiskConfig,
    RiskPost,
    combine,
    customer_risk,
    is_bot_or_news,
    parse_window,
    rank_windows,
    score_brands,
    select_posts,
    window_bounds,
)
from nlp.taxonomy import THEME_KEYS
from nlp.trend import trend_label
from nlp.types import BrandRisk, CustomerRisk, Prediction

PROPS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

BRANDS = ("Delta", "United")
# People, not bots or brand accounts; "@carol" and "Carol" are one customer.
AUTHORS = ("alice", "Bob", "@carol", "Carol", "DAVE", "erin_k")
TEXTS = ("late again", "Late  again", "no refund yet", "thanks, sorted!", "on hold 2h 😡",
         "@united lost my bag http://x.co/1")
T_MIN = datetime(2015, 2, 1)
T_MAX = datetime(2015, 3, 1)
T0 = datetime(2015, 2, 20, tzinfo=UTC)
WINDOW = (T0, T0 + timedelta(days=1))  # any window will do for customer_risk
CFG = RiskConfig()

prob = st.floats(0.0, 1.0, allow_nan=False)
times = st.datetimes(min_value=T_MIN, max_value=T_MAX, timezones=st.just(UTC))
theme_maps = st.dictionaries(st.sampled_from(THEME_KEYS), prob, max_size=len(THEME_KEYS))
window_lengths = st.sampled_from([None, timedelta(days=7), timedelta(days=1),
                                  timedelta(hours=36)])


@st.composite
def risk_post(draw, post_id: str, brands=BRANDS, authors=AUTHORS, churn=None,
              created=None) -> RiskPost:
    """One random post; ``churn``/``created`` override the strategy of those fields."""
    return RiskPost(
        post_id=post_id,
        brand=draw(st.sampled_from(brands)),
        author_id=draw(st.one_of(st.none(), st.sampled_from(authors))),
        created_at=draw(created if created is not None else st.one_of(st.none(), times)),
        p_complaint=draw(prob),
        p_positive=draw(prob),
        themes=draw(theme_maps),
        churn_intent=draw(churn if churn is not None else st.one_of(st.none(), prob)),
        text=draw(st.one_of(st.none(), st.sampled_from(TEXTS))),
    )


@st.composite
def risk_posts(draw, min_size=1, max_size=25, prefix="p", **kwargs) -> list[RiskPost]:
    """A list of random posts with unique post ids."""
    n = draw(st.integers(min_size, max_size))
    return [draw(risk_post(f"{prefix}{i}", **kwargs)) for i in range(n)]

# Data over every window: no window is partial (the trend tests compare whole windows).
EVERYTHING = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def post(post_id="p", *, brand="Delta", author="alice", at=T0, p_complaint=0.0,
         p_positive=0.0, themes=None, churn=None, text=None) -> RiskPost:
    return RiskPost(post_id, brand, author, at, p_complaint, p_positive, dict(themes or {}),
                    churn, text)


def risk_of(posts, config=CFG) -> float:
    return customer_risk(list(posts), config, *WINDOW).risk


def width(bw) -> float:
    return bw.risk.ci_high - bw.risk.ci_low


def brand_view(results):
    """Everything score_brands says about brands (the BrandRisk and the window's verdicts)."""
    return [(bw.risk, bw.ci_method, bw.previous_share, bw.trend_significant,
             tuple((c.author_id, c.risk) for c in bw.customers)) for bw in results]


def test_author_pool_holds_no_bot_names():
    # The property tests rely on it: a bot-named author would be excluded, not scored.
    assert not any(is_bot_or_news(a, CFG) for a in AUTHORS)


# --- required properties -------------------------------------------------------------------


@PROPS
@given(posts=risk_posts(), window=window_lengths)
def test_risk_share_and_interval_lie_in_unit_range(posts, window):
    assert 0.0 <= risk_of(posts) <= 1.0
    results, _ = score_brands(posts, CFG, window)
    assert results, "every input with a post gives at least one brand window"
    for bw in results:
        r = bw.risk
        assert 0.0 <= r.ci_low <= r.at_risk_share <= r.ci_high <= 1.0
        assert r.customers == len(bw.customers) >= 1
        assert r.expected_at_risk == pytest.approx(r.at_risk_share * r.customers)
        for c in bw.customers:
            assert 0.0 <= c.risk <= 1.0
            if r.window_start is None:  # undated posts: one window without dates
                assert c.window_start is None and c.window_end is None
            else:
                assert r.window_start <= c.window_start < c.window_end <= r.window_end
        if r.at_risk_share > 0:
            assert math.isclose(sum(r.drivers.values()), 1.0, abs_tol=1e-9)
        assert set(r.drivers) <= set(DRIVER_KEYS)
        assert all(v >= 0 for v in r.drivers.values())


@PROPS
@given(posts=risk_posts(max_size=12),
       weights=st.fixed_dictionaries({
           "complaint_weight": st.floats(0.0, 0.99), "churn_weight": st.floats(0.0, 0.99),
           "repeat_factor": prob, "resolution_weight": prob,
           "at_risk_threshold": prob}),
       theme_weights=st.dictionaries(st.sampled_from(THEME_KEYS), st.floats(0.0, 0.99)))
def test_risk_in_unit_range_for_any_valid_config(posts, weights, theme_weights):
    config = RiskConfig(theme_weights=theme_weights, **weights)
    assert 0.0 <= risk_of(posts, config) <= 1.0
    for bw in score_brands(posts, config, None)[0]:
        assert 0.0 <= bw.risk.ci_low <= bw.risk.at_risk_share <= bw.risk.ci_high <= 1.0


churn_posts = risk_post("churn-new", brands=("Delta",), authors=("alice",),
                        churn=st.floats(0.5, 1.0), created=st.one_of(st.none(), times))
one_customer_posts = risk_posts(max_size=10, brands=("Delta",), authors=("alice",))


@PROPS
@given(posts=one_customer_posts, new=churn_posts)
@example(
    # risk 0.703 before, 0.672 after (see test_churn_post_enables_resolution_bug)
    posts=[post("c", at=T0 + timedelta(hours=12), p_complaint=0.49, churn=0.49,
                themes=dict.fromkeys(THEME_KEYS, 1.0)),
           post("pos", at=T0 + timedelta(hours=13), p_positive=1.0)],
    new=post("churn-new", at=T0 + timedelta(hours=11), churn=0.5))
def test_adding_churn_post_never_lowers_risk(posts, new):
    assert risk_of([*posts, new]) >= risk_of(posts) - 1e-12


@PROPS
@given(posts=one_customer_posts, new=churn_posts,
       anchor=risk_post("anchor", brands=("Delta",), authors=("alice",), created=times),
       anchor_complaint=st.floats(0.5, 1.0), undated_new=st.booleans())
def test_adding_churn_post_never_lowers_risk_when_resolution_cannot_start(
        posts, new, anchor, anchor_complaint, undated_new):
    # The part of the property that holds: the new churn post is undated (never enters
    # resolution), or the customer already has a dated at-risk post (it can only move the
    # last at-risk time later, so fewer positive posts count as resolving).
    if undated_new:
        new = replace(new, created_at=None)
    else:
        posts = [*posts, replace(anchor, p_complaint=anchor_complaint)]
    assert risk_of([*posts, new]) >= risk_of(posts) - 1e-12


@PROPS
@given(posts=risk_posts(max_size=20), window=window_lengths, data=st.data())
def test_duplicates_change_no_score(posts, window, data):
    picks = data.draw(st.lists(st.integers(0, len(posts) - 1), max_size=8), label="picks")
    with_dups = list(posts)
    for k, i in enumerate(picks):
        original = posts[i]
        new_id = (original.author_id is not None and original.text is not None
                  and data.draw(st.booleans(), label="new id"))
        copy = replace(original, post_id=f"dup{k}") if new_id else original
        # anywhere after the original: the first copy is the one that stays
        at = data.draw(st.integers(with_dups.index(original) + 1, len(with_dups)), label="at")
        with_dups.insert(at, copy)
    base, base_ex = score_brands(posts, CFG, window)
    dup, dup_ex = score_brands(with_dups, CFG, window)
    assert brand_view(dup) == brand_view(base)
    assert dup_ex.duplicate == base_ex.duplicate + len(picks)
    assert (dup_ex.brand_account, dup_ex.bot_or_news, dup_ex.outside_windows) == (
        base_ex.brand_account, base_ex.bot_or_news, base_ex.outside_windows)


brand_handles = st.sampled_from(["Delta", "delta", "@Delta", "@DELTA", " @delta ", "United",
                                 "@united"])


@PROPS
@given(posts=risk_posts(max_size=15), window=window_lengths,
       listed=st.sampled_from([frozenset({"Delta", "@united"}),
                               frozenset({"@DELTA", "UNITED"})]),
       data=st.data())
def test_brand_replies_change_no_score_and_are_counted(posts, window, listed, data):
    config = RiskConfig(excluded_authors=listed)
    replies = data.draw(st.lists(risk_post("", authors=("x",)), max_size=8), label="replies")
    mixed = list(posts)
    for k, reply in enumerate(replies):
        reply = replace(reply, post_id=f"reply{k}", author_id=data.draw(brand_handles))
        mixed.insert(data.draw(st.integers(0, len(mixed)), label="at"), reply)
    base, base_ex = score_brands(posts, config, window)
    got, got_ex = score_brands(mixed, config, window)
    assert brand_view(got) == brand_view(base)
    assert got_ex.brand_account == base_ex.brand_account + len(replies)
    assert (got_ex.bot_or_news, got_ex.duplicate, got_ex.outside_windows) == (
        base_ex.bot_or_news, base_ex.duplicate, base_ex.outside_windows)


def _customers(risk_levels, n):
    """n customers cycling through churn levels (risk = 0.9 * churn for a churn-only post)."""
    return [post(f"p{i}", author=f"cust{i}", churn=risk_levels[i % len(risk_levels)] / 0.9)
            for i in range(n)]


@PROPS
@given(level=st.floats(0.2, 0.8))
def test_one_customer_has_a_wide_wilson_interval(level):
    (bw,), _ = score_brands(_customers([level], 1), CFG, None)
    assert bw.risk.customers == 1
    assert bw.ci_method == "wilson"
    assert bw.risk.at_risk_share == pytest.approx(level)
    assert width(bw) >= 0.3


@pytest.mark.parametrize("levels", [(0.3, 0.7), (0.1, 0.5, 0.9), (0.45, 0.55)])
def test_interval_narrows_as_customers_are_added(levels):
    widths = {}
    for n in (len(levels), 6 * len(levels), 200):
        (bw,), _ = score_brands(_customers(levels, n), CFG, None)
        assert bw.risk.customers == n
        assert bw.risk.at_risk_share == pytest.approx(np.mean(levels), abs=0.01)
        widths[n] = width(bw)
        assert bw.ci_method == ("bootstrap" if n >= CFG.min_bootstrap_customers else "wilson")
    few, some, many = widths.values()
    assert few > some > many > 0
    assert many < 0.1


@PROPS
@given(posts=risk_posts(max_size=15), window=window_lengths)
def test_every_result_is_stamped_with_the_score_version(posts, window):
    assert SCORE_VERSION == "risk.v1"
    results, _ = score_brands(posts, CFG, window)
    assert results
    for bw in results:
        assert isinstance(bw.risk, BrandRisk)
        assert bw.risk.score_version == "risk.v1"
        for c in bw.customers:
            assert isinstance(c, CustomerRisk)
            assert c.score_version == "risk.v1"
    assert customer_risk(posts, CFG, *WINDOW).score_version == "risk.v1"
    assert CFG.to_dict()["score_version"] == "risk.v1"


# --- regressions ----------------------------------------------------------------------------


def test_churn_post_does_not_enable_resolution():
    """Regression: a customer with no at-risk post, then a later thanks. A dated churn post
    used to become the first 'at-risk' anchor and let the thanks halve the complaints
    (0.703 -> 0.672). The thanks now counts whether or not an anchor exists."""
    complaint = post("c", at=T0 + timedelta(hours=12), p_complaint=0.49, churn=0.49,
                     themes=dict.fromkeys(THEME_KEYS, 1.0))
    thanks = post("pos", at=T0 + timedelta(hours=13), p_positive=1.0)
    churn = post("churn-new", at=T0 + timedelta(hours=11), churn=0.5)
    before, after = risk_of([complaint, thanks]), risk_of([complaint, thanks, churn])
    assert after >= before
    assert before < risk_of([complaint])  # the later thanks resolves part of it


@pytest.mark.parametrize("p_complaint", [0.0, 0.8])
def test_zero_complaint_weight_scores_posts_without_themes(p_complaint):
    config = RiskConfig(complaint_weight=0.0)
    result = customer_risk([post(p_complaint=p_complaint)], config, *WINDOW)
    assert result.risk == 0.0


# --- one customer: direction of the weights ------------------------------------------------


@pytest.mark.parametrize("theme", THEME_KEYS)
def test_churn_intent_is_the_strongest_signal(theme):
    churn_only = risk_of([post(churn=0.9)])
    complaint = risk_of([post(p_complaint=0.9, themes={theme: 1.0})])
    assert churn_only == pytest.approx(0.81)
    assert churn_only > complaint


@pytest.mark.parametrize("p", [0.3, 0.7, 1.0])
@pytest.mark.parametrize("effort", ["unresolved", "not_known", "ivr_menu"])
@pytest.mark.parametrize("minor", ["marketing_spam", "waiting"])
def test_effort_themes_weigh_more_than_spam_and_waiting(p, effort, minor):
    assert THEME_WEIGHTS[effort] > THEME_WEIGHTS[minor]
    assert (risk_of([post(p_complaint=0.9, themes={effort: p})])
            > risk_of([post(p_complaint=0.9, themes={minor: p})]))


def test_complaint_without_theme_has_base_risk_and_themes_add():
    base = risk_of([post(p_complaint=1.0)])
    assert base == pytest.approx(CFG.complaint_weight)
    assert risk_of([post(p_complaint=1.0, themes={"billing": 1.0})]) == pytest.approx(
        1 - (1 - 0.15) * (1 - 0.25))
    assert risk_of([post(p_complaint=0.0, themes={"billing": 1.0})]) == 0.0


def test_repeated_complaints_raise_risk_with_diminishing_steps():
    def complaint(i):
        return post(f"c{i}", p_complaint=0.9, themes={"waiting": 0.8})

    one = risk_of([complaint(0)])
    two = risk_of([complaint(0), complaint(1)])
    three = risk_of([complaint(i) for i in range(3)])
    assert 0 < one < two < three < 1
    assert two - one < one  # the second identical post adds less than the first
    assert three - two < two - one
    assert two == pytest.approx(1 - (1 - one) * (1 - CFG.repeat_factor * one))


def test_repeat_factor_zero_makes_repeats_count_nothing():
    config = RiskConfig(repeat_factor=0.0)
    one = risk_of([post("a", p_complaint=0.9)], config)
    assert risk_of([post("a", p_complaint=0.9), post("b", p_complaint=0.9)], config) == one


def test_later_positive_post_lowers_complaint_risk_but_earlier_does_not():
    complaint = post("c", at=T0 + timedelta(hours=2), p_complaint=0.9,
                     themes={"unresolved": 0.9})
    later = post("thanks", at=T0 + timedelta(hours=3), p_positive=0.9)
    earlier = post("hi", at=T0 + timedelta(hours=1), p_positive=0.9)
    alone = risk_of([complaint])
    assert risk_of([complaint, later]) < alone
    assert risk_of([complaint, later]) == pytest.approx(alone * (1 - 0.5 * 0.9))
    assert risk_of([complaint, earlier]) == pytest.approx(alone)
    # an undated positive post cannot be placed after the complaint: no resolution
    assert risk_of([complaint, replace(later, created_at=None)]) == pytest.approx(alone)
    # a later post that is itself a complaint does not resolve
    assert risk_of([complaint, replace(later, p_complaint=0.6)]) > alone


def test_resolution_never_discounts_churn_intent():
    churn = post("c", at=T0 + timedelta(hours=2), churn=0.9)
    later = post("thanks", at=T0 + timedelta(hours=3), p_positive=1.0)
    assert risk_of([churn, later]) == pytest.approx(risk_of([churn]))


def test_customer_drivers_sum_to_one_and_name_the_evidence():
    result = customer_risk([post("a", churn=0.6), post("b", p_complaint=0.8,
                                                      themes={"billing": 1.0})], CFG, *WINDOW)
    assert set(result.themes) == {CHURN_DRIVER, "billing", BASE_DRIVER}
    assert sum(result.themes.values()) == pytest.approx(1.0, abs=1e-9)
    assert result.themes[CHURN_DRIVER] > result.themes["billing"] > result.themes[BASE_DRIVER]
    assert result.post_ids == ("a", "b")
    assert result.author_id == "@alice"


@PROPS
@given(terms=st.lists(prob, max_size=8), extra=prob, rho=prob)
def test_combine_is_monotone_and_bounded(terms, extra, rho):
    value = combine(terms, rho)
    assert 0.0 <= value <= 1.0
    assert combine([*terms, extra], rho) >= value - 1e-12
    assert combine(terms, rho) == combine(list(reversed(terms)), rho)


# --- who counts ----------------------------------------------------------------------------


def test_posts_of_one_author_make_one_customer():
    posts = [post(f"p{i}", author=a, p_complaint=0.9)
             for i, a in enumerate(["alice", "@Alice", "ALICE"])]
    (bw,), _ = score_brands(posts, CFG, None)
    assert bw.risk.customers == 1
    assert bw.posts == 3
    assert [c.author_id for c in bw.customers] == ["@alice"]


def test_reviews_without_author_are_customers_of_their_own():
    posts = [post(f"r{i}", author=None, p_complaint=0.9) for i in range(3)]
    (bw,), _ = score_brands(posts, CFG, None)
    assert bw.risk.customers == 3
    assert sorted(c.author_id for c in bw.customers) == ["post:r0", "post:r1", "post:r2"]


@pytest.mark.parametrize("name", ["JetBlueNews", "BritishAirNews", "WorstThingsBot",
                                  "cwalshnews", "@JetBlueNews", "flight_deals", "NewsDesk_"])
def test_news_and_bot_names_are_recognised(name):
    assert is_bot_or_news(name, CFG)


@pytest.mark.parametrize("name", ["HAbbott4", "mwbotelho", "newsomej", "kbosspotter",
                                  "alice", "Bob"])
def test_people_are_not_taken_for_bots(name):
    assert not is_bot_or_news(name, CFG)


def test_bots_and_heavy_posters_are_excluded_and_counted():
    people = [post(f"p{i}", author=f"person{i}", p_complaint=0.9) for i in range(3)]
    news = [post(f"n{i}", author="JetBlueNews", p_complaint=0.9) for i in range(4)]
    spammer = [post(f"s{i}", author="loud", at=T0 + timedelta(minutes=i), p_complaint=0.1,
                    text=f"post {i}") for i in range(51)]
    (bw,), excluded = score_brands([*people, *news, *spammer], CFG, None)
    assert bw.risk.customers == 3
    assert excluded.bot_or_news == 4 + 51
    assert bw.risk.at_risk_share == pytest.approx(risk_of([people[0]]))


def test_text_duplicates_count_per_author_and_brand():
    a = post("a", p_complaint=0.9, text="Late again")
    kept, excluded = select_posts([
        a, replace(a, post_id="b", text="late   again"),  # same author, same text: dup
        replace(a, post_id="c", author_id="bob"),  # another author: kept
        replace(a, post_id="d", brand="United"),  # another brand: kept
        replace(a, post_id="e", author_id=None), replace(a, post_id="f", author_id=None),  # reviews
    ], CFG)
    assert [p.post_id for p in kept] == ["a", "c", "d", "e", "f"]
    assert excluded.duplicate == 1


def test_excluded_authors_are_normalised():
    config = RiskConfig(excluded_authors=frozenset({" @Delta", "UNITED"}))
    assert config.excluded_authors == frozenset({"delta", "united"})
    kept, excluded = select_posts([post("1", author="DELTA"), post("2", author="@united"),
                                   post("3", author="deltafan")], config)
    assert [p.post_id for p in kept] == ["3"]
    assert excluded.brand_account == 2


# --- windows -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", timedelta(days=7)), ("36h", timedelta(hours=36)), ("2w", timedelta(days=14)),
    (" 1D ", timedelta(days=1)), ("all", None), ("ALL", None)])
def test_parse_window(text, expected):
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["0d", "7x", "", "-1d", "d", "1.5d", "7d7"])
def test_parse_window_rejects_bad_values_naming_them(text):
    with pytest.raises(ValueError, match=f"window {text!r}"):
        parse_window(text)


def test_window_bounds_end_at_midnight_after_latest():
    first, last = datetime(2015, 2, 10, 9, tzinfo=UTC), datetime(2015, 2, 24, 19, 35, tzinfo=UTC)
    bounds = window_bounds([last, first], timedelta(days=7))
    assert bounds[-1][1] == datetime(2015, 2, 25, tzinfo=UTC)
    assert bounds[0][0] <= first < bounds[0][1]
    assert [b - a for a, b in bounds] == [timedelta(days=7)] * 3
    assert window_bounds([last, first], None) == [
        (datetime(2015, 2, 10, tzinfo=UTC), datetime(2015, 2, 25, tzinfo=UTC))]
    assert window_bounds([], timedelta(days=7)) == []


@PROPS
@given(moments=st.lists(times, min_size=1, max_size=20),
       window=st.sampled_from([timedelta(days=7), timedelta(days=1), timedelta(hours=36),
                               timedelta(hours=5)]))
def test_window_bounds_are_consecutive_and_cover_every_time(moments, window):
    bounds = window_bounds(moments, window)
    last = max(moments)
    assert bounds[-1][1] == datetime.combine(last.date(), datetime.min.time(), UTC) + \
        timedelta(days=1)
    assert all(end - start == window for start, end in bounds)
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    assert bounds[0][0] <= min(moments) < bounds[0][1]
    for moment in moments:
        assert sum(start <= moment < end for start, end in bounds) == 1


def test_posts_go_to_their_window_and_trend_starts_in_the_second():
    early = post("e", author="a", at=datetime(2015, 2, 10, 12, tzinfo=UTC), p_complaint=0.9)
    late = post("l", author="b", at=datetime(2015, 2, 20, 12, tzinfo=UTC), churn=0.9)
    results, excluded = score_brands([late, early], CFG, timedelta(days=7), coverage=EVERYTHING)
    assert [bw.risk.window_end for bw in results] == [datetime(2015, 2, 14, tzinfo=UTC),
                                                      datetime(2015, 2, 21, tzinfo=UTC)]
    first, second = results
    assert [c.author_id for c in first.customers] == ["@a"]
    assert [c.author_id for c in second.customers] == ["@b"]
    assert first.risk.trend is None and first.trend_significant is None
    assert first.previous_share is None
    assert second.risk.trend == pytest.approx(second.risk.at_risk_share
                                              - first.risk.at_risk_share)
    assert second.previous_share == pytest.approx(first.risk.at_risk_share)
    assert second.trend_significant is not None
    assert excluded.outside_windows == 0


def test_post_at_a_window_boundary_belongs_to_the_later_window():
    boundary = datetime(2015, 2, 14, tzinfo=UTC)  # windows Feb 7 - Feb 14 - Feb 21
    results, _ = score_brands([post("a", author="a", at=boundary, p_complaint=0.9),
                               post("b", author="b", at=datetime(2015, 2, 20, tzinfo=UTC),
                                    p_complaint=0.9),
                               post("c", author="c", at=datetime(2015, 2, 10, tzinfo=UTC),
                                    p_complaint=0.9)], CFG, timedelta(days=7))
    first, second = results
    assert second.risk.window_start == boundary
    assert sorted(c.author_id for c in second.customers) == ["@a", "@b"]
    assert [c.author_id for c in first.customers] == ["@c"]


def test_trend_compares_with_the_immediately_previous_window_only():
    days = [datetime(2015, 2, d, 12, tzinfo=UTC) for d in (3, 17)]  # Feb 10-17 is empty
    results, _ = score_brands([post(f"p{i}", author=f"a{i}", at=day, p_complaint=0.9)
                               for i, day in enumerate(days)], CFG, timedelta(days=7))
    assert [bw.risk.customers for bw in results] == [1, 1]
    assert results[1].risk.window_start - results[0].risk.window_end == timedelta(days=7)
    assert results[1].risk.trend is None
    assert results[1].previous_share is None


def test_undated_posts_count_only_in_one_window_over_all():
    dated = post("d", author="a", at=T0, p_complaint=0.9)
    undated = post("u", author="b", at=None, p_complaint=0.9)
    (bw,), excluded = score_brands([dated, undated], CFG, timedelta(days=7))
    assert bw.risk.customers == 1
    assert excluded.outside_windows == 1
    (bw,), excluded = score_brands([dated, undated], CFG, None)
    assert bw.risk.customers == 2
    assert excluded.outside_windows == 0
    (bw,), _ = score_brands([undated], CFG, timedelta(days=7))  # nothing dated: one window
    assert bw.risk.customers == 1


def _window_of_customers(levels, day, prefix, brand=None):
    return [replace(post(f"{prefix}{i}", author=f"{prefix}{i}", at=day + timedelta(minutes=i),
                         churn=level / 0.9), **({"brand": brand} if brand else {}))
            for i, level in enumerate(levels)]


def test_big_change_is_significant_identical_distribution_is_not():
    rng = np.random.default_rng(7)
    low = np.clip(rng.normal(0.1, 0.05, 200), 0, 0.85)
    high = np.clip(rng.normal(0.6, 0.1, 200), 0, 0.85)
    before_day, after_day = datetime(2015, 2, 10, tzinfo=UTC), datetime(2015, 2, 17, tzinfo=UTC)
    results, _ = score_brands(_window_of_customers(low, before_day, "a")
                              + _window_of_customers(high, after_day, "b"),
                              CFG, timedelta(days=7), coverage=EVERYTHING)
    assert results[-1].trend_significant is True
    assert results[-1].risk.trend == pytest.approx(0.5, abs=0.05)
    results, _ = score_brands(_window_of_customers(high, before_day, "a")
                              + _window_of_customers(high, after_day, "b"),
                              CFG, timedelta(days=7), coverage=EVERYTHING)
    assert results[-1].trend_significant is False
    assert results[-1].risk.trend == pytest.approx(0.0, abs=1e-9)


def test_small_windows_use_the_normal_interval_for_the_trend():
    before_day, after_day = datetime(2015, 2, 10, tzinfo=UTC), datetime(2015, 2, 17, tzinfo=UTC)
    same = [0.3, 0.5]
    results, _ = score_brands(_window_of_customers(same, before_day, "a")
                              + _window_of_customers(same, after_day, "b"),
                              CFG, timedelta(days=7), coverage=EVERYTHING)
    assert results[-1].trend_significant is False
    results, _ = score_brands(_window_of_customers([0.01] * 10, before_day, "a")
                              + _window_of_customers([0.85] * 10, after_day, "b"),
                              CFG, timedelta(days=7), coverage=EVERYTHING)
    assert results[-1].trend_significant is True


def test_a_partial_window_is_marked_and_its_trend_is_not_compared():
    before_day, after_day = datetime(2015, 2, 10, tzinfo=UTC), datetime(2015, 2, 17, tzinfo=UTC)
    posts = (_window_of_customers([0.01] * 30, before_day, "a")
             + _window_of_customers([0.85] * 30, after_day, "b"))
    # The data starts on Feb 10, the first window on Feb 8 (it ends at Feb 18's midnight).
    first, second = score_brands(posts, CFG, timedelta(days=7))[0]
    assert first.partial and not second.partial and second.previous_partial
    assert second.trend_significant is None and second.trend_low is None
    assert trend_label(second.risk.trend, second.trend_significant, True, second.earlier) \
        == "partial"
    # the figures themselves are risk.v1's, whole window or not
    whole = score_brands(posts, CFG, timedelta(days=7), coverage=EVERYTHING)[0][1]
    assert second.risk == whole.risk and whole.trend_significant is True


def test_a_brand_below_the_ranking_minimum_is_listed_after_the_ranked_ones():
    day = datetime(2015, 2, 17, tzinfo=UTC)
    posts = (_window_of_customers([0.9], day, "a", brand="Tiny")
             + _window_of_customers([0.2] * 25, day, "b", brand="Big"))
    windows, _ = score_brands(posts, CFG, timedelta(days=7))
    ordered = rank_windows(windows)
    assert [(w.risk.brand, w.ranked) for w in ordered] == [("Big", True), ("Tiny", False)]
    with pytest.raises(ValueError, match="min_customers_ranked"):
        RiskConfig(min_customers_ranked=0)


# --- config, determinism, drivers ----------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"churn_weight": 1.5}, "churn_weight"),
    ({"churn_weight": 1.0}, "churn_weight"),
    ({"complaint_weight": -0.1}, "complaint_weight"),
    ({"complaint_weight": 1.0}, "complaint_weight"),
    ({"repeat_factor": 2.0}, "repeat_factor"),
    ({"resolution_weight": -1.0}, "resolution_weight"),
    ({"at_risk_threshold": 1.1}, "at_risk_threshold"),
    ({"churn_weight": float("nan")}, "churn_weight"),
    ({"theme_weights": {"waiting": 1.0}}, "waiting"),
    ({"theme_weights": {"waiting": -0.2}}, "waiting"),
    ({"theme_weights": {"delays": 0.2}}, "delays"),
    ({"bootstrap_samples": 99}, "bootstrap_samples"),
    ({"min_bootstrap_customers": 1}, "min_bootstrap_customers"),
    ({"confidence": 0.5}, "confidence"),
    ({"max_posts_per_day": 0}, "max_posts_per_day"),
    ({"bot_name_pattern": "(unclosed"}, "bot_name_pattern"),
])
def test_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        RiskConfig(**kwargs)


def test_default_config_is_risk_v1():
    assert CFG.to_dict()["theme_weights"] == THEME_WEIGHTS
    assert set(THEME_WEIGHTS) == set(THEME_KEYS)
    assert (CHURN_DRIVER, *THEME_KEYS, BASE_DRIVER) == DRIVER_KEYS


def test_score_brands_is_deterministic():
    rng = np.random.default_rng(3)
    posts = [post(f"p{i}", author=f"c{i % 40}", brand=BRANDS[i % 2],
                  at=T0 - timedelta(hours=int(rng.integers(0, 400))),
                  p_complaint=float(rng.random()), churn=float(rng.random()) / 2,
                  themes={"billing": float(rng.random())}) for i in range(160)]
    first = score_brands(posts, CFG, timedelta(days=7))
    second = score_brands(posts, CFG, timedelta(days=7))
    assert any(bw.ci_method == "bootstrap" for bw in first[0])
    assert brand_view(first[0]) == brand_view(second[0])
    assert first[1] == second[1]
    # the seed is what fixes the bootstrap: another seed moves some interval
    other = score_brands(posts, RiskConfig(seed=1), timedelta(days=7))[0]
    assert [bw.risk.at_risk_share for bw in other] == [bw.risk.at_risk_share for bw in first[0]]
    assert [(bw.risk.ci_low, bw.risk.ci_high) for bw in other] != [
        (bw.risk.ci_low, bw.risk.ci_high) for bw in first[0]]


def test_billing_only_complaints_make_billing_the_top_driver():
    posts = [post(f"p{i}", author=f"c{i}", p_complaint=0.6 + 0.1 * (i % 4),
                  themes={"billing": 1.0}) for i in range(8)]
    (bw,), _ = score_brands(posts, CFG, None)
    drivers = bw.risk.drivers
    assert next(iter(drivers)) == "billing"
    assert max(drivers, key=drivers.get) == "billing"
    assert set(drivers) == {"billing", BASE_DRIVER}
    assert sum(drivers.values()) == pytest.approx(1.0, abs=1e-9)


def test_brand_without_risk_has_no_drivers():
    (bw,), _ = score_brands([post("a", p_positive=1.0)], CFG, None)
    assert bw.risk.at_risk_share == 0.0
    assert bw.risk.drivers == {}


def test_from_prediction_keeps_the_fields_the_formula_reads():
    prediction = Prediction("twitter", "42", "negative",
                            {"negative": 0.7, "neutral": 0.2, "positive": 0.1}, 0.8,
                            {"waiting": 0.6}, 0.3, "model-1")
    got = RiskPost.from_prediction(prediction, "Delta", "@Alice", T0, "late")
    assert got == RiskPost("42", "Delta", "@Alice", T0, 0.8, 0.1, {"waiting": 0.6}, 0.3,
                           "late")
    assert got.customer == "@alice"
