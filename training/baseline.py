"""Fitting the TF-IDF + logistic regression baseline.

Heads and their training data:
- complaint: complaints-2019 (gold complaint / not complaint);
- sentiment: airline-sentiment-2015 train split (gold negative / neutral / positive);
- themes: airline-sentiment-2015 train split, for the themes its ``negativereason``
  honestly supports (``training.labels``). Positives: tweets whose reason maps to the
  theme. Negatives: tweets whose reason maps only to other themes, and non-negative
  tweets (themes apply only to complaints). Tweets with an unmapped reason
  ("Customer Service Issue", ...) are left out: their themes are unknown.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from nlp.classifier.baseline import BaselineClassifier, LinearHead
from nlp.text import normalize_for_tfidf
from training.config import BaselineConfig
from training.labels import AIRLINE_SUPPORTED_THEMES, AIRLINE_UNMAPPED_REASONS


def make_vectorizer(config: BaselineConfig) -> FeatureUnion:
    """Word and character n-gram TF-IDF, both over ``normalize_for_tfidf`` text."""
    common = dict(preprocessor=normalize_for_tfidf, min_df=config.min_df, sublinear_tf=True,
                  dtype=np.float32)
    return FeatureUnion([
        ("word", TfidfVectorizer(analyzer="word", ngram_range=config.word_ngrams, **common)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=config.char_ngrams, **common)),
    ])


def make_classifier(config: BaselineConfig) -> LogisticRegression:
    return LogisticRegression(C=config.C, class_weight=config.class_weight,
                              max_iter=config.max_iter, random_state=config.seed)


def fit_head(texts: Sequence[str], labels: Sequence, config: BaselineConfig) -> LinearHead:
    """Fit a vectoriser and a classifier on the same texts."""
    vectorizer = make_vectorizer(config)
    features = vectorizer.fit_transform(texts)
    return LinearHead(vectorizer, make_classifier(config).fit(features, list(labels)))


def theme_training_rows(ds: datasets.Dataset, theme: str) -> tuple[list[int], list[int]]:
    """Rows whose ``theme`` label is known from the dataset's reason, and that label (0/1)."""
    rows, labels = [], []
    for i, (reason, themes) in enumerate(zip(ds["reason"], ds["themes"], strict=True)):
        if reason in AIRLINE_UNMAPPED_REASONS:
            continue
        rows.append(i)
        labels.append(int(theme in themes))
    return rows, labels


def fit_baseline(complaints: datasets.Dataset, airline_train: datasets.Dataset,
                 config: BaselineConfig, meta: dict) -> BaselineClassifier:
    """Fit every head of the baseline; ``meta`` is stored with the model as it is."""
    complaint = fit_head(complaints["text"], complaints["complaint"], config)
    sentiment = fit_head(airline_train["text"], airline_train["sentiment"], config)
    # Theme heads reuse the sentiment head's fitted vectoriser (same texts).
    features = sentiment.vectorizer.transform(airline_train["text"])
    themes = {}
    for theme in AIRLINE_SUPPORTED_THEMES:
        rows, labels = theme_training_rows(airline_train, theme)
        if len(set(labels)) < 2:
            continue  # a tiny subsample can lack positives; the head is then not offered
        classifier = make_classifier(config).fit(features[rows], labels)
        themes[theme] = LinearHead(sentiment.vectorizer, classifier)
    return BaselineClassifier(sentiment, complaint, themes, meta)
