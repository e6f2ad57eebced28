"""The output contract of a scored post, shared by batch scoring and the REST API.

Stable and documented (README, "Output contract"): adding a column is a minor
change; renaming or removing one is a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from nlp.types import Prediction

ID_COLUMNS = ("id", "brand", "author_id", "created_at")
LABEL_COLUMNS = (
    "sentiment", *(f"p_{s}" for s in SENTIMENTS),
    "complaint", "p_complaint",
    *(f"p_{t}" for t in THEME_KEYS), "themes",
    "churn_intent", "p_churn_intent",
    "model_version",
)
COLUMNS = ID_COLUMNS + LABEL_COLUMNS
# Batch output also carries the post's text, last, so a report can show the posts
# behind a score and resolve brands from mentions; the REST API does not echo it.
BATCH_COLUMNS = COLUMNS + ("text",)
THEME_SEPARATOR = "|"


@dataclass(frozen=True)
class Thresholds:
    """Where a probability becomes a yes: for complaint, each theme, and churn intent."""

    complaint: float = 0.5
    theme: float = 0.5
    churn_intent: float = 0.5

    def __post_init__(self) -> None:
        for name in ("complaint", "theme", "churn_intent"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"threshold {name} must be in (0, 1), got {value!r}")


def score_record(prediction: Prediction, post_id: str | None = None, brand: str | None = None,
                 author_id: str | None = None, created_at: datetime | None = None,
                 thresholds: Thresholds = Thresholds()) -> dict[str, Any]:
    """One scored post in the contract's columns (``themes`` as a list of keys).

    Themes the model does not predict get ``None`` probabilities; churn intent is
    ``None`` when the model does not predict it.
    """
    record: dict[str, Any] = {
        "id": post_id,
        "brand": brand,
        "author_id": author_id,
        "created_at": _iso_utc(created_at),
        "sentiment": prediction.sentiment,
    }
    for sentiment in SENTIMENTS:
        record[f"p_{sentiment}"] = prediction.sentiment_probs[sentiment]
    record["complaint"] = prediction.complaint >= thresholds.complaint
    record["p_complaint"] = prediction.complaint
    for theme in THEME_KEYS:
        record[f"p_{theme}"] = prediction.themes.get(theme)
    record["themes"] = [t for t in THEME_KEYS
                        if prediction.themes.get(t, 0.0) >= thresholds.theme]
    churn = prediction.churn_intent
    record["churn_intent"] = None if churn is None else churn >= thresholds.churn_intent
    record["p_churn_intent"] = churn
    record["model_version"] = prediction.model_version
    return record


def _iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC to the second, ``Z``-suffixed (years before 1000 zero-padded)."""
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")
