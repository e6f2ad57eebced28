"""The shared retry timing: backoff with jitter, and a server's Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from radar.retry import MAX_WAIT_S, Backoff, parse_retry_after

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def _at(seconds_from_now: float) -> datetime:
    return datetime.fromtimestamp(NOW + seconds_from_now, tz=UTC)


# --- Backoff ----------------------------------------------------------------------------------

def test_backoff_doubles_up_to_the_cap_with_jitter_between_half_and_full_ceiling():
    backoff = Backoff(base_s=1.0, cap_s=8.0)
    rng = random.Random(0)
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]  # doubling, then capped
    for failures, ceiling in enumerate(ceilings, start=1):
        delays = [backoff.delay(failures, rng) for _ in range(200)]
        assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
        # the jitter covers the range, not just its ends
        assert min(delays) < ceiling * 0.55 and max(delays) > ceiling * 0.95


def test_backoff_is_reproducible_from_the_seed():
    backoff = Backoff(base_s=2.0, cap_s=100.0)
    first = [backoff.delay(n, random.Random(3)) for n in range(1, 6)]
    again = [backoff.delay(n, random.Random(3)) for n in range(1, 6)]
    assert first == again
    assert backoff.delay(3, random.Random(0)) != backoff.delay(3, random.Random(1))


def test_zero_base_never_waits():
    assert Backoff(base_s=0.0, cap_s=0.0).delay(4, random.Random(0)) == 0.0


@pytest.mark.parametrize(("base", "cap"), [(10, 1), (-1, 5)])
def test_backoff_refuses_a_base_below_zero_or_above_the_cap(base, cap):
    with pytest.raises(ValueError, match=rf"need 0 <= backoff_base_s <= backoff_cap_s, got "
                                         rf"{base} and {cap}"):
        Backoff(base_s=base, cap_s=cap)


# --- parse_retry_after ------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0),
    (" 7 ", 7.0),
    ("1.5", 1.5),
    ("0", 0.0),
    ("-30", 0.0),  # negative: no waiting, never a negative sleep
    ("99999", 99999.0),  # reported as asked; the caller decides
    ("99999999", MAX_WAIT_S),  # capped at a week
])
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_http_date():
    assert parse_retry_after(format_datetime(_at(90), usegmt=True), NOW) == 90.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:00 GMT", NOW) == 40.0
    # a date in the past means "now"
    assert parse_retry_after(format_datetime(_at(-300), usegmt=True), NOW) == 0.0
    # a date without zone (-0000) is read as UTC
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 -0000", NOW) == 30.0


@pytest.mark.parametrize("value", [None, "", "   ", "soon", "Tuesday at noon", "12 seconds"])
def test_parse_retry_after_garbage_is_none(value):
    assert parse_retry_after(value, NOW) is None


def test_parse_retry_after_nan_is_unreadable():
    # float("nan") parses; a NaN wait would slip past max_wait_s and crash time.sleep.
    assert parse_retry_after("NaN", NOW) is None
    assert parse_retry_after("inf", NOW) is None
