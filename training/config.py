"""Training configuration: one dataclass per model kind, validated on load, read from YAML."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A training config file or value is invalid; the message names it."""


@dataclass(frozen=True)
class BaselineConfig:
    """TF-IDF (word + character n-grams) + logistic regression, the yardstick model."""

    name: str = "baseline"
    kind: str = "tfidf-logreg"
    seed: int = 13
    cv_folds: int = 10
    test_size: float = 0.2
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = 2
    C: float = 4.0
    class_weight: str | None = "balanced"
    max_iter: int = 2000
    subsample: int | None = None  # rows per dataset, stratified; for tests and quick looks
    model_dir: str = "models/baseline"
    experiment: str = "complaint-radar"

    def __post_init__(self) -> None:
        # YAML gives lists; keep tuples so the config stays hashable and comparable.
        object.__setattr__(self, "word_ngrams", tuple(self.word_ngrams))
        object.__setattr__(self, "char_ngrams", tuple(self.char_ngrams))
        if self.kind != "tfidf-logreg":
            raise ConfigError(f"kind must be 'tfidf-logreg' for BaselineConfig, got {self.kind!r}")
        if not isinstance(self.cv_folds, int) or self.cv_folds < 2:
            raise ConfigError(f"cv_folds must be an integer >= 2, got {self.cv_folds!r}")
        if not 0.0 < self.test_size < 1.0:
            raise ConfigError(f"test_size must be in (0, 1), got {self.test_size!r}")
        for key in ("word_ngrams", "char_ngrams"):
            low_high = getattr(self, key)
            if len(low_high) != 2 or not 1 <= low_high[0] <= low_high[1]:
                raise ConfigError(
                    f"{key} must be [low, high] with 1 <= low <= high, got {low_high!r}")
        if self.min_df < 1:
            raise ConfigError(f"min_df must be >= 1, got {self.min_df!r}")
        if self.C <= 0:
            raise ConfigError(f"C must be > 0, got {self.C!r}")
        if self.class_weight not in (None, "balanced"):
            raise ConfigError(f"class_weight must be null or 'balanced', got {self.class_weight!r}")
        if self.subsample is not None and self.subsample < 10 * self.cv_folds:
            raise ConfigError(
                f"subsample must be null or >= 10 x cv_folds ({10 * self.cv_folds}), "
                f"got {self.subsample!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["word_ngrams"] = list(self.word_ngrams)
        data["char_ngrams"] = list(self.char_ngrams)
        return data

    def fingerprint(self) -> str:
        """Hash of everything that changes the trained model (not where it is saved or logged)."""
        data = {k: v for k, v in self.to_dict().items() if k not in ("model_dir", "experiment")}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def load_config(path: str | Path) -> BaselineConfig:
    """Read and validate a training config YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; see training/configs/ for examples")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of options, found {type(data).__name__}")
    kind = data.get("kind", "tfidf-logreg")
    if kind != "tfidf-logreg":
        raise ConfigError(f"{path}: unknown kind {kind!r}; known: 'tfidf-logreg'")
    known = {f.name for f in fields(BaselineConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {unknown}; known: {sorted(known)}")
    try:
        return BaselineConfig(**data)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
