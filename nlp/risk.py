"""The ex-customer-at-risk score, formula ``risk.v1`` (docs/risk.md): pure Python and numpy.

From scored posts (``RiskPost``) to one ``CustomerRisk`` per (brand, customer, window)
and one ``BrandRisk`` per (brand, window). No model, no files: the classifier's
probabilities come in, risk goes out, every result stamped with ``SCORE_VERSION``.

A customer is an author; a post without an author is a customer of its own. Within a
window a customer's posts are combined (``customer_risk``); a brand's at-risk share is
the mean risk of its customers, with a confidence interval over customers.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from statistics import NormalDist

import numpy as np

from nlp.taxonomy import THEME_KEYS
from nlp.text import dedup_key
from nlp.types import BrandRisk, CustomerRisk, Prediction

SCORE_VERSION = "risk.v1"
MAX_WINDOW_DAYS = 3660
CHURN_DRIVER = "churn_intent"
BASE_DRIVER = "unthemed"  # the part of a complaint's risk that no theme explains
DRIVER_KEYS = (CHURN_DRIVER, *THEME_KEYS, BASE_DRIVER)

# The default weights of risk.v1; their reasoning and sources are in docs/risk.md.
THEME_WEIGHTS = {
    "unresolved": 0.40, "not_known": 0.35, "ivr_menu": 0.35, "self_service": 0.30,
    "staff_attitude": 0.30, "billing": 0.25, "product_failure": 0.25, "waiting": 0.20,
    "marketing_spam": 0.10,
}
# News and bot accounts by name: a handle ending in "news" (any case, digits may follow), a
# handle starting with "News" + a capital, digit or "_", or one with News/Bot(s)/Deals/
# Alerts/Feed as a word of its own: capitalised inside (JetBlueNews, WorstThingsBot), after
# "_" or a digit (mr_deals805), or in capitals. Lower-case endings like "abbot", "ordeal" or
# "spoonfeed" are words, not markers, and do not match.
BOT_NAME_RE = (r"(?i:news)\d*$|^News(?=[A-Z0-9_]|$)"
               r"|(?:(?<=[a-z0-9])|(?<=_)|^)(?:News|NEWS|Bots?|BOTS?|Deals|DEALS|Alerts|ALERTS"
               r"|Feed|FEED)(?=[A-Z0-9_]|$)"
               r"|(?<=[_0-9])(?i:news|bots?|deals|alerts|feed)(?=[0-9_]|$)")


@dataclass(frozen=True)
class RiskConfig:
    """The weights and rules of the risk formula; the defaults are ``risk.v1``."""

    churn_weight: float = 0.90
    complaint_weight: float = 0.15
    theme_weights: Mapping[str, float] = field(default_factory=lambda: dict(THEME_WEIGHTS))
    repeat_factor: float = 0.5
    resolution_weight: float = 0.5
    at_risk_threshold: float = 0.5
    excluded_authors: frozenset[str] = frozenset()
    bot_name_pattern: str = BOT_NAME_RE
    max_posts_per_day: float = 50.0
    bootstrap_samples: int = 1000
    min_bootstrap_customers: int = 20
    # Below this many customers a brand is listed apart, never ranked by its share: one
    # customer's 68.6% (interval 10-98%) says nothing about the brand against others.
    min_customers_ranked: int = 20
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("churn_weight", "complaint_weight", "repeat_factor",
                     "resolution_weight", "at_risk_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"RiskConfig.{name} must be in [0, 1], got {value!r}")
        unknown = set(self.theme_weights) - set(THEME_KEYS)
        if unknown:
            raise ValueError(f"RiskConfig.theme_weights has unknown themes {sorted(unknown)}; "
                             f"known: {THEME_KEYS}")
        for key, value in self.theme_weights.items():
            if not 0.0 <= value < 1.0:
                raise ValueError(f"RiskConfig.theme_weights[{key!r}] must be in [0, 1), "
                                 f"got {value!r}")
        if self.churn_weight >= 1.0 or self.complaint_weight >= 1.0:
            raise ValueError("RiskConfig churn_weight and complaint_weight must be below 1 "
                             "(a post is evidence, not certainty)")
        if self.bootstrap_samples < 100:
            raise ValueError(f"RiskConfig.bootstrap_samples must be >= 100, "
                             f"got {self.bootstrap_samples}")
        if self.min_bootstrap_customers < 2:
            raise ValueError(f"RiskConfig.min_bootstrap_customers must be >= 2, "
                             f"got {self.min_bootstrap_customers}")
        if self.min_customers_ranked < 1:
            raise ValueError(f"RiskConfig.min_customers_ranked must be >= 1, "
                             f"got {self.min_customers_ranked}")
        if not 0.5 < self.confidence < 1.0:
            raise ValueError(f"RiskConfig.confidence must be in (0.5, 1), got {self.confidence}")
        if self.max_posts_per_day <= 0:
            raise ValueError(f"RiskConfig.max_posts_per_day must be > 0, "
                             f"got {self.max_posts_per_day}")
        try:
            re.compile(self.bot_name_pattern)
        except re.error as exc:
            raise ValueError(f"RiskConfig.bot_name_pattern is not a regex: {exc}") from exc
        object.__setattr__(self, "excluded_authors",
                           frozenset(_handle(a) for a in self.excluded_authors))

    def to_dict(self) -> dict:
        """Plain values for logging (MLflow params, JSON), with the score version."""
        out = asdict(self)
        out["theme_weights"] = dict(self.theme_weights)
        out["excluded_authors"] = sorted(self.excluded_authors)
        out["score_version"] = SCORE_VERSION
        return out


@dataclass(frozen=True)
class RiskPost:
    """The slice of a scored post the risk formula reads (one row of ``radar score``'s output)."""

    post_id: str
    brand: str
    author_id: str | None
    created_at: datetime | None
    p_complaint: float
    p_positive: float
    themes: Mapping[str, float]  # predicted themes only; absent = not predicted
    churn_intent: float | None
    text: str | None = None

    @classmethod
    def from_prediction(cls, prediction: Prediction, brand: str, author_id: str | None = None,
                        created_at: datetime | None = None, text: str | None = None
                        ) -> RiskPost:
        """From a classifier's prediction and the post's own fields (the REST path)."""
        return cls(post_id=prediction.post_id, brand=brand, author_id=author_id,
                   created_at=created_at, p_complaint=prediction.complaint,
                   p_positive=prediction.sentiment_probs["positive"],
                   themes=dict(prediction.themes), churn_intent=prediction.churn_intent,
                   text=text)

    @property
    def customer(self) -> str:
        """Who the post counts for: its author, or the post itself when there is none."""
        return f"@{_handle(self.author_id)}" if self.author_id else f"post:{self.post_id}"


@dataclass(frozen=True)
class Exclusions:
    """Posts left out of the score, by reason (counted, never silently dropped)."""

    brand_account: int = 0
    bot_or_news: int = 0
    duplicate: int = 0
    outside_windows: int = 0


# --- one customer -------------------------------------------------------------------------


def post_terms(post: RiskPost, config: RiskConfig) -> tuple[float, float, dict[str, float]]:
    """The churn and complaint evidence of one post, and the complaint's hazard by driver.

    Returns ``(churn, complaint, hazards)``: ``complaint`` is ``p_complaint`` times a
    noisy-OR of the base complaint weight and each predicted theme's weight times its
    probability; ``hazards`` splits ``-log(1 - ...)`` of that noisy-OR by driver.
    """
    churn = config.churn_weight * (post.churn_intent or 0.0)
    hazards = {BASE_DRIVER: -math.log1p(-config.complaint_weight)}
    for theme, prob in post.themes.items():
        weight = config.theme_weights.get(theme, 0.0) * prob
        if weight > 0:
            hazards[theme] = -math.log1p(-weight)
    complaint = post.p_complaint * -math.expm1(-sum(hazards.values()))
    return churn, complaint, hazards


def combine(terms: Sequence[float], repeat_factor: float) -> float:
    """Noisy-OR of evidence where the strongest counts whole and every other ``repeat_factor``.

    Monotone: adding a term never lowers the result.
    """
    if not terms:
        return 0.0
    ordered = sorted(terms, reverse=True)
    survival = (1.0 - ordered[0]) * math.prod(1.0 - repeat_factor * t for t in ordered[1:])
    return 1.0 - survival


def _damped(terms: Sequence[float], repeat_factor: float) -> list[float]:
    """Each term as it enters ``combine`` (the largest whole, the others damped), same order."""
    top = max(range(len(terms)), key=lambda i: (terms[i], -i)) if terms else -1
    return [t if i == top else repeat_factor * t for i, t in enumerate(terms)]


def _is_at_risk_post(post: RiskPost, config: RiskConfig) -> bool:
    return (post.p_complaint >= config.at_risk_threshold
            or (post.churn_intent or 0.0) >= config.at_risk_threshold)


def resolution(posts: Sequence[RiskPost], config: RiskConfig) -> float:
    """How much a later positive post resolves the complaints: ``resolution_weight * p_positive``.

    Counts the most positive dated post that is not at-risk itself (complaint and churn
    below ``at_risk_threshold``) and comes after the customer's last dated at-risk post,
    or any such post when the customer has no at-risk post. So adding an at-risk post can
    only shrink the posts that resolve, never add to them.
    """
    dated = [p for p in posts if p.created_at is not None]
    at_risk_times = [p.created_at for p in dated if _is_at_risk_post(p, config)]
    last = max(at_risk_times, default=None)
    later = [p.p_positive for p in dated
             if not _is_at_risk_post(p, config) and (last is None or p.created_at > last)]
    return config.resolution_weight * max(later, default=0.0)


def customer_risk(posts: Sequence[RiskPost], config: RiskConfig,
                  window_start: datetime | None, window_end: datetime | None) -> CustomerRisk:
    """Combine one customer's posts about one brand in one window (already de-duplicated).

    ``risk = 1 - (1 - churn) * (1 - complaints * (1 - resolution))``; the risk is split over
    drivers in proportion to each one's share of ``-log(1 - risk)``.
    """
    if not posts:
        raise ValueError("customer_risk needs at least one post")
    terms = [post_terms(p, config) for p in posts]
    churn_terms = _damped([t[0] for t in terms], config.repeat_factor)
    complaint_terms = _damped([t[1] for t in terms], config.repeat_factor)
    churn = combine([t[0] for t in terms], config.repeat_factor)
    complaints = combine([t[1] for t in terms], config.repeat_factor)
    complaints *= 1.0 - resolution(posts, config)
    risk = min(1.0, max(0.0, 1.0 - (1.0 - churn) * (1.0 - complaints)))

    # Attribution: hazard of each damped term; a complaint term's hazard split over its drivers.
    drivers: dict[str, float] = {}
    per_post: dict[str, float] = {}
    churn_hazard = [-math.log1p(-t) for t in churn_terms]
    complaint_hazard = [-math.log1p(-t) for t in complaint_terms]
    total_complaint = sum(complaint_hazard)
    # The resolution discount scales the complaint part; rescale its hazards to match.
    scale = (-math.log1p(-complaints) / total_complaint) if total_complaint > 0 else 0.0
    for post, (_, _, hazards), h_churn, h_complaint in zip(
            posts, terms, churn_hazard, complaint_hazard, strict=True):
        h_complaint *= scale
        if h_churn > 0:
            drivers[CHURN_DRIVER] = drivers.get(CHURN_DRIVER, 0.0) + h_churn
        split = sum(hazards.values())
        for key, h in hazards.items() if split > 0 else ():  # zero weights: nothing to split
            drivers[key] = drivers.get(key, 0.0) + h_complaint * h / split
        per_post[post.post_id] = per_post.get(post.post_id, 0.0) + h_churn + h_complaint
    total = sum(drivers.values())
    shares = {k: v / total for k, v in sorted(drivers.items()) if v > 0} if total > 0 else {}
    ranked = sorted(per_post, key=lambda k: (-per_post[k], k))
    driving = tuple(k for k in ranked if total > 0 and per_post[k] / total >= 0.05)
    return CustomerRisk(brand=posts[0].brand, author_id=posts[0].customer,
                        window_start=window_start, window_end=window_end, risk=risk,
                        post_ids=driving, themes=shares, score_version=SCORE_VERSION)


# --- selection ----------------------------------------------------------------------------


def _handle(author: str) -> str:
    return author.strip().lstrip("@").casefold()


def is_bot_or_news(author_id: str, config: RiskConfig) -> bool:
    """The name rule for news and bot accounts (docs/risk.md, "Who counts")."""
    return re.search(config.bot_name_pattern, author_id.strip().lstrip("@")) is not None


def select_posts(posts: Iterable[RiskPost], config: RiskConfig
                 ) -> tuple[list[RiskPost], Exclusions]:
    """Drop brand accounts, news and bot accounts, and duplicates; count what went and why.

    A duplicate is a post id seen before, or the same author's same text (by
    ``dedup_key``) about the same brand at the same time (a repost or a double import);
    the first one stays. The same text posted again later is a repeated complaint and
    counts.
    """
    kept: list[RiskPost] = []
    seen_ids: set[str] = set()
    seen_texts: set[tuple] = set()
    counts = {"brand_account": 0, "bot_or_news": 0, "duplicate": 0}
    days_by_author: dict[str, set] = {}
    posts_by_author: dict[str, int] = {}
    candidates = []
    for post in posts:
        if post.post_id in seen_ids:
            counts["duplicate"] += 1
            continue
        seen_ids.add(post.post_id)
        if post.author_id and _handle(post.author_id) in config.excluded_authors:
            counts["brand_account"] += 1
            continue
        if post.author_id and is_bot_or_news(post.author_id, config):
            counts["bot_or_news"] += 1
            continue
        if post.text is not None:
            key = (post.brand, post.customer, dedup_key(post.text), post.created_at)
            if key in seen_texts:
                counts["duplicate"] += 1
                continue
            seen_texts.add(key)
        candidates.append(post)
        if post.author_id:
            posts_by_author[post.customer] = posts_by_author.get(post.customer, 0) + 1
            if post.created_at is not None:
                days_by_author.setdefault(post.customer, set()).add(post.created_at.date())
    for post in candidates:
        days = len(days_by_author.get(post.customer, ())) or 1
        if post.author_id and posts_by_author[post.customer] / days > config.max_posts_per_day:
            counts["bot_or_news"] += 1
            continue
        kept.append(post)
    return kept, Exclusions(**counts)


# --- windows ------------------------------------------------------------------------------


def parse_window(text: str) -> timedelta | None:
    """``'7d'``, ``'36h'``, ``'2w'`` as a timedelta; ``'all'`` as None (one window for all)."""
    value = text.strip().lower()
    if value == "all":
        return None
    match = re.fullmatch(r"(\d+)\s*([hdw])", value)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"window {text!r}: expected a positive length like 7d, 36h, 2w, or all")
    amount, unit = int(match.group(1)), match.group(2)
    days = amount / 24 if unit == "h" else amount * (7 if unit == "w" else 1)
    if days > MAX_WINDOW_DAYS:
        raise ValueError(f"window {text!r} is longer than {MAX_WINDOW_DAYS} days; use 'all' "
                         "for one window over everything")
    return timedelta(hours=amount) if unit == "h" else timedelta(days=amount * (7 if unit == "w"
                                                                                else 1))


def window_bounds(times: Sequence[datetime], window: timedelta | None,
                  anchor: datetime | None = None) -> list[tuple[datetime, datetime]]:
    """Consecutive windows covering ``times``, the last ending at the midnight (UTC) after the
    latest time; earliest first. ``window=None`` gives one window from the first day's
    midnight to the last day's next midnight.

    ``anchor`` pins the boundaries to ``anchor + k * window`` instead, so windows do not
    move as new posts arrive (the monitor's history keeps one point per window).
    """
    if not times:
        return []
    first, last = min(times), max(times)
    end = datetime.combine(last.date(), datetime.min.time(), last.tzinfo) + timedelta(days=1)
    if anchor is not None and window is not None:
        end = anchor + (((last - anchor) // window) + 1) * window
    if window is None:
        return [(datetime.combine(first.date(), datetime.min.time(), first.tzinfo), end)]
    bounds = []
    while end > first:
        bounds.append((end - window, end))
        end -= window
    return bounds[::-1]


def data_coverage(first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """The days the data covers: from the midnight (UTC) before its first post to the
    midnight after its last (a day with any post counts as covered)."""
    start = datetime.combine(first.date(), datetime.min.time(), first.tzinfo)
    end = datetime.combine(last.date(), datetime.min.time(), last.tzinfo) + timedelta(days=1)
    return start, end


def is_partial(start: datetime | None, end: datetime | None,
               coverage: tuple[datetime, datetime] | None) -> bool:
    """Whether the data covers the window ``[start, end)`` only in part: it starts after the
    window's start or ends before its end (:func:`data_coverage`)."""
    if coverage is None or start is None or end is None:
        return False
    return coverage[0] > start or coverage[1] < end


# --- brands -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A confidence interval and how it was computed ('bootstrap' or 'wilson')."""

    low: float
    high: float
    method: str


def bootstrap_means(values: np.ndarray, samples: int, rng: np.random.Generator,
                    max_cells: int = 2_000_000) -> np.ndarray:
    """Means of ``samples`` resamples (with replacement) of ``values``, drawn in chunks so
    memory stays near ``max_cells`` indices whatever the number of customers."""
    n = len(values)
    per_chunk = max(1, max_cells // n)
    means = [values[rng.integers(0, n, size=(min(per_chunk, samples - done), n))].mean(axis=1)
             for done in range(0, samples, per_chunk)]
    return np.concatenate(means)


def mean_interval(risks: np.ndarray, config: RiskConfig, rng: np.random.Generator) -> Interval:
    """Confidence interval of the mean customer risk.

    Percentile bootstrap over customers from ``min_bootstrap_customers`` up; below that the
    bootstrap is too narrow (one customer resamples to itself), so the Wilson score
    interval for a proportion is used: risks lie in [0, 1], so their variance is at most
    mean * (1 - mean) and the Wilson interval is conservative.
    """
    n, mean = len(risks), float(risks.mean())
    alpha = 1.0 - config.confidence
    if n >= config.min_bootstrap_customers:
        means = bootstrap_means(risks, config.bootstrap_samples, rng)
        low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
        return Interval(min(float(low), mean), max(float(high), mean), "bootstrap")
    z = _z(config.confidence)
    centre = (mean + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(mean * (1 - mean) / n + z * z / (4 * n * n))
    return Interval(max(0.0, min(centre - half, mean)), min(1.0, max(centre + half, mean)),
                    "wilson")


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def change_interval(now: np.ndarray, before: np.ndarray, config: RiskConfig,
                    rng: np.random.Generator) -> Interval:
    """Confidence interval of the change of mean risk between two windows (now - before).

    Bootstrap over each window's customers when both have ``min_bootstrap_customers``,
    else a normal interval with the conservative variance bound mean * (1 - mean).
    """
    alpha = 1.0 - config.confidence
    if min(len(now), len(before)) >= config.min_bootstrap_customers:
        b = config.bootstrap_samples
        diff = bootstrap_means(now, b, rng) - bootstrap_means(before, b, rng)
        low, high = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
        return Interval(float(low), float(high), "bootstrap")
    d = float(now.mean() - before.mean())
    se = math.sqrt(sum(float(x.mean()) * (1 - float(x.mean())) / len(x) for x in (now, before)))
    z = _z(config.confidence)
    return Interval(d - z * se, d + z * se, "normal")


def change_is_real(now: np.ndarray, before: np.ndarray, config: RiskConfig,
                   rng: np.random.Generator) -> bool:
    """Whether the change of mean risk between two windows exceeds the noise: the interval
    of the difference (:func:`change_interval`) excludes zero."""
    interval = change_interval(now, before, config, rng)
    return bool(interval.low > 0 or interval.high < 0)


@dataclass(frozen=True)
class BrandWindow:
    """A brand's risk in one window together with the customers behind it."""

    risk: BrandRisk
    customers: list[CustomerRisk]
    posts: int
    ci_method: str
    previous_share: float | None
    trend_significant: bool | None
    previous_customers: int | None = None
    trend_low: float | None = None  # the interval of the change against the previous window
    trend_high: float | None = None
    ranked: bool = True  # at least ``min_customers_ranked`` customers: ranked by share
    partial: bool = False  # the data covers this window only in part
    previous_partial: bool = False  # ... or the previous one: the trend is not compared
    earlier: bool = False  # some earlier window of the brand has customers


def ranking_key(brand: str, share: float, customers: int, ranked: bool) -> tuple:
    """The one order of brands in every table: ranked brands first, highest at-risk share
    first; then the brands with too few customers to rank, most customers first (never
    ordered by their share); ties by name."""
    return (not ranked, -share if ranked else -customers, brand)


def rank_windows(windows: Iterable[BrandWindow]) -> list[BrandWindow]:
    """The windows in :func:`ranking_key` order."""
    return sorted(windows, key=lambda w: ranking_key(w.risk.brand, w.risk.at_risk_share,
                                                     w.risk.customers, w.ranked))


def score_brands(posts: Iterable[RiskPost], config: RiskConfig = RiskConfig(),
                 window: timedelta | None = timedelta(days=7), anchor: datetime | None = None,
                 coverage: tuple[datetime, datetime] | None = None
                 ) -> tuple[list[BrandWindow], Exclusions]:
    """Every brand's risk in every window (earliest first per brand), and what was excluded.

    Undated posts count only when ``window`` is None (one window over everything, which
    is also what a file with no dated post gets). ``coverage`` is the span the data
    covers (default: :func:`data_coverage` of the dated posts given); a window it covers
    only in part is ``partial``, and a trend against or from a partial window is not
    compared (no interval, not significant).
    """
    kept, excluded = select_posts(posts, config)
    dated = [p for p in kept if p.created_at is not None]
    if window is not None and dated:
        outside = len(kept) - len(dated)
        kept = dated
    else:
        outside = 0
    bounds: list[tuple[datetime | None, datetime | None]] = list(
        window_bounds([p.created_at for p in dated], window if dated else None, anchor))
    if not bounds:  # nothing dated: one window without dates
        bounds = [(None, None)]
    if coverage is None and dated and window is not None:
        times = [p.created_at for p in dated]
        coverage = data_coverage(min(times), max(times))
    partial = [is_partial(start, end, coverage) if window is not None else False
               for start, end in bounds]

    groups: dict[tuple[str, int, str], list[RiskPost]] = {}
    starts = [b[0] for b in bounds]
    for post in kept:
        index = _window_index(post.created_at, starts) if len(bounds) > 1 else 0
        groups.setdefault((post.brand, index, post.customer), []).append(post)

    results: list[BrandWindow] = []
    by_brand: dict[str, dict[int, list[CustomerRisk]]] = {}
    post_counts: dict[tuple[str, int], int] = {}
    for (brand, index, _), customer_posts in sorted(groups.items()):
        start, end = bounds[index]
        by_brand.setdefault(brand, {}).setdefault(index, []).append(
            customer_risk(customer_posts, config, start, end))
        post_counts[(brand, index)] = post_counts.get((brand, index), 0) + len(customer_posts)
    for brand in sorted(by_brand):
        previous: np.ndarray | None = None
        earlier = False
        for index in range(len(bounds)):
            customers = by_brand[brand].get(index)
            if not customers:
                previous = None
                continue
            risks = np.array([c.risk for c in customers])
            # One random stream per (brand, window), keyed by the window's start: a brand's
            # interval depends neither on the other brands in the file nor on how many
            # windows before it were read (the monitor's history stays put).
            start = bounds[index][0]
            key = int(start.timestamp()) & 0xFFFFFFFF if start is not None else index
            rng = np.random.default_rng([config.seed, _stable_int(brand), key])
            scored = _brand_window(brand, bounds[index], customers, risks, previous,
                                   post_counts[(brand, index)], config, rng)
            was_partial = index > 0 and partial[index - 1]
            if (partial[index] or was_partial) and previous is not None:
                # A part-window against a whole one is no like-for-like change.
                scored = replace(scored, trend_significant=None, trend_low=None,
                                 trend_high=None)
            results.append(replace(scored, partial=partial[index], previous_partial=was_partial,
                                   earlier=earlier))
            previous = risks
            earlier = True
    return results, Exclusions(excluded.brand_account, excluded.bot_or_news, excluded.duplicate,
                               outside)


def _brand_window(brand: str, bounds: tuple[datetime | None, datetime | None],
                  customers: list[CustomerRisk],
                  risks: np.ndarray, previous: np.ndarray | None, posts: int,
                  config: RiskConfig, rng: np.random.Generator) -> BrandWindow:
    share = float(risks.mean())
    interval = mean_interval(risks, config, rng)
    weighted: dict[str, float] = {}
    for c in customers:
        for key, part in c.themes.items():
            weighted[key] = weighted.get(key, 0.0) + c.risk * part
    total = sum(weighted.values())
    drivers = {k: v / total for k, v in sorted(weighted.items(), key=lambda kv: -kv[1])} \
        if total > 0 else {}
    trend = significant = previous_share = change = None
    if previous is not None:
        previous_share = float(previous.mean())
        trend = share - previous_share
        change = change_interval(risks, previous, config, rng)
        significant = bool(change.low > 0 or change.high < 0)
    risk = BrandRisk(brand=brand, window_start=bounds[0], window_end=bounds[1],
                     customers=len(customers), at_risk_share=share, ci_low=interval.low,
                     ci_high=interval.high, expected_at_risk=share * len(customers),
                     trend=trend, drivers=drivers, score_version=SCORE_VERSION)
    ranked = sorted(customers, key=lambda c: (-c.risk, c.author_id))
    return BrandWindow(risk, ranked, posts, interval.method, previous_share, significant,
                       None if previous is None else len(previous),
                       None if change is None else change.low,
                       None if change is None else change.high,
                       ranked=len(customers) >= config.min_customers_ranked)


def _stable_int(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def _window_index(moment: datetime, starts: list[datetime]) -> int:
    return bisect.bisect_right(starts, moment) - 1
