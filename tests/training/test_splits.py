import datasets

from nlp.text import dedup_key
from training.splits import dedup_split, stratified_subsample


def _toy(n=200):
    texts, labels = [], []
    for i in range(n):
        label = ("negative", "neutral", "positive")[(i // 2) % 3]
        texts.append(f"@brand{i} post number {i // 2} {label}")  # pairs differ only by handle
        labels.append(label)
    return datasets.Dataset.from_dict({"text": texts, "sentiment": labels})


def test_dedup_split_keeps_every_normalised_text_on_one_side():
    split = dedup_split(_toy(), "sentiment", test_size=0.2, seed=13)
    train_keys = {dedup_key(t) for t in split.train["text"]}
    test_keys = {dedup_key(t) for t in split.test["text"]}
    assert not train_keys & test_keys
    assert split.duplicates_dropped > 0
    assert len(split.train) + len(split.test) + split.duplicates_dropped == 200


def test_dedup_split_is_deterministic_and_stratified():
    a = dedup_split(_toy(), "sentiment", 0.2, seed=13)
    b = dedup_split(_toy(), "sentiment", 0.2, seed=13)
    assert a.test["text"] == b.test["text"]
    shares = [a.test["sentiment"].count(s) / len(a.test) for s in ("negative", "neutral")]
    assert all(abs(share - 1 / 3) < 0.06 for share in shares)


def test_real_airline_split_has_no_shared_text(real_datasets):
    split = dedup_split(real_datasets["airline-sentiment-2015"], "sentiment", 0.2, seed=13)
    train_keys = {dedup_key(t) for t in split.train["text"]}
    assert not train_keys & {dedup_key(t) for t in split.test["text"]}
    assert abs(len(split.test) / (len(split.train) + len(split.test)) - 0.2) < 0.001


def test_stratified_subsample():
    ds = _toy(300)
    sub = stratified_subsample(ds, "sentiment", 60, seed=1)
    assert len(sub) == 60 and sub["sentiment"].count("positive") == 20
    assert stratified_subsample(ds, "sentiment", None, seed=1) is ds
