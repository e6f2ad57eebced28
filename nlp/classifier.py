"""Inference: load a trained model folder and label posts with :class:`~nlp.types.Prediction`.

A model folder holds ``meta.json`` (kind, version, metrics, provenance) and
``schema.json`` (the label schema it was trained with), plus the kind's own
files. :func:`load_classifier` reads the kind and hands over to its loader,
so callers (CLI, REST, batch) never care which model is current.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from nlp.taxonomy import LabelSchema, check_schema
from nlp.types import Post, Prediction

META_FILE = "meta.json"
SCHEMA_FILE = "schema.json"


class ModelLoadError(RuntimeError):
    """A model folder is missing, incomplete or of an unknown kind."""


class Classifier(Protocol):
    """What every model kind offers to the rest of the product."""

    meta: dict[str, Any]

    @property
    def model_version(self) -> str: ...

    def predict(self, texts: Sequence[str], keys: Sequence[tuple[str, str]] | None = None
                ) -> list[Prediction]: ...


def read_model_meta(model_dir: Path) -> tuple[dict[str, Any], LabelSchema]:
    """Read a model folder's metadata and label schema, checking the schema against the code's."""
    model_dir = Path(model_dir)
    meta_path, schema_path = model_dir / META_FILE, model_dir / SCHEMA_FILE
    for path in (meta_path, schema_path):
        if not path.is_file():
            raise ModelLoadError(
                f"{model_dir} is not a model folder: {path.name} is missing. "
                "Train one with `radar train --config training/configs/baseline.yaml`."
            )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    schema = LabelSchema.from_json(schema_path.read_text(encoding="utf-8"))
    check_schema(schema)
    return meta, schema


def load_classifier(model_dir: str | Path) -> Classifier:
    """Load the model in ``model_dir``, whatever its kind."""
    meta, _ = read_model_meta(Path(model_dir))
    kind = meta.get("kind")
    if kind == "tfidf-logreg":
        from nlp.baseline import BaselineClassifier

        return BaselineClassifier.load(model_dir)
    raise ModelLoadError(f"{model_dir}: unknown model kind {kind!r}; known: 'tfidf-logreg'")


def predict_posts(classifier: Classifier, posts: Sequence[Post]) -> list[Prediction]:
    """Label posts, keeping each prediction tied to its post's ``(source, post_id)``."""
    return classifier.predict([p.text for p in posts], keys=[p.key for p in posts])
