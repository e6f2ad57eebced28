import pytest

from nlp.taxonomy import THEME_KEYS
from training.labels import (
    AIRLINE_REASON_THEMES,
    AIRLINE_SUPPORTED_THEMES,
    AIRLINE_UNMAPPED_REASONS,
    UnknownReasonError,
    map_airline_reason,
)


def test_mapped_themes_are_taxonomy_keys():
    assert {t for ts in AIRLINE_REASON_THEMES.values() for t in ts} <= set(THEME_KEYS)


@pytest.mark.parametrize(
    ("reason", "themes"),
    [
        ("longlines", ("waiting",)),
        ("Lost Luggage", ("product_failure",)),
        ("Damaged Luggage", ("product_failure",)),
        ("Cancelled Flight", ("product_failure",)),
        ("Late Flight", ("product_failure", "waiting")),
        ("Flight Attendant Complaints", ("staff_attitude",)),
        ("Customer Service Issue", ()),
        ("Flight Booking Problems", ()),
        ("Can't Tell", ()),
        (None, ()),
    ],
)
def test_airline_reason_mapping(reason, themes):
    assert map_airline_reason(reason) == themes


def test_unknown_reason_is_an_error_not_a_guess():
    with pytest.raises(UnknownReasonError, match="training/labels.py"):
        map_airline_reason("Rude Pilot")


def test_supported_and_unmapped_are_derived_from_the_mapping():
    assert AIRLINE_SUPPORTED_THEMES == ("waiting", "staff_attitude", "product_failure")
    assert set(AIRLINE_UNMAPPED_REASONS) == {"Customer Service Issue", "Flight Booking Problems",
                                             "Can't Tell"}


def test_every_reason_in_the_real_data_is_mapped(real_datasets):
    reasons = set(real_datasets["airline-sentiment-2015"]["reason"]) - {None}
    assert reasons == set(AIRLINE_REASON_THEMES)
