"""How the public datasets' own labels map onto taxonomy v1, where the mapping is honest.

Airline ``negativereason`` (one reason per negative tweet, chosen by a crowd
worker). A reason maps to a theme only when every tweet with that reason is,
by the taxonomy's definition, about that theme. The mapping gives positive
evidence only: a "Late Flight" tweet may also be about hold times, so the
absence of a theme is "unknown", never "no".

| reason | themes | why |
|---|---|---|
| Late Flight | product_failure, waiting | taxonomy: a late flight is a product failure, and waiting covers "departure" |
| Cancelled Flight | product_failure | "flight cancelled" is a listed product_failure example |
| Lost Luggage | product_failure | "bag lost" is a listed product_failure example |
| Damaged Luggage | product_failure | damaged items |
| Bad Flight | product_failure | the core service was poor |
| Flight Attendant Complaints | staff_attitude | how staff behaved |
| longlines | waiting | "line at check-in out the door" is a listed waiting example |
| Customer Service Issue | (none) | umbrella: hold times, rude agents, unresolved cases, refunds alike |
| Flight Booking Problems | (none) | mixes broken booking sites (self_service), agents' errors and fares (billing) |
| Can't Tell | (none) | the annotator could not tell |
"""

from __future__ import annotations

from nlp.taxonomy import THEME_KEYS

AIRLINE_REASON_THEMES: dict[str, tuple[str, ...]] = {
    "Late Flight": ("product_failure", "waiting"),
    "Cancelled Flight": ("product_failure",),
    "Lost Luggage": ("product_failure",),
    "Damaged Luggage": ("product_failure",),
    "Bad Flight": ("product_failure",),
    "Flight Attendant Complaints": ("staff_attitude",),
    "longlines": ("waiting",),
    "Customer Service Issue": (),
    "Flight Booking Problems": (),
    "Can't Tell": (),
}

AIRLINE_SUPPORTED_THEMES: tuple[str, ...] = tuple(
    key for key in THEME_KEYS if any(key in ts for ts in AIRLINE_REASON_THEMES.values())
)
# Reasons whose tweets say nothing reliable about any single theme.
AIRLINE_UNMAPPED_REASONS: tuple[str, ...] = tuple(
    reason for reason, themes in AIRLINE_REASON_THEMES.items() if not themes
)


class UnknownReasonError(ValueError):
    """A dataset reason label that the mapping has never seen."""


def map_airline_reason(reason: str | None) -> tuple[str, ...]:
    """Themes that an airline ``negativereason`` supports (empty for none or unmapped)."""
    if reason is None:
        return ()
    try:
        return AIRLINE_REASON_THEMES[reason]
    except KeyError:
        raise UnknownReasonError(
            f"airline negativereason {reason!r} is not in the mapping; known: "
            f"{sorted(AIRLINE_REASON_THEMES)}. Add it to training/labels.py with its themes."
        ) from None
