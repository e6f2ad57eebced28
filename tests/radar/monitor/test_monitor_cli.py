"""What `radar monitor` prints after a cycle: the latest window per brand, in the order of
every other table, with the small brands listed apart."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from nlp.console import make_console
from radar.monitor.cli import latest_table
from radar.store.history import HistoryPoint

END = datetime(2026, 11, 30, tzinfo=UTC)


def _point(brand: str, customers: int, share: float, **extra) -> HistoryPoint:
    values = dict(brand=brand, window_start=END - timedelta(days=7), window_end=END,
                  score_version="risk.v1", model_version="fake-1", customers=customers,
                  posts=customers * 2, at_risk_share=share, ci_low=share / 2,
                  ci_high=min(1.0, share * 1.5), ci_method="bootstrap",
                  expected_at_risk=share * customers, previous_share=None, trend=None,
                  trend_low=None, trend_high=None, trend_significant=None, drivers={},
                  computed_at=END)
    values.update(extra)
    return HistoryPoint(**values)


def _rows(points) -> list[str]:
    out = io.StringIO()
    make_console(file=out).print(latest_table(points))
    return [line.replace("│", " ").strip() for line in out.getvalue().splitlines()]


def test_small_brands_are_listed_apart_after_the_ranked_ones():
    points = [_point("Tiny", 1, 0.90), _point("Bigco", 300, 0.30), _point("Midco", 40, 0.50),
              _point("Smallish", 12, 0.70)]
    lines = _rows(points)
    text = "\n".join(lines)
    order = [b for line in lines for b in ("Tiny", "Bigco", "Midco", "Smallish")
             if line.startswith(b)]
    assert order == ["Midco", "Bigco", "Smallish", "Tiny"]  # never ranked by a point estimate
    apart = next(i for i, line in enumerate(lines) if "too few customers to rank (< 20)" in line)
    assert lines.index(next(x for x in lines if x.startswith("Bigco"))) < apart
    assert "expected share of customers at risk" in text and "share at risk" in text


def test_trend_partial_and_new_are_said_as_on_the_dashboard():
    rising = _point("Upco", 50, 0.40, previous_share=0.30, trend=0.10, trend_low=0.02,
                    trend_high=0.18, trend_significant=True, earlier=True)
    # The score leaves a change from a partial window uncompared (significant None).
    partial = _point("Halfco", 50, 0.35, previous_share=0.30, trend=0.05,
                     trend_significant=None, earlier=True, partial=True)
    fresh = _point("Newco", 50, 0.20)
    lines = {line.split()[0]: line for line in _rows([rising, partial, fresh])
             if line and line.split()[0] in ("Upco", "Halfco", "Newco")}
    assert "▲ +10.0%" in lines["Upco"]
    assert "partial" in lines["Halfco"] and "+5.0%" not in lines["Halfco"]
    assert lines["Newco"].split()[-2:] == ["new", "fake-1"]
