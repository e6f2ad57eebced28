"""A window's trend in a word and an arrow: one mapping for reports, the terminal and the dashboard.

A brand-window's change against the previous window (``nlp.risk``'s ``trend``) is ``up`` or
``down`` only when its interval excludes zero (``trend_significant``), ``flat`` when the
change is within the noise, ``new`` when the brand has no earlier window at all, ``gap`` when
it has earlier windows but none right before, and ``partial`` when the data covers this or
the previous window only in part (a part-window is not compared with a whole one).
"""

from __future__ import annotations

TREND_ARROWS = {"up": "▲", "down": "▼", "flat": "≈", "new": "new", "gap": "gap",
                "partial": "partial"}


def trend_label(trend: float | None, significant: bool | None, partial: bool = False,
                earlier: bool | None = None) -> str:
    """``up`` / ``down`` / ``flat`` / ``new`` / ``gap`` / ``partial`` for a window's change
    against the previous one.

    Args:
        trend: the change in at-risk share (None where there is none to compute).
        significant: whether the change exceeds the noise; None when it was not compared.
        partial: this or the previous window is covered only in part by the data.
        earlier: whether the brand has any earlier window with customers; None when not
            known (then an uncompared window is ``new``, as before).
    """
    if significant is None:
        if not earlier:
            return "new"
        return "partial" if partial else "gap"
    if not significant:
        return "flat"
    return "up" if (trend or 0.0) > 0 else "down"
