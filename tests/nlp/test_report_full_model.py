"""The report on the output of a model that predicts the whole taxonomy (the shape of [E]).

The TF-IDF baseline predicts three themes and no churn intent; the fine-tuned model
predicts every theme and churn. This drives ``score_dump`` with a fake classifier of
that second shape, and checks that ``radar report``'s library path uses every column.
"""

from __future__ import annotations

import json

import pytest

from nlp.batch import score_dump
from nlp.brands import Brand, BrandBook
from nlp.report import build_report, report_records
from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from nlp.types import Prediction

CUES = {"hold": "waiting", "press 1": "ivr_menu", "again my account number": "not_known",
        "third time": "unresolved", "rude": "staff_attitude", "website": "self_service",
        "charged": "billing", "broken": "product_failure", "spam": "marketing_spam"}


class FullTaxonomyClassifier:
    """Every theme and churn intent, from cue words; deterministic."""

    model_version = "fake-multitask-1"
    meta = {"model_version": model_version, "kind": "fake"}

    def predict(self, texts, keys=None):
        out = []
        for text, (source, post_id) in zip(texts, keys, strict=True):
            themes = {t: 0.05 for t in THEME_KEYS}
            themes.update({t: 0.95 for cue, t in CUES.items() if cue in text})
            complaint = 0.9 if any(p > 0.5 for p in themes.values()) else 0.1
            positive = 0.9 if "thanks" in text else 0.05
            probs = {"negative": 0.9 - positive if complaint > 0.5 else 0.05,
                     "neutral": 0.05, "positive": positive}
            probs["neutral"] = 1.0 - probs["negative"] - probs["positive"]
            sentiment = max(SENTIMENTS, key=probs.get)
            churn = 0.95 if "switching" in text else 0.02
            out.append(Prediction(source, post_id, sentiment, probs, complaint, themes, churn,
                                  self.model_version))
        return out


def _dump(path):
    rows = [
        ("1", "ann", "Acme", "2024-03-01T10:00:00Z", "third time calling, still broken"),
        ("2", "ann", "Acme", "2024-03-02T10:00:00Z", "press 1, press 2, switching to Bolt"),
        ("3", "bob", "Acme", "2024-03-01T11:00:00Z", "charged twice for one order"),
        ("4", "cat", "Acme", "2024-03-03T09:00:00Z", "love it, thanks"),
        ("5", "dan", "Bolt", "2024-03-01T12:00:00Z", "spam emails every day"),
        ("6", "eve", "Bolt", "2024-03-02T12:00:00Z", "on hold for an hour"),
        ("7", "eve", "Bolt", "2024-03-03T12:00:00Z", "sorted now, thanks"),
        ("8", "acme", "Acme", "2024-03-02T12:00:00Z", "sorry to hear that, DM us"),
    ]
    with path.open("w", encoding="utf-8") as fh:
        for post_id, author, brand, time, text in rows:
            fh.write(json.dumps({"id": post_id, "author_id": author, "brand": brand,
                                 "created_at": time, "text": text}) + "\n")
    return path


@pytest.fixture
def report(tmp_path):
    scored = tmp_path / "scored.parquet"
    score_dump(_dump(tmp_path / "dump.jsonl"), scored, FullTaxonomyClassifier())
    book = BrandBook((Brand("Acme", handles=("acme",)), Brand("Bolt", handles=("bolt",))))
    return build_report(scored, book, window="7d")


def test_every_theme_and_churn_column_reaches_the_report(report):
    [acme] = [w for w in report.windows if w.risk.brand == "Acme"]
    assert report.model_versions == ("fake-multitask-1",)
    assert acme.risk.customers == 3  # ann, bob, cat; the brand's own reply is left out
    assert report.exclusions.brand_account == 1
    drivers = acme.risk.drivers
    assert {"churn_intent", "unresolved", "ivr_menu", "billing", "product_failure"} <= set(drivers)
    assert max(drivers, key=drivers.get) == "churn_intent"  # stated intent dominates
    ann = next(c for c in acme.customers if c.author_id == "@ann")
    assert ann.risk > 0.9 and set(ann.post_ids) == {"1", "2"}


def test_a_later_thanks_lowers_the_customers_risk(report, tmp_path):
    [bolt] = [w for w in report.windows if w.risk.brand == "Bolt"]
    resolved = {c.author_id: c.risk for c in bolt.customers}["@eve"]
    # The same file without eve's later "sorted now, thanks".
    lines = _dump(tmp_path / "all.jsonl").read_text().splitlines()
    dump = tmp_path / "unresolved.jsonl"
    dump.write_text("\n".join(x for x in lines if '"id": "7"' not in x) + "\n")
    scored = tmp_path / "unresolved.parquet"
    score_dump(dump, scored, FullTaxonomyClassifier())
    [bolt_before] = [w for w in build_report(scored, window="7d").windows
                     if w.risk.brand == "Bolt"]
    unresolved = {c.author_id: c.risk for c in bolt_before.customers}["@eve"]
    assert resolved < 0.7 * unresolved  # resolution_weight 0.5 x p_positive 0.9 on complaints
    assert set(bolt.risk.drivers) >= {"waiting", "marketing_spam"}


def test_records_carry_the_version_and_drivers(report):
    records = report_records(report)
    assert {r["score_version"] for r in records} == {"risk.v1"}
    for record in records:
        assert sum(record["drivers"].values()) == pytest.approx(1.0, abs=1e-5)
