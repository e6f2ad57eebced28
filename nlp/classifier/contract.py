"""The output contract of a scored post, shared by batch scoring and the REST API.

Stable and documented (README, "Output contract"): adding a column is a minor
change; renaming or removing one is a breaking change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    """Where a probability becomes a yes: for complaint, each theme, and churn intent.

    ``theme`` applies to every theme not named in ``per_theme`` (a fine-tuned model
    carries its own per-theme thresholds, chosen on gold dev; see :func:`thresholds_for`).
    """

    complaint: float = 0.5
    theme: float = 0.5
    churn_intent: float = 0.5
    per_theme: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        values = {"complaint": self.complaint, "theme": self.theme,
                  "churn_intent": self.churn_intent,
                  **{f"per_theme[{k!r}]": v for k, v in self.per_theme.items()}}
        for name, value in values.items():
            if not 0.0 < value < 1.0:
                raise ValueError(f"threshold {name} must be in (0, 1), got {value!r}")
        unknown = sorted(set(self.per_theme) - set(THEME_KEYS))
        if unknown:
            raise ValueError(f"per_theme names unknown theme(s) {unknown}; known: {THEME_KEYS}")

    def for_theme(self, key: str) -> float:
        return self.per_theme.get(key, self.theme)


def thresholds_for(classifier: Any) -> Thresholds:
    """A classifier's own decision thresholds (``classifier.thresholds``), else 0.5 everywhere."""
    own = dict(getattr(classifier, "thresholds", None) or {})
    return Thresholds(complaint=own.pop("complaint", 0.5),
                      churn_intent=own.pop("churn_intent", 0.5), per_theme=own)


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
                        if prediction.themes.get(t, 0.0) >= thresholds.for_theme(t)]
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


def prediction_from_record(record: Mapping[str, Any], source: str) -> Prediction:
    """The :class:`Prediction` behind a scored record (the inverse of :func:`score_record`),
    so a scored dump can be stored without scoring it again."""
    post_id = record.get("id")
    if post_id is None:
        raise ValueError("a scored record needs its 'id'")
    themes = {t: float(record[f"p_{t}"]) for t in THEME_KEYS
              if record.get(f"p_{t}") is not None}
    churn = record.get("p_churn_intent")
    return Prediction(source=source, post_id=str(post_id), sentiment=str(record["sentiment"]),
                      sentiment_probs={s: float(record[f"p_{s}"]) for s in SENTIMENTS},
                      complaint=float(record["p_complaint"]), themes=themes,
                      churn_intent=None if churn is None else float(churn),
                      model_version=str(record["model_version"]))
