"""Times read without being told their format: ISO 8601, Twitter's, RFC 2822, epoch s and ms."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from nlp.errors import RowError
from nlp.times import EPOCH_MS_FROM, parse_time

MOMENT = datetime(2017, 10, 31, 22, 10, 47, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-10-31T22:10:47Z", MOMENT),
        ("2017-10-31T23:10:47+01:00", MOMENT),
        ("2017-10-31 22:10:47", MOMENT),                      # naive: UTC
        ("2017-10-31 22:10:47+00:00", MOMENT),                # what pandas writes
        ("20171031", datetime(2017, 10, 31, tzinfo=UTC)),     # ISO 8601 basic, not epoch
        ("Tue Oct 31 22:10:47 +0000 2017", MOMENT),           # Twitter (twcs, API v1.1)
        ("Tue Oct 31 17:10:47 -0500 2017", MOMENT),
        ("Tue, 31 Oct 2017 22:10:47 +0000", MOMENT),          # RFC 2822
        ("31 Oct 2017 23:10:47 +0100", MOMENT),
        ("2017/10/31 22:10:47", MOMENT),                      # year-first slashes
        ("2017/10/31 22:10", MOMENT.replace(second=0)),
        ("2017/10/31", datetime(2017, 10, 31, tzinfo=UTC)),
        ("2020/3/7", datetime(2020, 3, 7, tzinfo=UTC)),
        ("Tue, 31 Oct 2017 22:10:47 GMT", MOMENT),
        (1509487847, MOMENT),                                 # epoch seconds
        ("1509487847", MOMENT),
        (" 1509487847 ", MOMENT),
        (1509487847.25, MOMENT + timedelta(milliseconds=250)),
        (1509487847000, MOMENT),                              # epoch milliseconds
        ("1509487847000", MOMENT),
        ("1509487847250", MOMENT + timedelta(milliseconds=250)),
        (datetime(2017, 10, 31, 23, 10, 47, tzinfo=timezone(timedelta(hours=1))), MOMENT),
        (datetime(2017, 10, 31, 22, 10, 47), MOMENT),
        ("", None),
        (None, None),
    ],
)
def test_times_are_read_without_a_format(value, expected):
    assert parse_time(value, "created_at") == expected


def test_seconds_and_milliseconds_split_at_1e11():
    # Just below: seconds, in the year 5138. From there: milliseconds, in March 1973.
    assert parse_time(EPOCH_MS_FROM - 1, "t").year == 5138
    assert parse_time(EPOCH_MS_FROM, "t") == datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)
    assert parse_time(str(EPOCH_MS_FROM), "t") == parse_time(EPOCH_MS_FROM, "t")


def test_a_time_format_overrides_the_guessing():
    assert parse_time("31-10-2017 22:10:47", "t", "%d-%m-%Y %H:%M:%S") == MOMENT
    with pytest.raises(RowError, match=r"time '2017-10-31T22:10:47Z' in column 't' does not "
                                       r"match '%d-%m-%Y'"):
        parse_time("2017-10-31T22:10:47Z", "t", "%d-%m-%Y")


@pytest.mark.parametrize("value", ["yesterday", "Tue May 14 2024 17:58", "2017/02/31",
                                   "Tue, 31 Feb 2017 22:10:47 +0000", "1e12"])
def test_an_unreadable_time_names_the_formats_it_expected(value):
    with pytest.raises(RowError) as caught:
        parse_time(value, "created_at")
    message = str(caught.value)
    assert message.startswith(f"unparseable time {value!r} in column 'created_at'")
    for expected in ("ISO 8601", "Twitter's 'Tue Oct 31 22:10:47 +0000 2017'", "RFC 2822",
                     "epoch seconds or milliseconds"):
        assert expected in message


@pytest.mark.parametrize("value", ["31/10/2017", "07/03/2020 10:00", "3.7.20", "10-31-2017"])
def test_day_or_month_first_asks_for_the_format_instead_of_guessing(value):
    with pytest.raises(RowError, match=r"puts the day or the month first.*--time-format"):
        parse_time(value, "created_at")


@pytest.mark.parametrize(("value", "message"), [
    (10**30, "is out of range"), (float("nan"), "is out of range"),
    ("9" * 30, "is out of range"), ([1], "is a list"), (True, "is a bool"),
])
def test_other_bad_times(value, message):
    with pytest.raises(RowError, match=message):
        parse_time(value, "t")
