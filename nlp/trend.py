"""A window's trend in a word and an arrow: one mapping for reports, the terminal and the dashboard.

A brand-window's change against the previous window (``nlp.risk``'s ``trend``) is ``up`` or
``down`` only when its interval excludes zero (``trend_significant``), ``flat`` when the
change is within the noise, and ``new`` when there is no previous window to compare with.
"""

from __future__ import annotations

TREND_ARROWS = {"up": "▲", "down": "▼", "flat": "≈", "new": "new"}


def trend_label(trend: float | None, significant: bool | None) -> str:
    """``up`` / ``down`` / ``flat`` / ``new`` for a window's change against the previous one.

    Args:
        trend: the change in at-risk share (None where there is none to compute).
        significant: whether the change exceeds the noise; None when there is no previous
            window (the label is then ``new``, whatever ``trend`` holds).
    """
    if significant is None:
        return "new"
    if not significant:
        return "flat"
    return "up" if (trend or 0.0) > 0 else "down"
