"""Alert rules over the risk history, and the messages an alert becomes: pure Python.

Two rules, both between a brand's latest window and the window just before it:

- ``risk_rise``: the at-risk share rose beyond the noise, i.e. the confidence interval
  of the change (:func:`nlp.risk.change_interval`, stored on the point as
  ``trend_low``/``trend_high``) lies above zero. No fixed threshold: a small brand needs
  a bigger rise than a large one.
- ``theme_jump``: one driver's share of the brand's risk rose by at least
  ``AlertRules.theme_jump`` (absolute) and now makes up at least ``theme_min_share``.

Both need ``min_customers`` in each window. An alert carries the change, the top
driver and a few example posts, masked with :func:`nlp.text.mask_for_display` (handles,
links, e-mail addresses, phone and card numbers), their sources without server paths,
and without author or post ids. Delivery and its bookkeeping live in
:mod:`radar.monitor.notify`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from nlp.risk import BASE_DRIVER
from nlp.text import mask_for_display
from radar.store import parse_stored_time
from radar.store.history import (
    HistoryPoint,
    StoredPost,
    WindowCustomer,
    display_source,
    has_theme,
)

RISK_RISE = "risk_rise"
THEME_JUMP = "theme_jump"
KINDS = (RISK_RISE, THEME_JUMP)
EXAMPLE_CHARS = 280  # an example longer than this is shortened in messages (not in the payload)
MAX_EXAMPLES = 20  # Slack refuses sections over 3,000 characters
EPS = 1e-12


@dataclass(frozen=True)
class AlertRules:
    """When an alert fires; the ``alerts`` section of the monitor's YAML config."""

    min_customers: int = 20  # in both windows
    theme_jump: float = 0.15  # absolute rise of a driver's share of risk
    theme_min_share: float = 0.10  # the driver's share in the latest window, at least
    examples: int = 3  # example posts per alert

    def __post_init__(self) -> None:
        for name in ("min_customers", "examples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"AlertRules.{name} must be a whole number, got {value!r}")
        if self.min_customers < 1:
            raise ValueError(f"AlertRules.min_customers must be >= 1, got {self.min_customers}")
        if not 0 <= self.examples <= MAX_EXAMPLES:
            raise ValueError(f"AlertRules.examples must be in [0, {MAX_EXAMPLES}], "
                             f"got {self.examples}")
        for name in ("theme_jump", "theme_min_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"AlertRules.{name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not 0.0 < self.theme_jump <= 1.0:
            raise ValueError(f"AlertRules.theme_jump must be in (0, 1] (a share of risk), "
                             f"got {self.theme_jump}")
        if not 0.0 <= self.theme_min_share <= 1.0:
            raise ValueError(f"AlertRules.theme_min_share must be in [0, 1], "
                             f"got {self.theme_min_share}")

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | None) -> AlertRules:
        """From the YAML config; absent keys keep their defaults, unknown keys are an error."""
        if mapping is not None and not isinstance(mapping, Mapping):
            raise ValueError(f"alert rules must be a mapping of rule to value, got "
                             f"{type(mapping).__name__}")
        mapping = dict(mapping or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown alert rule keys {unknown}; known: {sorted(known)}")
        return cls(**mapping)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Alert:
    """One rule firing for one brand and window: what is sent, and what is recorded.

    ``share``/``previous_share``/``change`` are the at-risk share for ``risk_rise`` and
    the theme's share of risk for ``theme_jump`` (which has no interval, so
    ``change_low``/``change_high`` are None). ``top_driver`` is the latest window's
    biggest driver as ``(driver, share of risk)``. ``examples`` are masked posts
    (``text``, ``url``, ``created_at``, ``source``), never author ids: whatever they are
    given (an alert recorded by an older monitor, sent again, too), they hold the text
    masked by :func:`nlp.text.mask_for_display`, the source without a server path and
    only an http(s) URL.
    """

    key: str
    kind: str
    brand: str
    window_start: datetime
    window_end: datetime
    previous_window_end: datetime
    share: float
    previous_share: float
    change: float
    change_low: float | None
    change_high: float | None
    theme: str | None
    top_driver: tuple[str, float] | None
    customers: int
    examples: tuple[dict[str, Any], ...]
    model_version: str
    score_version: str
    previous_customers: int | None = None
    confidence: float = 0.95  # of the change's interval (risk.v1's default)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Alert.kind must be one of {KINDS}, got {self.kind!r}")
        if (self.theme is None) != (self.kind == RISK_RISE):
            raise ValueError(f"Alert.theme must be set for {THEME_JUMP} and only for it "
                             f"(kind {self.kind!r}, theme {self.theme!r})")
        object.__setattr__(self, "examples", tuple(_masked_example(e) for e in self.examples))

    # --- wording ---------------------------------------------------------------------------

    @property
    def period(self) -> str:
        """'week ending 2026-11-30' (the last day inside the window)."""
        last_day = (self.window_end - timedelta(microseconds=1)).date().isoformat()
        unit = "week" if self.window_end - self.window_start == timedelta(days=7) else "window"
        return f"{unit} ending {last_day}"

    @property
    def summary(self) -> str:
        """'share of customers at risk up 6.2 pts (week ending 2026-11-30)'."""
        what = ("share of customers at risk" if self.kind == RISK_RISE
                else f"'{self.theme}' share of risk")
        return f"{what} up {abs(self.change) * 100:.1f} pts ({self.period})"

    @property
    def headline(self) -> str:
        """The summary after the brand: the e-mail subject and the Slack fallback text."""
        return f"{self.brand} {self.summary}"

    def change_text(self) -> str:
        """'+6.2 pts (95% CI +2.1 to +10.3)'; the interval only where there is one."""
        text = _points(self.change)
        if self.change_low is not None and self.change_high is not None:
            text += (f" ({self.confidence * 100:g}% CI {_points(self.change_low, unit=False)}"
                     f" to {_points(self.change_high, unit=False)})")
        return text

    def _facts(self) -> list[tuple[str, str]]:
        what = ("Share of customers at risk" if self.kind == RISK_RISE
                else f"Share of risk from '{self.theme}'")
        return [
            ("Brand", self.brand),
            ("Change", f"{self.change_text()}, {what.lower()} {self.previous_share:.1%} -> "
                       f"{self.share:.1%}"),
            ("Window", f"{_day(self.window_start)} to {_day(self.window_end, last=True)} "
                       f"(against the window ending {_day(self.previous_window_end, last=True)})"),
            ("Customers", f"{self.customers}" + (f" (previous window {self.previous_customers})"
                                                  if self.previous_customers is not None else "")),
            ("Top driver", _driver_text(self.top_driver)),
        ]

    # --- outputs ---------------------------------------------------------------------------

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready: every field, times as ISO 8601 UTC, plus the headline."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("window_start", "window_end", "previous_window_end"):
            out[name] = _iso(out[name])
        out["top_driver"] = (None if self.top_driver is None else
                             {"driver": self.top_driver[0], "share": self.top_driver[1]})
        out["examples"] = [dict(e) for e in self.examples]
        out["headline"] = self.headline
        out["change_text"] = self.change_text()
        return out

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Alert:
        """The alert back from :meth:`to_payload` (how a recorded alert is sent again)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in payload.items() if k in names}
        for name in ("window_start", "window_end", "previous_window_end"):
            values[name] = datetime.fromisoformat(str(values[name]).replace("Z", "+00:00"))
        top = values.get("top_driver")
        values["top_driver"] = None if top is None else (top["driver"], float(top["share"]))
        values["examples"] = tuple(dict(e) for e in values.get("examples") or ())
        return cls(**values)

    def slack_payload(self) -> dict[str, Any]:
        """A Slack incoming-webhook message; the full alert rides along under ``"radar"``.

        Every text Slack formats (the fallback ``text``, the sections, the context) has
        ``&``, ``<`` and ``>`` escaped, so a brand or a post cannot mention ``<!channel>``
        or make a link of its own; example links are percent-encoded where Slack's
        ``<url|label>`` form would break. ``"radar"`` is data, kept exact.
        """
        lines = [f"*{_mrkdwn(self.brand)}*: {_mrkdwn(self.summary)}"]
        lines += [f"*{name}:* {_mrkdwn(value)}" for name, value in self._facts()[1:]]
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
        if self.examples:
            quoted = [_slack_example(e) for e in self.examples]
            blocks.append({"type": "section", "text": {
                "type": "mrkdwn", "text": "*Example posts*\n" + "\n".join(quoted)}})
        blocks.append({"type": "context", "elements": [{
            "type": "mrkdwn", "text": _mrkdwn(f"model {self.model_version} · score "
                                              f"{self.score_version} · alert {self.key}")}]})
        return {"text": _mrkdwn(f"complaint-radar: {self.headline}"), "blocks": blocks,
                "radar": self.to_payload()}

    def email_text(self) -> str:
        """The plain-text e-mail body."""
        lines = [self.headline, ""]
        lines += [f"{name}: {value}" for name, value in self._facts()]
        if self.examples:
            lines += ["", "Example posts:"]
            for number, example in enumerate(self.examples, start=1):
                lines.append(f'{number}. "{_shorten(example.get("text") or "")}"')
                where = ", ".join(str(v) for v in (example.get("source"),
                                                    _display_time(example.get("created_at")),
                                                    example.get("url")) if v)
                if where:
                    lines.append(f"   {where}")
        lines += ["", f"Model {self.model_version}, score {self.score_version}.",
                  f"Alert {self.key}"]
        return "\n".join(lines) + "\n"

    def email_message(self, sender: str, recipients: Sequence[str],
                      date: datetime | None = None) -> EmailMessage:
        """The alert as an e-mail from ``sender`` to ``recipients`` (plain text).

        Raises:
            ValueError: no sender or no recipients.
        """
        if isinstance(recipients, str):
            recipients = [recipients]
        if not sender or not recipients or not all(recipients):
            raise ValueError(f"an alert e-mail needs a sender and recipients, got {sender!r} "
                             f"and {list(recipients)!r}")
        # Folding at 78 characters puts a subject of just that length on a line of its own,
        # which readers unfold with a leading space; no subject of ours comes near 998.
        message = EmailMessage(policy=email_policy.default.clone(max_line_length=998))
        message["Subject"] = f"complaint-radar: {self.headline}"
        message["From"] = sender
        message["To"] = ", ".join(recipients)
        domain = sender.rpartition("@")[2] or "complaint-radar"
        # Derived from the alert's key: if a delivery is repeated (a crash between sending
        # and recording it), mail systems see the same message and can drop the copy.
        digest = hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:32]
        message["Message-ID"] = f"<radar.{digest}@{domain}>"
        if date is not None:
            message["Date"] = format_datetime(date)
        message["X-Complaint-Radar-Alert"] = self.key  # lets a mail rule spot repeats
        message.set_content(self.email_text())
        return message


def alert_key(brand: str, window_end: datetime, kind: str, theme: str | None = None) -> str:
    """Stable across cycles: one alert per brand, window, rule and theme."""
    return f"{brand}|{_iso(window_end)}|{kind}|{theme or ''}"


# --- the rules ----------------------------------------------------------------------------


ExampleSource = Callable[[HistoryPoint], Sequence[WindowCustomer]]


def find_alerts(history: Mapping[str, Sequence[HistoryPoint]], examples: ExampleSource,
                rules: AlertRules = AlertRules(), confidence: float = 0.95) -> list[Alert]:
    """The alerts of each brand's latest two windows, each against the window before it.

    Args:
        history: points per brand (any order; one score version per brand).
        examples: the candidate customers of a point, riskiest first, as
            :func:`radar.store.history.window_customers` returns them; called only for
            points that fire.
        rules: the thresholds.
        confidence: the level of the stored change intervals (for the wording only).

    Returns:
        Alerts by brand, each brand's ``risk_rise`` first, then theme jumps, biggest first.
    """
    alerts: list[Alert] = []
    for brand, before, now in _pairs(history):
        if min(before.customers, now.customers) < rules.min_customers:
            continue
        fired: list[tuple[str, str | None, float, float, float, float | None, float | None]] = []
        if _rose_beyond_noise(now):
            fired.append((RISK_RISE, None, now.at_risk_share, _previous_share(now, before),
                          now.trend, now.trend_low, now.trend_high))
        jumps = []
        for driver, share in now.drivers.items():
            if driver == BASE_DRIVER:
                continue  # "no theme" rising says nothing about why
            change = share - before.drivers.get(driver, 0.0)
            # A jump of exactly the threshold fires, whatever the float subtraction rounds to.
            if change >= rules.theme_jump - EPS and share >= rules.theme_min_share - EPS:
                jumps.append((THEME_JUMP, driver, share, before.drivers.get(driver, 0.0),
                              change, None, None))
        fired += sorted(jumps, key=lambda j: (-j[4], j[1]))
        if not fired:
            continue
        candidates = examples(now) if rules.examples else []
        for kind, theme, share, previous, change, low, high in fired:
            alerts.append(Alert(
                key=alert_key(brand, now.window_end, kind, theme), kind=kind, brand=brand,
                window_start=now.window_start, window_end=now.window_end,
                previous_window_end=before.window_end, share=share, previous_share=previous,
                change=change, change_low=low, change_high=high, theme=theme,
                top_driver=top_driver(now.drivers), customers=now.customers,
                examples=pick_examples(candidates, rules.examples, theme),
                model_version=now.model_version, score_version=now.score_version,
                previous_customers=before.customers, confidence=confidence))
    return alerts


def _pairs(history: Mapping[str, Sequence[HistoryPoint]]):
    """Per brand: the latest window against the one before, and that one against its own
    predecessor. A cycle that brings a week's rise may also bring the first posts of the
    next week; the completed week is still checked (alert keys keep it from repeating)."""
    for brand in sorted(history):
        points = sorted(history[brand], key=lambda p: (p.window_end, p.window_start))
        for end in (len(points) - 1, len(points)):
            pair = _consecutive(points[:end]) if end >= 2 else None
            if pair is not None:
                yield brand, *pair


def _consecutive(points: Sequence[HistoryPoint]) -> tuple[HistoryPoint, HistoryPoint] | None:
    """The latest point and the one before it, if they are adjacent windows of one formula."""
    if len(points) < 2:
        return None
    before, now = sorted(points, key=lambda p: (p.window_end, p.window_start))[-2:]
    if before.window_end != now.window_start or before.score_version != now.score_version:
        return None
    return before, now


def _rose_beyond_noise(point: HistoryPoint) -> bool:
    return (point.trend_significant is True and point.trend is not None and point.trend > 0
            and point.trend_low is not None and point.trend_low > 0
            and math.isfinite(point.trend_low))


def _previous_share(now: HistoryPoint, before: HistoryPoint) -> float:
    # The share the trend was computed against (same scoring run as the interval).
    return now.previous_share if now.previous_share is not None else before.at_risk_share


def top_driver(drivers: Mapping[str, float]) -> tuple[str, float] | None:
    """The biggest driver; a theme (or churn intent) before ``unthemed`` where there is one,
    since "no theme" explains nothing to the people reading the alert."""
    named = {k: v for k, v in drivers.items() if k != BASE_DRIVER and v > 0}
    pool = named or {k: v for k, v in drivers.items() if v > 0}
    if not pool:
        return None
    driver = min(pool, key=lambda k: (-pool[k], k))
    return driver, float(pool[driver])


def pick_examples(customers: Iterable[WindowCustomer], count: int,
                  theme: str | None = None) -> tuple[dict[str, Any], ...]:
    """Up to ``count`` masked posts from the candidate customers (kept in their order).

    One post per customer before a second from anyone, so three examples are three
    voices; for a theme, customers it drives (:func:`radar.store.history.has_theme`) come first.
    """
    customers = list(customers)
    if theme is not None:
        customers = ([c for c in customers if has_theme(c.drivers, theme)]
                     + [c for c in customers if not has_theme(c.drivers, theme)])
    queues = [[p for p in c.posts if p.text] for c in customers]
    picked: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    depth = 0
    while len(picked) < count and any(len(q) > depth for q in queues):
        for queue in queues:
            if len(picked) >= count:
                break
            if len(queue) > depth:
                post = queue[depth]
                ident = (post.source, post.post_id or post.text)
                if ident not in seen:
                    seen.add(ident)
                    picked.append(_masked_post(post))
        depth += 1
    return tuple(picked)


def _masked_post(post: StoredPost) -> dict[str, Any]:
    # Only these four fields leave: no author id, no post id (which can embed a handle).
    return _masked_example({"text": post.text, "url": post.url,
                            "created_at": _iso(post.created_at), "source": post.source})


def _masked_example(example: Mapping[str, Any]) -> dict[str, Any]:
    """An example post as it may leave: its text masked (:func:`nlp.text.mask_for_display`),
    its source without a server path, its URL only when http(s), nothing else."""
    text, source, url = (example.get(k) for k in ("text", "source", "url"))
    return {"text": mask_for_display(str(text)) if text is not None else None,
            "url": url if isinstance(url, str) and url.startswith(("http://", "https://"))
            else None,
            "created_at": example.get("created_at"),
            "source": display_source(str(source)) if source is not None else None}


# --- formatting ---------------------------------------------------------------------------


def _iso(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = parse_stored_time(value)
        except ValueError:
            return value  # already ISO 8601 or the source's own format: keep it
    return value.isoformat().replace("+00:00", "Z")


def _display_time(value: str | None) -> str | None:
    """'2026-11-29 16:46 UTC' from an ISO 8601 UTC time; anything else as it is."""
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return value
    if moment is None or moment.utcoffset() != timedelta(0):
        return value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _day(moment: datetime, last: bool = False) -> str:
    return ((moment - timedelta(microseconds=1)) if last else moment).date().isoformat()


def _points(change: float, unit: bool = True) -> str:
    return f"{change * 100:+.1f}" + (" pts" if unit else "")


def _driver_text(driver: tuple[str, float] | None) -> str:
    return "none" if driver is None else f"{driver[0]} ({driver[1]:.0%} of risk)"


def _shorten(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1].rstrip() + "…"


def _mrkdwn(text: str) -> str:
    """Slack's three control characters escaped, as its message formatting asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_example(example: Mapping[str, Any]) -> str:
    line = f"> {_mrkdwn(_shorten(example.get('text') or ''))}"
    label = _mrkdwn(" ".join(str(v) for v in (example.get("source"),
                                              (example.get("created_at") or "")[:10]) if v))
    url = example.get("url")
    if url and str(url).startswith(("http://", "https://")):
        # Inside <url|label>: < > | and spaces would end the link; & is Slack's escape.
        safe_url = (str(url).replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
                    .replace(" ", "%20").replace("&", "&amp;"))
        line += f" — <{safe_url}|{label or 'post'}>"
    elif label:
        line += f" — {label}"
    return line
