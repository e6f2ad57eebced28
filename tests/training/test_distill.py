"""Distillation targets from a frozen teacher: a tiny random BERT stands in for mpnet."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
from rich.console import Console

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from training import distill  # noqa: E402
from training.corpus import FEATURES  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "on", "hold", "for", "hours", "bye",
         "i", "am", "leaving", "great", "app", "crashed", "user", "http", "thanks"]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("teacher")
    (out / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(out / "vocab.txt")).save_pretrained(out)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=64)
    transformers.BertModel(config).save_pretrained(out)
    return out


def _row(i: int, text: str, hold: float, leave: float, source: str) -> dict:
    themes = [0.0] * 9
    themes[0] = hold  # waiting
    return {"source": source, "post_id": str(i), "text": text, "brand": None, "author_id": None,
            "created_at": None, "sentiment": -1, "sentiment_mask": 0, "sentiment_source": "none",
            "complaint": -1.0, "complaint_mask": 0, "complaint_source": "none",
            "themes": themes, "themes_mask": 1,
            "themes_source": "weak" if source != "written-posts" else source,
            "churn_intent": leave, "churn_intent_mask": 1,
            "churn_intent_source": "weak" if source != "written-posts" else source,
            "industry": "retail"}


def _split(rows) -> datasets.Dataset:
    return datasets.Dataset.from_list(rows, features=FEATURES)


def test_weak_targets_become_teacher_probabilities_and_gold_stays(teacher_dir, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr(distill, "TEACHER_CACHE", tmp_path / "cache")
    texts = [("on hold for hours", 0.9, 0.05), ("i am leaving bye", 0.05, 0.9),
             ("great app thanks", 0.02, 0.02), ("app crashed", 0.1, 0.05)] * 5
    train = _split([_row(i, t, h, c, "complaints-2019") for i, (t, h, c) in enumerate(texts)]
                   + [_row(100, "bye", 0.0, 1.0, "written-posts")])
    dev_fit = _split([_row(200, "hold for hours", 1.0, 0.0, "complaints-2019")])
    out = distill.distil_targets(train, dev_fit, teacher_dir, Console(quiet=True))

    assert out.features == train.features and len(out) == len(train)
    assert set(out["themes_source"]) == {"teacher", "written-posts"}
    churn = np.asarray(out["churn_intent"])
    assert ((churn >= 0) & (churn <= 1)).all()
    assert churn[-1] == 1.0  # a gold (written) label is kept as it is
    assert not np.allclose(churn[:-1], np.asarray(train["churn_intent"])[:-1])
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # train and dev, cached

    def no_embedding(*args, **kwargs):
        raise AssertionError("embeddings should come from the cache")

    monkeypatch.setattr(distill, "embed_texts", no_embedding)
    again = distill.distil_targets(train, dev_fit, teacher_dir, Console(quiet=True))
    assert np.allclose(again["churn_intent"], out["churn_intent"])


def test_a_half_mix_keeps_half_of_the_weak_target(teacher_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(distill, "TEACHER_CACHE", tmp_path / "cache")
    rows = [_row(i, t, h, c, "complaints-2019") for i, (t, h, c) in enumerate(
        [("on hold for hours", 1.0, 0.0), ("i am leaving", 0.0, 1.0)] * 4)]
    train, dev_fit = _split(rows), _split(rows[:1])
    full = distill.distil_targets(train, dev_fit, teacher_dir, Console(quiet=True), mix=1.0)
    half = distill.distil_targets(train, dev_fit, teacher_dir, Console(quiet=True), mix=0.5)
    expected = 0.5 * np.asarray(full["churn_intent"]) + 0.5 * np.asarray(train["churn_intent"])
    assert np.allclose(half["churn_intent"], expected, atol=1e-6)
