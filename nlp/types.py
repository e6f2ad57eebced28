"""The types that flow between stages (see docs/architecture.md).

Stages talk only through these. Frozen dataclasses inside the code; the HTTP
edge converts them to and from its own request/response schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nlp.taxonomy import SENTIMENTS


def _require_utc(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got {value!r}")


def _require_prob(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def _require_window(start: datetime | None, end: datetime | None) -> None:
    if (start is None) != (end is None):
        raise ValueError("a window has both ends or neither (undated)")
    if start is not None and end <= start:
        raise ValueError("window_end must be after window_start")


@dataclass(frozen=True)
class Post:
    """One piece of public chatter, as every collector and importer hands it on."""

    source: str
    post_id: str
    text: str
    brand: str | None = None
    author_id: str | None = None
    created_at: datetime | None = None
    url: str | None = None
    parent_id: str | None = None
    lang: str | None = None
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("Post.source must be a non-empty string")
        if not self.post_id:
            raise ValueError(f"Post.post_id must be a non-empty string (source {self.source!r})")
        if not isinstance(self.text, str):
            raise TypeError(f"Post.text must be str, got {type(self.text).__name__}")
        _require_utc("Post.created_at", self.created_at)

    @property
    def key(self) -> tuple[str, str]:
        """The identity of a post: unique per source."""
        return (self.source, self.post_id)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Post:
        """From a row in the unified dataset schema (``created_at`` as ISO 8601 UTC or None)."""
        created_at = record.get("created_at")
        if isinstance(created_at, str):
            created_at = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        return cls(
            source=record["source"],
            post_id=str(record["post_id"]),
            text=record["text"],
            brand=record.get("brand"),
            author_id=record.get("author_id"),
            created_at=created_at,
            url=record.get("url"),
            parent_id=record.get("parent_id"),
            lang=record.get("lang"),
        )


@dataclass(frozen=True)
class Prediction:
    """What the classifier says about one post, with probabilities and the model that said it.

    ``themes`` maps theme key to probability. A model that does not predict a
    theme leaves its key out (the TF-IDF baseline predicts only the themes its
    training data supports); absent is "not predicted", never "probability 0".
    """

    source: str
    post_id: str
    sentiment: str
    sentiment_probs: Mapping[str, float]
    complaint: float
    themes: Mapping[str, float]
    churn_intent: float | None
    model_version: str

    def __post_init__(self) -> None:
        if self.sentiment not in SENTIMENTS:
            raise ValueError(f"sentiment must be one of {SENTIMENTS}, got {self.sentiment!r}")
        if set(self.sentiment_probs) != set(SENTIMENTS):
            raise ValueError(
                f"sentiment_probs needs exactly {SENTIMENTS}, got {sorted(self.sentiment_probs)}"
            )
        _require_prob("complaint", self.complaint)
        for key, p in self.themes.items():
            _require_prob(f"themes[{key!r}]", p)
        if self.churn_intent is not None:
            _require_prob("churn_intent", self.churn_intent)


@dataclass(frozen=True)
class CustomerRisk:
    """How likely one customer of one brand is to leave, within a window, and why."""

    brand: str
    author_id: str
    window_start: datetime | None  # None: undated posts, one window over everything
    window_end: datetime | None
    risk: float
    post_ids: tuple[str, ...]
    themes: Mapping[str, float]
    score_version: str

    def __post_init__(self) -> None:
        _require_prob("risk", self.risk)
        _require_window(self.window_start, self.window_end)


@dataclass(frozen=True)
class BrandRisk:
    """A brand's at-risk share of customers in a window, how sure we are, and its drivers."""

    brand: str
    window_start: datetime | None  # None: undated posts, one window over everything
    window_end: datetime | None
    customers: int
    at_risk_share: float
    ci_low: float
    ci_high: float
    expected_at_risk: float
    trend: float | None
    drivers: Mapping[str, float]
    score_version: str

    def __post_init__(self) -> None:
        _require_prob("at_risk_share", self.at_risk_share)
        _require_window(self.window_start, self.window_end)
        if not self.ci_low <= self.at_risk_share <= self.ci_high:
            raise ValueError(
                f"at_risk_share {self.at_risk_share} outside its interval "
                f"[{self.ci_low}, {self.ci_high}]"
            )
        if self.customers < 0:
            raise ValueError(f"customers must be >= 0, got {self.customers}")
