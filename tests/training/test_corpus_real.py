"""`radar corpus build` on the real datasets and the committed gold: deterministic, no leaks."""

from __future__ import annotations

import hashlib
import json

from typer.testing import CliRunner

from radar.cli import app
from tests.conftest import REPO
from training.ood import HELD_OUT_INDUSTRIES
from training.splits import near_duplicate_key

runner = CliRunner()


def _digest(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_corpus_build_is_deterministic_and_keeps_gold_test_out(mirror_dir, tmp_path,
                                                               monkeypatch):
    import datasets

    monkeypatch.setenv("RADAR_DATA_MIRROR", str(mirror_dir))
    annotations = str(REPO / "data" / "annotations")
    outs = [tmp_path / "one", tmp_path / "two"]
    for out in outs:
        result = runner.invoke(app, ["corpus", "build", "--annotations", annotations,
                                     "--out", str(out)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
    assert "weak labels on gold test" in result.output  # the bar is printed
    assert _digest(outs[0]) == _digest(outs[1])

    corpus = datasets.load_from_disk(str(outs[0]))
    gold = [json.loads(x) for x in (REPO / "data/annotations/gold.jsonl").read_text().splitlines()]
    in_both = len({(s, p) for s, p in zip(corpus["test"]["source"], corpus["test"]["post_id"],
                                          strict=True)}
                  & {(s, p) for s, p in zip(corpus["ood_test"]["source"],
                                            corpus["ood_test"]["post_id"], strict=True)})
    assert (len(corpus["validation"]) + len(corpus["test"]) + len(corpus["ood_test"])
            == len(gold) + in_both)
    train = corpus["train"]
    # whole industries stay out of training, and nothing like an out-of-domain test item
    assert not set(train["industry"]) & set(HELD_OUT_INDUSTRIES)
    assert not set(corpus["validation"]["industry"]) & set(HELD_OUT_INDUSTRIES)
    assert set(corpus["ood_test"]["industry"]) == set(HELD_OUT_INDUSTRIES)
    ood_texts = {near_duplicate_key(t) for t in corpus["ood_test"]["text"]}
    assert not ood_texts & {near_duplicate_key(t) for t in train["text"]}
    test_texts = {near_duplicate_key(t) for t in corpus["test"]["text"]}
    assert not test_texts & {near_duplicate_key(t) for t in train["text"]}
    test_authors = {a.casefold() for a in corpus["test"]["author_id"] if a}
    assert not test_authors & {a.casefold() for a in train["author_id"] if a}
    card = json.loads((outs[0] / "data_card.json").read_text())
    assert set(card["weak_on_test"]) == {"waiting", "ivr_menu", "not_known", "unresolved",
                                         "staff_attitude", "self_service", "billing",
                                         "product_failure", "marketing_spam", "churn_intent"}
