"""The TF-IDF + logistic regression baseline at inference time.

Each head is a fitted vectoriser and a fitted classifier. Heads trained on the
same texts share one vectoriser object, so scoring transforms each text once
per vectoriser, not once per head. The vectorisers carry
:func:`nlp.text.normalize_for_tfidf` as their preprocessor.

Model files are pickles (joblib): load only models you trained or trust.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from nlp.classifier.folder import BASELINE_HEADS_FILE as HEADS_FILE
from nlp.classifier.folder import ModelLoadError, read_model_meta, write_model_meta
from nlp.taxonomy import SCHEMA, SENTIMENTS
from nlp.types import Prediction

CHUNK_SIZE = 2048


@dataclass(frozen=True)
class LinearHead:
    """One fitted vectoriser + classifier pair (sklearn objects)."""

    vectorizer: Any
    classifier: Any

    def positive_column(self, label: Any) -> int:
        classes = list(self.classifier.classes_)
        if label not in classes:
            raise ModelLoadError(f"head has classes {classes}, expected {label!r} among them")
        return classes.index(label)


class BaselineClassifier:
    """Sentiment, complaint and airline-supported theme heads over TF-IDF features."""

    def __init__(self, sentiment: LinearHead, complaint: LinearHead,
                 themes: dict[str, LinearHead], meta: dict[str, Any]):
        self.sentiment = sentiment
        self.complaint = complaint
        self.themes = dict(themes)
        self.meta = dict(meta)
        self._sentiment_cols = [sentiment.positive_column(s) for s in SENTIMENTS]
        self._complaint_col = complaint.positive_column(1)
        self._theme_cols = {k: h.positive_column(1) for k, h in self.themes.items()}

    @property
    def model_version(self) -> str:
        return self.meta["model_version"]

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Probabilities per head: ``sentiment`` (n x 3, in SENTIMENTS order), ``complaint``
        (n,), and one ``theme:<key>`` (n,) per theme head."""
        transformed: dict[int, Any] = {}

        def features(head: LinearHead):
            key = id(head.vectorizer)
            if key not in transformed:
                transformed[key] = head.vectorizer.transform(texts)
            return transformed[key]

        out = {
            "sentiment": self.sentiment.classifier.predict_proba(features(self.sentiment))[
                :, self._sentiment_cols
            ],
            "complaint": self.complaint.classifier.predict_proba(features(self.complaint))[
                :, self._complaint_col
            ],
        }
        for key, head in self.themes.items():
            out[f"theme:{key}"] = head.classifier.predict_proba(features(head))[
                :, self._theme_cols[key]
            ]
        return out

    def predict(self, texts: Sequence[str], keys: Sequence[tuple[str, str]] | None = None
                ) -> list[Prediction]:
        """Label texts; ``keys`` gives each its ``(source, post_id)`` (default: ``("", index)``)."""
        if keys is not None and len(keys) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(keys)} keys")
        predictions: list[Prediction] = []
        for start, chunk in _chunks(texts, CHUNK_SIZE):
            probs = self.predict_proba(chunk)
            for i in range(len(chunk)):
                source, post_id = keys[start + i] if keys is not None else ("", str(start + i))
                sentiment_probs = {s: float(probs["sentiment"][i, j])
                                   for j, s in enumerate(SENTIMENTS)}
                predictions.append(Prediction(
                    source=source,
                    post_id=post_id,
                    sentiment=max(sentiment_probs, key=sentiment_probs.__getitem__),
                    sentiment_probs=sentiment_probs,
                    complaint=float(probs["complaint"][i]),
                    themes={k: float(probs[f"theme:{k}"][i]) for k in self.themes},
                    churn_intent=None,  # no public data labels churn intent yet (issue [D])
                    model_version=self.model_version,
                ))
        return predictions

    def save(self, model_dir: str | Path) -> Path:
        """Write the model folder (:mod:`nlp.classifier.folder`) and return its path."""
        model_dir = Path(model_dir)
        write_model_meta(model_dir, self.meta, SCHEMA)
        heads = {"sentiment": self.sentiment, "complaint": self.complaint, "themes": self.themes}
        joblib.dump(heads, model_dir / HEADS_FILE, compress=3)
        return model_dir

    @classmethod
    def load(cls, model_dir: str | Path) -> BaselineClassifier:
        model_dir = Path(model_dir)
        meta, _ = read_model_meta(model_dir)
        heads_path = model_dir / HEADS_FILE
        if not heads_path.is_file():
            raise ModelLoadError(f"{model_dir}: {HEADS_FILE} is missing; retrain the baseline")
        heads = joblib.load(heads_path)
        return cls(heads["sentiment"], heads["complaint"], heads["themes"], meta)


def _chunks(items: Sequence[str], size: int) -> Iterator[tuple[int, list[str]]]:
    for start in range(0, len(items), size):
        yield start, list(items[start:start + size])
