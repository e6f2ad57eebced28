"""View models of the monitoring dashboard: the store's risk history turned into what the
pages and the JSON endpoints show.

Pure functions over the store's records (:class:`~radar.store.history.HistoryPoint`,
:class:`~radar.store.history.WindowCustomer`, :class:`~radar.store.history.StoredAlert`);
no web framework and no store access here, so the pages' content is tested without a
server. Charts are plotly figures as plain dicts (what ``Plotly.newPlot`` takes), so the
Python plotly package is never imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from nlp.risk import BASE_DRIVER, CHURN_DRIVER, DRIVER_KEYS, RiskConfig, ranking_key
from nlp.taxonomy import THEMES
from nlp.text import mask_for_display
from nlp.trend import TREND_ARROWS, trend_label
from radar.dashboard.daterange import DateRange
from radar.store.history import HistoryPoint, StoredAlert, WindowCustomer, display_source

DEFAULT_MIN_RISK = 0.5
DEFAULT_CUSTOMER_LIMIT = 50
TOP_DRIVERS = 3
RECENT_ALERTS = 5
CONFIDENCE_LABEL = "95% CI"  # risk.v1 computes its intervals at RiskConfig.confidence = 0.95
MONITOR_COMMAND = "radar monitor --config <config.yaml> --once"

TREND_WORDS = {"up": "rise beyond the noise", "down": "fall beyond the noise",
               "flat": "change within the noise", "new": "no earlier window to compare",
               "gap": "no customers in the window before, so no change to compare",
               "partial": "the posts cover this window or the one before only in part, so "
                          "the change is not compared"}
MIN_CUSTOMERS_RANKED = RiskConfig.min_customers_ranked  # below it a brand is listed apart
DRIVER_LABELS = {
    CHURN_DRIVER: "churn intent", "waiting": "waiting", "ivr_menu": "phone menus and bots",
    "not_known": "doesn't know me", "unresolved": "unresolved",
    "staff_attitude": "staff attitude", "self_service": "self-service", "billing": "billing",
    "product_failure": "product failure", "marketing_spam": "marketing and spam",
    BASE_DRIVER: "unthemed complaint",
}
DRIVER_DEFINITIONS = {
    CHURN_DRIVER: "the customer says they will leave, or have left",
    **{theme.key: theme.definition for theme in THEMES},
    BASE_DRIVER: "complaint evidence that no predicted theme explains",
}
SHARE_COLOR = "#c0392b"
BAND_COLOR = "rgba(192, 57, 43, 0.18)"
VOLUME_COLOR = "rgba(95, 107, 122, 0.28)"
VOLUME_HEADROOM = 2.5  # the post bars rise to at most 1/2.5 of the chart, below the line


# --- messages and formatting ------------------------------------------------------------------


def missing_store_message() -> str:
    """What the pages say before the monitor has written a store. The path is not shown:
    where the server keeps its files is not a page visitor's business (the operator set it,
    with ``RADAR_DB`` or ``--db``)."""
    return f"no store yet (at the file or database RADAR_DB names); run `{MONITOR_COMMAND}`"


def empty_history_message(score_version: str) -> str:
    """What the pages say when the store holds no risk history of ``score_version`` yet
    (no path, as in :func:`missing_store_message`)."""
    return f"the store holds no risk history ({score_version}) yet; run `{MONITOR_COMMAND}`"


def unknown_brand_message(brand: str, brands: Sequence[str]) -> str:
    known = ", ".join(brands) if brands else "none yet"
    return f"no brand {brand!r} in the risk history; brands: {known}"


def unknown_theme_message(theme: str) -> str:
    return f"unknown theme {theme!r}; valid themes: {', '.join(DRIVER_KEYS)}"


def empty_range_message(dates: DateRange, history: Sequence[HistoryPoint],
                        brand: str | None = None) -> str:
    """What a page says when no window of ``history`` (a brand's, or all brands') overlaps
    the range."""
    who = f"{brand} has no" if brand else "no brand has a"
    first = min(p.window_start for p in history)
    last = max(p.window_end for p in history)
    return (f"{who} risk window overlapping the days {dates.describe()}; the history runs "
            f"from {format_day(first)} to {format_day(last)}")


def percent(value: float | None, digits: int = 1) -> str:
    """0.4123 -> ``41.2%``; None -> an en dash."""
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def points_change(value: float | None, digits: int = 1) -> str:
    """A change of share in percentage points, signed: 0.041 -> ``+4.1 pts``."""
    return "–" if value is None else f"{value * 100:+.{digits}f} pts"


def format_utc(moment: datetime | None) -> str:
    """``2024-02-12 06:00 UTC`` (all stored times are UTC)."""
    return "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def format_day(moment: datetime | None) -> str:
    return "–" if moment is None else moment.strftime("%Y-%m-%d")


def with_query(path: str, params: Mapping[str, str | None]) -> str:
    """``path`` with the non-empty ``params`` as its query string."""
    kept = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


def brand_href(brand: str, theme: str | None = None, dates: DateRange | None = None,
               suffix: str = "") -> str:
    """The brand page's path (``suffix``: one of its exports), keeping the theme and date
    range; any character of a brand name survives the trip."""
    path = "/brands/" + quote(brand, safe="") + suffix
    return with_query(path, {"theme": theme, **(dates.params() if dates else {})})


def overview_href(dates: DateRange | None = None, path: str = "/") -> str:
    """The overview (or its export, ``path``), keeping the date range."""
    return with_query(path, dates.params() if dates else {})


# --- trends and drivers -------------------------------------------------------------------------


def point_trend(point: HistoryPoint) -> str:
    """The point's trend label (:func:`nlp.trend.trend_label`), partial windows included."""
    return trend_label(point.trend, point.trend_significant,
                       point.partial or point.previous_partial, point.earlier)


def trend_title(point: HistoryPoint) -> str:
    """The change and its interval in words (the arrow's tooltip)."""
    label = point_trend(point)
    if label in ("new", "gap", "partial") or point.trend is None:
        return TREND_WORDS[label]
    interval = ""
    if point.trend_low is not None and point.trend_high is not None:
        interval = (f" ({CONFIDENCE_LABEL} {points_change(point.trend_low)} to "
                    f"{points_change(point.trend_high)})")
    return f"{points_change(point.trend)}{interval} against the previous window: " \
           f"{TREND_WORDS[label]}"


@dataclass(frozen=True)
class Driver:
    """A driver of risk (churn intent, a theme, or unthemed complaint) and its share."""

    key: str
    label: str
    definition: str
    share: float | None = None


def driver(key: str, share: float | None = None) -> Driver:
    return Driver(key, DRIVER_LABELS.get(key, key.replace("_", " ")),
                  DRIVER_DEFINITIONS.get(key, ""), share)


def ranked_drivers(drivers: Mapping[str, float], limit: int | None = None) -> tuple[Driver, ...]:
    """Drivers by share, largest first (ties by key), at most ``limit``."""
    ranked = sorted(((k, v) for k, v in drivers.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))
    return tuple(driver(k, v) for k, v in ranked[:limit])


def theme_choices() -> tuple[Driver, ...]:
    """What the theme filter offers: every driver a customer can have."""
    return tuple(driver(key) for key in DRIVER_KEYS)


def check_theme(theme: str | None) -> str | None:
    """The filter's theme, or None for all (an empty value too).

    Raises:
        ValueError: not a driver key; the message lists the valid ones.
    """
    if theme is None or not theme.strip():
        return None
    if theme not in DRIVER_KEYS:
        raise ValueError(unknown_theme_message(theme))
    return theme


# --- the overview -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrandRow:
    """One brand's latest window, as a row of the overview (and the brand page's header)."""

    brand: str
    href: str
    at_risk_share: float
    ci_low: float
    ci_high: float
    ci_method: str
    trend: str  # up, down, flat, new, gap, partial
    arrow: str
    trend_change: float | None
    trend_title: str
    drivers: tuple[Driver, ...]
    customers: int
    posts: int
    expected_at_risk: float
    window_start: datetime
    window_end: datetime
    computed_at: datetime
    model_version: str
    score_version: str
    ranked: bool = True  # enough customers to rank by share (MIN_CUSTOMERS_RANKED)
    partial: bool = False  # the posts cover the window only in part


def brand_row(point: HistoryPoint, top: int = TOP_DRIVERS,
              dates: DateRange | None = None) -> BrandRow:
    label = point_trend(point)
    return BrandRow(
        brand=point.brand, href=brand_href(point.brand, dates=dates),
        at_risk_share=point.at_risk_share,
        ci_low=point.ci_low, ci_high=point.ci_high, ci_method=point.ci_method, trend=label,
        arrow=TREND_ARROWS[label], trend_change=point.trend, trend_title=trend_title(point),
        drivers=ranked_drivers(point.drivers, top), customers=point.customers,
        posts=point.posts, expected_at_risk=point.expected_at_risk,
        window_start=point.window_start, window_end=point.window_end,
        computed_at=point.computed_at, model_version=point.model_version,
        score_version=point.score_version, ranked=point.customers >= MIN_CUSTOMERS_RANKED,
        partial=point.partial)


def overview_rows(points: Iterable[HistoryPoint],
                  dates: DateRange | None = None) -> list[BrandRow]:
    """Each brand's latest point: the ranked brands, highest at-risk share first (ties by
    name), then those with fewer than ``MIN_CUSTOMERS_RANKED`` customers, most customers
    first, never ranked by share; the rows link to brand pages over the same ``dates``."""
    ordered = sorted(points, key=lambda p: ranking_key(p.brand, p.at_risk_share, p.customers,
                                                       p.customers >= MIN_CUSTOMERS_RANKED))
    return [brand_row(p, dates=dates) for p in ordered]


def latest_in_range(histories: Iterable[Sequence[HistoryPoint]],
                    dates: DateRange) -> list[HistoryPoint]:
    """Each brand's latest point in the range (histories earliest first, one per brand); a
    brand without a window in it is left out."""
    return [shown[-1] for shown in (dates.select(h) for h in histories) if shown]


def find_brand(brands: Iterable[str], name: str) -> str | None:
    """The stored brand called ``name``: exactly, else ignoring case."""
    brands = list(brands)
    if name in brands:
        return name
    folded = [b for b in brands if b.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


# --- charts (plotly figures as dicts) -------------------------------------------------------------


def _x(point: HistoryPoint) -> str:
    # Plotly reads "YYYY-MM-DD HH:MM" as a date; the axis says the times are UTC.
    return point.window_start.strftime("%Y-%m-%d %H:%M")


def _date_axis(history: Sequence[HistoryPoint]) -> dict[str, Any]:
    """One tick per window start, labelled by day (weekly windows need no finer ticks)."""
    axis: dict[str, Any] = {"type": "date", "title": {"text": "window start (UTC)"}}
    if 1 < len(history) <= 16:
        axis.update(tickmode="array", tickvals=[_x(p) for p in history],
                    ticktext=[p.window_start.strftime("%b %d") for p in history])
    return axis


def _window_text(point: HistoryPoint) -> str:
    return f"{format_day(point.window_start)} – {format_day(point.window_end)}"


def model_changes(history: Sequence[HistoryPoint]) -> list[int]:
    """Indexes of the points whose model version differs from the point before."""
    return [i for i in range(1, len(history))
            if history[i].model_version != history[i - 1].model_version]


def with_gaps(history: Sequence[HistoryPoint]) -> list[HistoryPoint | None]:
    """The points, with None where windows without customers lie between two of them (the
    charts draw a gap there, not a line across)."""
    out: list[HistoryPoint | None] = []
    for before, point in zip([None, *history], history, strict=False):
        if before is not None and point.window_start > before.window_end:
            out.append(None)
        out.append(point)
    return out


def _gap_x(history: Sequence[HistoryPoint | None]) -> list[str]:
    """x values where a None stands for a gap: its x is the end of the window before."""
    return [_x(p) if p is not None else history[i - 1].window_end.strftime("%Y-%m-%d %H:%M")
            for i, p in enumerate(history)]


def risk_figure(history: Sequence[HistoryPoint]) -> dict[str, Any]:
    """At-risk share over time with its confidence band, posts per window as bars beside
    it, and a marker where the model changed.

    The band is two traces: the lower bound (invisible) and the upper bound filled down to
    it (``fill: tonexty``). The bars show how many posts a share stands on. Plotly draws an
    overlaying axis's traces above the base axis's, whatever their order or ``zorder``, so
    the bars take the base axis (``yaxis``, on the right) and the share the overlaying one
    (``yaxis2``, on the left): the line stays on top.
    """
    x = [_x(p) for p in history]
    shares = [p.at_risk_share for p in history]
    posts = [p.posts for p in history]
    gapped = with_gaps(history)
    gx = _gap_x(gapped)

    def line(value) -> list:
        return [None if p is None else value(p) for p in gapped]

    data: list[dict[str, Any]] = [
        {"type": "scatter", "x": gx, "y": line(lambda p: p.ci_low), "yaxis": "y2",
         "mode": "lines", "line": {"width": 0, "color": BAND_COLOR}, "hoverinfo": "skip",
         "showlegend": False, "name": "interval low", "connectgaps": False},
        {"type": "scatter", "x": gx, "y": line(lambda p: p.ci_high), "yaxis": "y2",
         "mode": "lines", "line": {"width": 0, "color": BAND_COLOR}, "fill": "tonexty",
         "fillcolor": BAND_COLOR, "hoverinfo": "skip", "name": CONFIDENCE_LABEL,
         "connectgaps": False},
        {"type": "scatter", "x": gx, "y": line(lambda p: p.at_risk_share), "yaxis": "y2",
         "mode": "lines+markers", "connectgaps": False,
         "name": "share at risk", "line": {"color": SHARE_COLOR, "width": 2.5},
         "marker": {"size": 7},
         "customdata": line(lambda p: [p.ci_low, p.ci_high, p.customers, p.model_version,
                                       _window_text(p)]),
         "hovertemplate": ("%{customdata[4]}<br>share at risk %{y:.1%} "
                           f"({CONFIDENCE_LABEL} " "%{customdata[0]:.1%} – %{customdata[1]:.1%})"
                           "<br>%{customdata[2]} customers, model %{customdata[3]}"
                           "<extra></extra>")},
        {"type": "bar", "x": x, "y": posts, "name": "posts per window",
         "marker": {"color": VOLUME_COLOR},
         "customdata": [[p.customers, _window_text(p)] for p in history],
         "hovertemplate": ("%{customdata[1]}<br>%{y} posts from %{customdata[0]} customers"
                           "<extra></extra>")},
    ]
    changes = model_changes(history)
    shapes, annotations = [], []
    if changes:
        data.append({
            "type": "scatter", "x": [x[i] for i in changes], "y": [shares[i] for i in changes],
            "yaxis": "y2", "mode": "markers", "name": "model changed",
            "marker": {"symbol": "diamond-open", "size": 15, "color": "#2c3e50",
                       "line": {"width": 2}},
            "text": [f"{history[i - 1].model_version} → {history[i].model_version}"
                     for i in changes],
            "hovertemplate": "model changed: %{text}<extra></extra>"})
        for i in changes:
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": x[i], "x1": x[i],
                           "y0": 0, "y1": 1, "line": {"dash": "dot", "width": 1,
                                                      "color": "#2c3e50"}})
            annotations.append({"x": x[i], "y": 1, "xref": "x", "yref": "paper",
                                "text": f"model {history[i].model_version}", "showarrow": False,
                                "xanchor": "left", "yanchor": "bottom",
                                "font": {"size": 11, "color": "#2c3e50"}})
    layout = {
        "height": 360, "margin": {"l": 60, "r": 60, "t": 36, "b": 40},
        "xaxis": _date_axis(history),
        "yaxis": {"title": {"text": "posts per window"}, "side": "right", "showgrid": False,
                  "tickformat": "d", "range": [0, max(posts, default=0) * VOLUME_HEADROOM or 1]},
        # tickmode "auto": an overlaying axis syncs its ticks to the base one by default.
        "yaxis2": {"title": {"text": "customers at risk"}, "tickformat": ".0%",
                   "rangemode": "tozero", "overlaying": "y", "side": "left", "tickmode": "auto"},
        "legend": {"orientation": "h", "x": 0, "y": 1.12},
        "shapes": shapes, "annotations": annotations,
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
    }
    return {"data": data, "layout": layout}


def driver_figure(history: Sequence[HistoryPoint]) -> dict[str, Any]:
    """Each driver's part of the at-risk share over time, stacked: its share of the brand's
    risk times the at-risk share, so the stack's top is the at-risk share itself."""
    gapped = with_gaps(history)
    x = _gap_x(gapped)
    totals: dict[str, float] = {}
    for p in history:
        for key, share in p.drivers.items():
            totals[key] = totals.get(key, 0.0) + share * p.at_risk_share
    order = sorted((k for k, v in totals.items() if v > 0), key=lambda k: (-totals[k], k))
    data = []
    for key in order:
        label = driver(key).label
        data.append({"type": "scatter", "x": x, "mode": "lines", "stackgroup": "drivers",
                     "name": label, "line": {"width": 0.5},
                     "connectgaps": False,
                     "y": [None if p is None else p.drivers.get(key, 0.0) * p.at_risk_share
                           for p in gapped],
                     "hovertemplate": f"{label}: " "%{y:.1%}<extra></extra>"})
    layout = {
        "height": 340, "margin": {"l": 60, "r": 20, "t": 20, "b": 40},
        "xaxis": _date_axis(history),
        "yaxis": {"title": {"text": "share of customers, by driver"}, "tickformat": ".0%",
                  "rangemode": "tozero"},
        "hovermode": "x unified", "legend": {"orientation": "v"},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
    }
    return {"data": data, "layout": layout}


# --- customers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostView:
    """A post as the dashboard shows it: text masked (:func:`nlp.text.mask_for_display`),
    the source without a server path, a link only to an http(s) URL."""

    source: str
    text: str
    created_at: datetime | None
    url: str | None


@dataclass(frozen=True)
class CustomerView:
    """An at-risk customer under a pseudonym, with their drivers and the posts behind them."""

    pseudonym: str
    risk: float
    drivers: tuple[Driver, ...]
    posts: tuple[PostView, ...]

    @property
    def driver_keys(self) -> str:
        """Space-separated driver keys (the element's ``data-drivers``)."""
        return " ".join(d.key for d in self.drivers)


def main_drivers(drivers: Mapping[str, float]) -> tuple[Driver, ...]:
    """The drivers that matter for a customer (:func:`radar.store.history.has_theme`), at least the
    biggest: a model gives every theme a little, so listing all of them says nothing."""
    from radar.store.history import has_theme

    ranked = ranked_drivers(drivers)
    return tuple(d for d in ranked if has_theme(drivers, d.key)) or ranked[:1]


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) one; anything else (``javascript:``, relative)
    is not linked."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def customer_views(rows: Iterable[WindowCustomer],
                   pseudonymize: Callable[[str], str]) -> list[CustomerView]:
    """``window_customers`` rows for display: pseudonyms instead of author ids (an
    anonymous one for a post without an author), post texts masked
    (:func:`nlp.text.mask_for_display`: handles, links, e-mail addresses, phone and card
    numbers), sources without server paths (:func:`radar.store.history.display_source`)."""
    views = []
    for row in rows:
        posts = tuple(PostView(source=display_source(post.source),
                               text=mask_for_display(post.text),
                               created_at=post.created_at, url=safe_url(post.url))
                      for post in row.posts)
        views.append(CustomerView(pseudonym=pseudonymize(row.customer), risk=row.risk,
                                  drivers=main_drivers(row.drivers), posts=posts))
    return views


# --- JSON records -------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def point_record(point: HistoryPoint) -> dict[str, Any]:
    """A history point for JSON: ``HistoryPoint.to_dict`` plus its trend label."""
    return {**point.to_dict(), "trend_label": point_trend(point),
            "ranked": point.customers >= MIN_CUSTOMERS_RANKED}


def customer_record(view: CustomerView) -> dict[str, Any]:
    return {"customer": view.pseudonym, "risk": view.risk,
            "drivers": {d.key: d.share for d in view.drivers},
            "posts": [{"source": p.source, "text": p.text, "created_at": _iso(p.created_at),
                       "url": p.url} for p in view.posts]}


# --- alerts -------------------------------------------------------------------------------------


ALERT_KINDS = {"risk_rise": "risk rise", "theme_jump": "theme jump"}
ALERT_EXAMPLES = 3


@dataclass(frozen=True)
class AlertView:
    """A recorded alert in a line or two, its example posts, and how its deliveries went."""

    kind: str
    headline: str  # says which window (the alert's own wording)
    change: str
    top_driver: str
    examples: tuple[PostView, ...]
    deliveries: tuple[str, ...]


def alert_views(alerts: Iterable[StoredAlert], limit: int = RECENT_ALERTS) -> list[AlertView]:
    """The newest alerts (``alert_payloads`` order) in words.

    Reads the fields of :meth:`radar.monitor.alerts.Alert.to_payload` (``headline``,
    ``change_text``, ``top_driver``, ``examples``) and falls back on what every recorded
    alert has (its kind and window) and on the payload's ``change``, so an alert recorded
    by an older or newer monitor still shows. Texts are masked again
    (:func:`nlp.text.mask_for_display`) and sources shown without a path, whatever the
    monitor that recorded the alert did.
    """
    views = []
    for alert in list(alerts)[:limit]:
        payload = alert.payload
        kind = alert.kind
        fallback = (ALERT_KINDS.get(kind, kind.replace("_", " "))
                    + f" (window ending {alert.window_end.date().isoformat()})")
        headline = next((str(payload[k]) for k in ("headline", "summary", "text", "title")
                         if isinstance(payload.get(k), str) and payload[k].strip()), fallback)
        change = payload.get("change_text")
        if not isinstance(change, str):
            number = payload.get("change")
            change = points_change(number) if isinstance(number, int | float) else ""
        top = payload.get("top_driver")
        top_text = (f"{driver(str(top['driver'])).label} {percent(top.get('share'), 0)}"
                    if isinstance(top, Mapping) and top.get("driver") else "")
        examples = tuple(
            PostView(source=display_source(str(e.get("source") or "")),
                     text=mask_for_display(str(e.get("text") or "")),
                     created_at=_any_time(e.get("created_at")), url=safe_url(e.get("url")))
            for e in (payload.get("examples") or [])[:ALERT_EXAMPLES]
            if isinstance(e, Mapping))
        deliveries = tuple(f"{d.channel}: {d.status}"
                           + (f" after {d.attempts} attempts" if d.attempts > 1 else "")
                           for d in alert.deliveries)
        views.append(AlertView(kind=ALERT_KINDS.get(kind, kind.replace("_", " ")),
                               headline=mask_for_display(headline), change=change,
                               top_driver=top_text, examples=examples,
                               deliveries=deliveries))
    return views


def _any_time(value: Any) -> datetime | None:
    """An ISO 8601 time as alerts store it, or the store's own format; None if neither."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
