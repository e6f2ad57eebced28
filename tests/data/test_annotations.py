"""The committed gold annotations: format, size, agreement set, and a clean dev/test split."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from tests.conftest import REPO
from training.annotation import read_annotations
from training.splits import near_duplicate_key

FOLDER = REPO / "data" / "annotations"


@pytest.fixture(scope="module")
def gold() -> list[dict]:
    return [json.loads(line) for line in (FOLDER / "gold.jsonl").read_text().splitlines()]


def test_gold_has_the_promised_size_and_double_labelled_set(gold):
    assert len(gold) >= 900
    assert len({g["item_id"] for g in gold}) == len(gold)
    assert sum(len(g["annotators"]) == 2 for g in gold) >= 200
    assert {g["split"] for g in gold} == {"dev", "test"}
    assert sum(g["sample"] == "random" for g in gold) >= 200  # for prevalence estimates


def test_gold_labels_follow_the_taxonomy(gold):
    for g in gold:
        assert g["sentiment"] in SENTIMENTS
        assert g["complaint"] in (0, 1) and g["churn_intent"] in (0, 1)
        assert set(g["themes"]) <= set(THEME_KEYS)
        assert not g["themes"] or g["complaint"] == 1, g["item_id"]  # themes only on complaints


def test_gold_records_its_origin_and_matches_the_pool(gold):
    pool = {json.loads(x)["item_id"]: json.loads(x)
            for x in (FOLDER / "pool.jsonl").read_text().splitlines()}
    for g in gold:
        item = pool[g["item_id"]]
        assert (g["source"], g["post_id"], g["sample"]) == (
            item["source"], item["post_id"], item["sample"])


def test_double_labelled_disagreements_are_all_adjudicated(gold):
    labels, adjudication = read_annotations(FOLDER)
    first, second = labels["annotator-a"], labels["annotator-b"]
    fields = ("sentiment", "complaint", "themes", "churn_intent")
    differ = {i for i in set(first) & set(second)
              if any(first[i][f] != second[i][f] for f in fields)}
    assert differ == set(adjudication)
    by_id = {g["item_id"]: g for g in gold}
    for item in differ:
        assert all(by_id[item][f] == adjudication[item][f] for f in fields)


def test_no_author_or_near_duplicate_text_on_both_sides(gold, real_datasets):
    rows = {(r["source"], r["post_id"]): r for ds in real_datasets.values() for r in ds}
    sides: dict[tuple[str, str], set[str]] = {}
    for g in gold:
        row = rows[(g["source"], g["post_id"])]
        sides.setdefault(("text", near_duplicate_key(row["text"])), set()).add(g["split"])
        if row["author_id"]:
            sides.setdefault(("author", row["author_id"].casefold()), set()).add(g["split"])
    both = [key for key, seen in sides.items() if len(seen) > 1]
    assert not both, both[:5]


def test_themes_reach_thirty_positives_where_the_readme_says_they_do(gold):
    counts = Counter(t for g in gold for t in g["themes"])
    readme = (FOLDER / "README.md").read_text()
    for theme in THEME_KEYS:
        if counts[theme] < 30:
            assert f"`{theme}`" in readme and "short" in readme, theme
