"""Evaluation splits that keep the same text off both sides."""

from __future__ import annotations

import re
from dataclasses import dataclass

import datasets
import numpy as np
from sklearn.model_selection import train_test_split

from nlp.text import dedup_key

_NON_WORD = re.compile(r"[^\w]+")
_RETWEET = re.compile(r"^rt @user:?\s*")


def near_duplicate_key(text: str) -> str:
    """Key under which two posts are near-duplicates: ``dedup_key`` without a retweet
    prefix, @handles, links, punctuation and spacing ("RT @a: Lost my bag!!" and
    "lost my bag" share it)."""
    key = _RETWEET.sub("", dedup_key(text))
    key = key.replace("@user", " ").replace("http", " ")
    return " ".join(_NON_WORD.sub(" ", key).split())


@dataclass(frozen=True)
class DedupSplit:
    """A train/test split after de-duplication by normalised text, with what was dropped."""

    train: datasets.Dataset
    test: datasets.Dataset
    duplicates_dropped: int
    conflicting_labels: int  # duplicate groups whose copies disagreed on the label


def dedup_by_text(ds: datasets.Dataset, label_col: str) -> tuple[datasets.Dataset, int, int]:
    """Keep the first row of each normalised text; count the rows dropped and label conflicts."""
    first: dict[str, int] = {}
    labels: dict[str, set] = {}
    for i, (text, label) in enumerate(zip(ds["text"], ds[label_col], strict=True)):
        key = dedup_key(text)
        first.setdefault(key, i)
        labels.setdefault(key, set()).add(label)
    keep = sorted(first.values())
    conflicts = sum(1 for values in labels.values() if len(values) > 1)
    return ds.select(keep), len(ds) - len(keep), conflicts


def dedup_split(ds: datasets.Dataset, label_col: str, test_size: float, seed: int) -> DedupSplit:
    """De-duplicate by normalised text, then split stratified on ``label_col`` with ``seed``."""
    unique, dropped, conflicts = dedup_by_text(ds, label_col)
    idx = np.arange(len(unique))
    train_idx, test_idx = train_test_split(
        idx, test_size=test_size, random_state=seed, stratify=unique[label_col]
    )
    return DedupSplit(
        train=unique.select(sorted(train_idx)),
        test=unique.select(sorted(test_idx)),
        duplicates_dropped=dropped,
        conflicting_labels=conflicts,
    )


def stratified_subsample(ds: datasets.Dataset, label_col: str, n: int | None, seed: int
                         ) -> datasets.Dataset:
    """``n`` rows keeping the label proportions (all rows when ``n`` is None or too large)."""
    if n is None or n >= len(ds):
        return ds
    idx, _ = train_test_split(
        np.arange(len(ds)), train_size=n, random_state=seed, stratify=ds[label_col]
    )
    return ds.select(sorted(idx))
