"""Gold annotations, weak labels and the corpus builder, on small synthetic datasets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from nlp.taxonomy import THEME_KEYS
from training.annotation import (
    AnnotationError,
    PoolPlan,
    agreement,
    assemble_gold,
    cohen_kappa,
    draw_pool,
    make_gold,
    read_labels,
    split_gold,
    write_jsonl,
)
from training.corpus import CorpusError, build_corpus, stale_inputs
from training.splits import near_duplicate_key
from training.weak import evaluate_weak, fit_weak_model, labeling_functions

AIRLINE, COMPLAINTS = "airline-sentiment-2015", "complaints-2019"


def _row(source, post_id, text, author=None, sentiment=None, complaint=None, reason=None):
    return {"source": source, "post_id": post_id, "text": text, "brand": None, "domain": None,
            "author_id": author, "created_at": None, "sentiment": sentiment,
            "complaint": complaint, "reason": reason, "themes": []}


TEXTS = [
    ("on hold for 2 hours, nobody answers", "waiting"),
    ("press 1 press 2 and then it hung up on me", "ivr_menu"),
    ("third time I give you my account number", "not_known"),
    ("called 4 times and it is still broken", "unresolved"),
    ("the gate agent was so rude to me", "staff_attitude"),
    ("website keeps crashing at checkout", "self_service"),
    ("charged twice for one ticket, want a refund", "billing"),
    ("flight cancelled and my bag is lost", "product_failure"),
    ("stop sending me spam emails every day", "marketing_spam"),
    ("never flying with you again, switching to delta", None),
    ("thanks for the great flight", None),
    ("what time does boarding start?", None),
]


def _datasets(copies: int = 6) -> dict[str, list[dict]]:
    """Each text several times with small variations, by different authors."""
    airline, complaints = [], []
    for c in range(copies):
        for i, (text, _) in enumerate(TEXTS):
            variant = f"{text} #{c}" if c else text
            sentiment = "positive" if "thanks" in text else "negative" if i < 10 else "neutral"
            airline.append(_row(AIRLINE, f"a{c}-{i}", f"@united {variant}", f"user{c}_{i}",
                                sentiment=sentiment))
            complaints.append(_row(COMPLAINTS, f"c{c}-{i}", f"{variant} (c)",
                                   complaint=int(sentiment == "negative")))
            # a retweet of the same post by someone else: a near-duplicate
            airline.append(_row(AIRLINE, f"rt{c}-{i}", f"RT @fan: @united {variant}!",
                                f"fan{c}_{i}", sentiment=sentiment))
    return {AIRLINE: airline, COMPLAINTS: complaints}


def _labels_for(text: str) -> dict:
    theme = next((t for s, t in TEXTS if s in text), None)
    churn = int("never flying" in text)
    complaint = int(theme is not None or churn)
    return {"sentiment": "positive" if "thanks" in text else
            "negative" if complaint else "neutral",
            "complaint": complaint, "themes": [theme] if theme else [], "churn_intent": churn}


@pytest.fixture
def annotated(tmp_path) -> tuple[Path, dict]:
    """A pool drawn from the synthetic datasets, labelled by two annotators (double) + one."""
    rows = _datasets()
    pool = draw_pool(rows, PoolPlan({AIRLINE: 20, COMPLAINTS: 20}, per_search=5, seed=1))
    text_of = {p["item_id"]: p["text"] for p in pool}
    folder = tmp_path / "annotations"
    (folder / "raw").mkdir(parents=True)
    write_jsonl([{k: p[k] for k in ("item_id", "source", "post_id", "sample")} for p in pool],
                folder / "pool.jsonl")
    double, single = pool[:30], pool[30:]
    for name, items in (("annotator-a", double), ("annotator-b", double),
                        ("annotator-c", single)):
        write_jsonl([{"item_id": p["item_id"], **_labels_for(text_of[p["item_id"]])}
                     for p in items], folder / "raw" / f"{name}.jsonl")
    make_gold(folder, rows)
    return folder, rows


# --- annotation -------------------------------------------------------------------------


def test_pool_is_deterministic_and_free_of_duplicate_texts():
    rows = _datasets()
    plan = PoolPlan({AIRLINE: 10, COMPLAINTS: 10}, per_search=5, seed=3)
    first, second = draw_pool(rows, plan), draw_pool(rows, plan)
    assert first == second
    keys = [near_duplicate_key(p["text"]) for p in first]
    assert len(keys) == len(set(keys)) or len({p["text"] for p in first}) == len(first)
    assert sum(p["sample"] == "random" for p in first) == 20
    assert all(p["sample"].startswith(("random", "search:", "search2:")) for p in first)


def test_kappa_matches_a_hand_computed_case():
    a = [1, 1, 0, 0, 1, 0, 1, 0]
    b = [1, 0, 0, 0, 1, 0, 1, 1]
    # observed 6/8; expected 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa 0.5
    assert cohen_kappa(a, b) == pytest.approx(0.5)
    assert cohen_kappa([1, 1], [1, 1]) is None  # one category: undefined, not 1.0


def test_agreement_reports_every_label(tmp_path):
    one = {"g1": {"item_id": "g1", "sentiment": "negative", "complaint": 1,
                  "themes": ["billing"], "churn_intent": 0}}
    two = {"g1": {**one["g1"], "themes": []}}
    rows = {r["label"]: r for r in agreement(one, two)}
    assert rows["billing"]["agreement"] == 0 and rows["sentiment"]["agreement"] == 1
    assert set(rows) == {"sentiment", "complaint", *THEME_KEYS, "churn_intent"}


@pytest.mark.parametrize("bad, message", [
    ({"sentiment": "angry"}, "sentiment must be"),
    ({"complaint": 2}, "complaint must be 0 or 1"),
    ({"themes": ["queue"]}, "themes must be a list"),
    ({"complaint": 0, "themes": ["billing"]}, "only to complaints"),
])
def test_bad_labels_are_refused_with_the_item_named(tmp_path, bad, message):
    label = {"item_id": "g7", "sentiment": "negative", "complaint": 1, "themes": [],
             "churn_intent": 0, **bad}
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(label) + "\n")
    with pytest.raises(AnnotationError, match=message) as info:
        read_labels(path)
    assert "g7" in str(info.value)


def test_disagreements_need_an_adjudication():
    pool = [{"item_id": "g1", "source": AIRLINE, "post_id": "1", "sample": "random"}]
    a = {"item_id": "g1", "sentiment": "negative", "complaint": 1, "themes": ["billing"],
         "churn_intent": 0}
    b = {**a, "themes": ["billing", "waiting"]}
    labels = {"annotator-a": {"g1": a}, "annotator-b": {"g1": b}}
    with pytest.raises(AnnotationError, match="disagree on \\['themes'\\]"):
        assemble_gold(pool, labels, {})
    [gold] = assemble_gold(pool, labels, {"g1": {**b, "themes": ["billing"]}})
    assert gold["themes"] == ["billing"] and gold["adjudicated"]
    assert gold["annotators"] == ["annotator-a", "annotator-b"]


def test_split_keeps_authors_and_near_duplicates_on_one_side():
    gold = [{"item_id": f"g{i}"} for i in range(200)]
    texts = {f"g{i}": f"post number {i // 2}!!" if i % 2 else f"RT @x: post number {i // 2}"
             for i in range(200)}
    authors = {f"g{i}": f"author{i // 4}" for i in range(200)}
    side = split_gold(gold, texts, authors)
    for i in range(0, 200, 2):
        assert side[f"g{i}"] == side[f"g{i + 1}"]  # near-duplicate pair
    for i in range(0, 200, 4):
        assert len({side[f"g{i + k}"] for k in range(4)}) == 1  # same author
    assert 0.25 < sum(v == "test" for v in side.values()) / 200 < 0.75


# --- weak labels ------------------------------------------------------------------------


def test_each_theme_and_churn_has_labelling_functions():
    keys = {lf.key for lf in labeling_functions()}
    assert keys == {*THEME_KEYS, "churn_intent"}


def test_weak_model_keeps_precise_lfs_and_finds_the_themes(annotated):
    folder, rows = annotated
    gold = [json.loads(x) for x in (folder / "gold.jsonl").read_text().splitlines()]
    by_key = {(r["source"], r["post_id"]): r for name in rows for r in rows[name]}
    dev = [g for g in gold if g["split"] == "dev"]
    dev_rows = [by_key[(g["source"], g["post_id"])] for g in dev]
    corpus_rows = [r for name in rows for r in rows[name]]
    model = fit_weak_model(corpus_rows, dev_rows, dev, [g["sample"] == "random" for g in dev])
    scores = evaluate_weak(model, dev_rows, dev)
    for theme in ("waiting", "billing", "staff_attitude"):
        if scores[theme]["support"]:
            assert scores[theme]["recall"] > 0.5 and scores[theme]["precision"] > 0.5
    assert all(not s.kept for s in model.stats if s.fires_dev < 3)


# --- the corpus -------------------------------------------------------------------------


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_is_byte_identical_for_the_same_inputs(annotated, tmp_path):
    folder, rows = annotated
    first = build_corpus(tmp_path / "one", folder, rows, written_paths={})
    build_corpus(tmp_path / "two", folder, rows, written_paths={})
    assert _tree_digest(tmp_path / "one") == _tree_digest(tmp_path / "two")
    assert set(first.data) == {"train", "validation", "test"}
    assert (tmp_path / "one" / "DATA_CARD.md").read_text().startswith("# Training corpus")


def test_no_gold_test_text_or_author_leaks_into_training(annotated, tmp_path):
    folder, rows = annotated
    corpus = build_corpus(tmp_path / "c", folder, rows, written_paths={})
    test = corpus.data["test"]
    train = corpus.data["train"]
    test_keys = {near_duplicate_key(t) for t in test["text"]}
    assert not test_keys & {near_duplicate_key(t) for t in train["text"]}
    test_authors = {a for a in test["author_id"] if a}
    assert not test_authors & {a for a in train["author_id"] if a}
    gold_ids = {(s, p) for split in ("validation", "test")
                for s, p in zip(corpus.data[split]["source"], corpus.data[split]["post_id"],
                                strict=True)}
    assert not gold_ids & set(zip(train["source"], train["post_id"], strict=True))
    assert corpus.card["dropped_from_train"]["near-duplicate of gold test"] > 0


def test_masks_and_sources_say_which_labels_are_present(annotated, tmp_path):
    folder, rows = annotated
    corpus = build_corpus(tmp_path / "c", folder, rows, written_paths={})
    for row in corpus.data["train"]:
        if row["source"] == AIRLINE:
            assert row["sentiment_mask"] == 1 and row["complaint_mask"] == 0
            assert row["complaint"] == -1.0
        else:
            assert row["complaint_mask"] == 1 and row["sentiment_mask"] == 0
        assert row["themes_source"] == "weak" and len(row["themes"]) == len(THEME_KEYS)
        assert all(0.0 <= p <= 1.0 for p in row["themes"])
    for split in ("validation", "test"):
        assert set(corpus.data[split]["themes_source"]) == {"gold-annotation"}


def test_missing_gold_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="no gold annotations"):
        build_corpus(tmp_path / "c", tmp_path / "nothing", _datasets(), written_paths={})


def test_training_rebuilds_a_corpus_that_predates_the_held_out_industries(tmp_path,
                                                                          monkeypatch):
    import datasets
    from rich.console import Console

    import training.corpus as corpus_module
    from training.train_transformer import load_corpus

    old = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"]})})
    old.save_to_disk(str(tmp_path / "corpus"))
    built = []

    def fake_build(out_dir, *args, **kwargs):
        built.append(out_dir)
        datasets.DatasetDict({"train": datasets.Dataset.from_dict(
            {"text": ["a"], "industry": ["retail"]})}).save_to_disk(str(out_dir) + ".new")
        import shutil

        shutil.rmtree(out_dir)
        shutil.move(str(out_dir) + ".new", out_dir)

    monkeypatch.setattr(corpus_module, "build_corpus", fake_build)
    console = Console(record=True, width=200)
    corpus = load_corpus(tmp_path / "corpus", console)
    assert built == [tmp_path / "corpus"]
    assert "industry" in corpus["train"].column_names
    assert "predates the held-out industries" in console.export_text()
    load_corpus(tmp_path / "corpus", console)
    assert len(built) == 1  # a current corpus is used as it is


def test_each_written_batch_is_its_own_source_and_a_changed_batch_marks_the_corpus_stale(
        annotated, tmp_path):
    folder, rows = annotated
    batches = {}
    for n, source in enumerate(("written-posts", "written-posts-2")):
        path = tmp_path / f"posts-{n}.jsonl"
        path.write_text(json.dumps({"post_id": f"w{n}", "text": f"cancelled my gym plan {n}",
                                    "industry": "gym", "sentiment": "negative",
                                    "complaint": 1, "themes": [], "churn_intent": 1}) + "\n",
                        encoding="utf-8")
        batches[source] = path
    corpus = build_corpus(tmp_path / "c", folder, rows, written_paths=batches)
    train = corpus.data["train"]
    written = {s: c for s, c in zip(train["source"], train["churn_intent_source"], strict=True)
               if s.startswith("written")}
    assert written == {"written-posts": "written-posts", "written-posts-2": "written-posts-2"}
    assert stale_inputs(tmp_path / "c") == []
    with batches["written-posts-2"].open("a", encoding="utf-8") as out:
        out.write(json.dumps({"post_id": "w9", "text": "switching to another gym",
                              "industry": "gym", "sentiment": "negative", "complaint": 0,
                              "themes": [], "churn_intent": 1}) + "\n")
    assert stale_inputs(tmp_path / "c") == [str(batches["written-posts-2"])]
    from rich.console import Console

    from training.train_transformer import load_corpus

    console = Console(record=True, width=300)
    load_corpus(tmp_path / "c", console)
    said = console.export_text()
    assert f"warning: the corpus in {tmp_path / 'c'} was built before" in said
    assert "radar corpus build" in said and "[" not in said
