"""The written-posts training source (issue [H]): well-formed, and never an evaluation item."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.conftest import REPO
from training.annotation import read_jsonl
from training.behaviour import DIR_BASES, INV_BASES, MFT_CASES
from training.corpus import WRITTEN_FILES, CorpusError, load_written
from training.ood import HELD_OUT_INDUSTRIES
from training.splits import near_duplicate_key


@pytest.fixture(scope="module")
def written() -> list[dict]:
    """Every written batch, each under its own source name."""
    return [row for source, path in WRITTEN_FILES.items()
            for row in load_written(REPO / path, source)]


@pytest.mark.parametrize("source", sorted(WRITTEN_FILES))
def test_each_written_batch_loads_with_full_labels(source):
    rows = load_written(REPO / WRITTEN_FILES[source], source)
    assert len(rows) >= 400
    assert sum(r["churn_intent"] for r in rows) >= 150
    assert all(r["source"] == source for r in rows)
    forms = Counter(r["form"] for r in read_jsonl(REPO / WRITTEN_FILES[source]))
    assert forms["near_miss"] >= 50 and forms["negation"] >= 50


def test_written_post_ids_and_texts_are_unique_across_batches(written):
    assert len({r["post_id"] for r in written}) == len(written)
    assert len({near_duplicate_key(r["text"]) for r in written}) == len(written)


def test_written_posts_stay_out_of_the_held_out_industries(written):
    industries = Counter(r["domain"] for r in written)
    assert len(industries) >= 10
    assert not set(industries) & set(HELD_OUT_INDUSTRIES)


def test_no_written_post_is_an_evaluation_item(written):
    keys = {near_duplicate_key(r["text"]) for r in written}
    behaviour = ({near_duplicate_key(c.text) for c in MFT_CASES}
                 | {near_duplicate_key(t) for t in (*INV_BASES, *DIR_BASES)})
    assert not keys & behaviour


def _words(text: str) -> frozenset[str]:
    """Content words of a post, without @handles: what a paraphrase keeps."""
    return frozenset(w for w in re.findall(r"[a-z']+", re.sub(r"@\w+", "", text.lower()))
                     if len(w) > 2)


def test_no_written_post_paraphrases_a_behaviour_case(written):
    """Closer than a shared form: at most half of the words in common (Jaccard < 0.6;
    the closest pairs today share a form such as "not bad at all", at 0.5)."""
    cases = [_words(t) for t in (*(c.text for c in MFT_CASES), *INV_BASES, *DIR_BASES)]
    close = [(r["post_id"], round(len(a & b) / len(a | b), 2))
             for r in written if (a := _words(r["text"]))
             for b in cases if b and len(a & b) / len(a | b) >= 0.6]
    assert not close


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


def test_every_written_batch_counts_as_written_and_never_as_a_held_out_industry():
    from training.ood import industry_of

    for source in WRITTEN_FILES:
        assert industry_of({"source": source, "domain": "bank"}) == "written (training only)"
