"""The one mapping from a window's trend to its label and arrow."""

from __future__ import annotations

import pytest

from nlp.trend import TREND_ARROWS, trend_label


@pytest.mark.parametrize(("trend", "significant", "label"), [
    (None, None, "new"),  # no previous window
    (0.2, None, "new"),  # no previous window, whatever the change
    (0.05, False, "flat"),  # within the noise, either way
    (-0.05, False, "flat"),
    (None, False, "flat"),
    (0.05, True, "up"),
    (-0.05, True, "down"),
    (0.0, True, "down"),  # significant but not above zero: not a rise
    (None, True, "down"),
])
def test_trend_label(trend, significant, label):
    assert trend_label(trend, significant) == label


def test_every_label_has_its_arrow():
    assert TREND_ARROWS == {"up": "▲", "down": "▼", "flat": "≈", "new": "new", "gap": "gap",
                            "partial": "partial"}


def test_new_only_without_an_earlier_window_and_partial_is_never_compared():
    assert trend_label(None, None, earlier=False) == "new"
    assert trend_label(None, None, earlier=True) == "gap"  # earlier windows, none right before
    assert trend_label(0.05, None, partial=True, earlier=True) == "partial"
    assert trend_label(0.05, None, partial=True, earlier=False) == "new"
