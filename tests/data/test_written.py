"""The written-posts training source (issue [H]): well-formed, and never an evaluation item."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import REPO
from training.annotation import read_jsonl
from training.behaviour import DIR_BASES, INV_BASES, MFT_CASES
from training.corpus import WRITTEN_FILE, CorpusError, load_written
from training.ood import HELD_OUT_INDUSTRIES
from training.splits import near_duplicate_key


@pytest.fixture(scope="module")
def written() -> list[dict]:
    return load_written(REPO / WRITTEN_FILE)


def test_written_posts_load_with_full_labels(written):
    assert len(written) >= 400
    assert len({r["post_id"] for r in written}) == len(written)
    assert sum(r["churn_intent"] for r in written) >= 150
    assert all(r["source"] == "written-posts" for r in written)


def test_written_posts_stay_out_of_the_held_out_industries(written):
    industries = Counter(r["domain"] for r in written)
    assert len(industries) >= 10
    assert not set(industries) & set(HELD_OUT_INDUSTRIES)


def test_no_written_post_is_an_evaluation_item(written):
    keys = {near_duplicate_key(r["text"]) for r in written}
    behaviour = ({near_duplicate_key(c.text) for c in MFT_CASES}
                 | {near_duplicate_key(t) for t in (*INV_BASES, *DIR_BASES)})
    assert not keys & behaviour


def test_a_written_post_without_text_is_refused(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text('{"post_id": "w1", "text": " ", "sentiment": "neutral", "complaint": 0, '
                    '"themes": [], "churn_intent": 0}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="needs post_id and text"):
        load_written(path)


def test_gold_texts_never_appear_among_written_posts(written, real_datasets):
    rows = {(r["source"], r["post_id"]): r for ds in real_datasets.values() for r in ds}
    gold = read_jsonl(REPO / "data/annotations/gold.jsonl")
    gold_keys = {near_duplicate_key(rows[(g["source"], g["post_id"])]["text"]) for g in gold}
    assert not gold_keys & {near_duplicate_key(r["text"]) for r in written}
