"""The committed gold annotations: format, size, agreement set, and a clean dev/test split."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from tests.conftest import REPO
from training.annotation import DOUBLE, DOUBLE_OOD, read_annotations
from training.ood import HELD_OUT_INDUSTRIES, industry_of, is_held_out, ood_side
from training.splits import near_duplicate_key

FOLDER = REPO / "data" / "annotations"


@pytest.fixture(scope="module")
def gold() -> list[dict]:
    return [json.loads(line) for line in (FOLDER / "gold.jsonl").read_text().splitlines()]


def test_gold_has_the_promised_size_and_double_labelled_set(gold):
    assert len(gold) >= 900
    assert len({g["item_id"] for g in gold}) == len(gold)
    assert sum(len(g["annotators"]) == 2 for g in gold) >= 200
    assert {g["split"] for g in gold} == {"dev", "test", "ood-dev", "ood-test"}
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
    fields = ("sentiment", "complaint", "themes", "churn_intent")
    differ = set()
    for a, b in (DOUBLE, DOUBLE_OOD):
        first, second = labels[a], labels[b]
        shared = set(first) & set(second)
        assert len(shared) >= 150
        differ |= {i for i in shared if any(first[i][f] != second[i][f] for f in fields)}
    assert differ == set(adjudication)
    by_id = {g["item_id"]: g for g in gold}
    for item in differ:
        assert all(by_id[item][f] == adjudication[item][f] for f in fields)


def test_no_author_or_near_duplicate_text_on_both_sides(gold, real_datasets):
    rows = {(r["source"], r["post_id"]): r for ds in real_datasets.values() for r in ds}
    # the sides that may train (dev, out-of-domain dev) against those that never do
    side_of = {"dev": "dev", "ood-dev": "dev", "test": "test", "ood-test": "test"}
    sides: dict[tuple[str, str], set[str]] = {}
    for g in gold:
        row = rows[(g["source"], g["post_id"])]
        side = side_of[g["split"]]
        sides.setdefault(("text", near_duplicate_key(row["text"])), set()).add(side)
        if row["author_id"]:
            sides.setdefault(("author", row["author_id"].casefold()), set()).add(side)
    both = [key for key, seen in sides.items() if len(seen) > 1]
    assert not both, both[:5]


def test_themes_reach_thirty_positives_where_the_readme_says_they_do(gold):
    counts = Counter(t for g in gold for t in g["themes"])
    readme = (FOLDER / "README.md").read_text()
    for theme in THEME_KEYS:
        if counts[theme] < 30:
            assert f"`{theme}`" in readme and "short" in readme, theme


# --- the out-of-domain gold (issue [H]) ------------------------------------------------


def test_the_out_of_domain_round_is_split_by_industry(gold, real_datasets):
    rows = {(r["source"], r["post_id"]): r for ds in real_datasets.values() for r in ds}
    ood = [g for g in gold if g["split"].startswith("ood-")]
    assert len(ood) >= 1000
    for g in ood:
        row = rows[(g["source"], g["post_id"])]
        assert g["industry"] == industry_of(row), g["item_id"]
        assert g["split"] == ood_side(g["industry"]), g["item_id"]
    held_out = {g["industry"] for g in ood if g["split"] == "ood-test"}
    assert held_out == set(HELD_OUT_INDUSTRIES)
    # the first round keeps its split; its items of held-out industries are scored out of
    # domain and never train (training.corpus)
    assert all(g["split"] in ("dev", "test") for g in gold if not g["split"].startswith("ood"))


def test_the_out_of_domain_test_has_the_positives_the_readme_reports(gold, real_datasets):
    rows = {(r["source"], r["post_id"]): r for ds in real_datasets.values() for r in ds}
    test = [g for g in gold if is_held_out(rows[(g["source"], g["post_id"])])]
    counts = Counter(t for g in test for t in g["themes"])
    assert sum(g["churn_intent"] for g in test) >= 30
    readme = (FOLDER / "README.md").read_text()
    for theme in THEME_KEYS:
        if counts[theme] < 20:  # short: the README must say so, with the count
            assert f"`{theme}`: {counts[theme]} out-of-domain test positives" in readme, theme
