"""Length-sorted, dynamically padded batches (the MiniLM tokenizer, no model)."""

import numpy as np
import pytest

from nlp.classifier.batching import length_batches
from nlp.text import normalize_text

TEXTS = ["@united lost my bag", "thanks for the great flight!", "x",
         "the flight was late by 3 hours and nobody cared " * 4, "hold hold hold", "great",
         "see https://example.com/a/very/long/link?q=1 for the details", ""]
MAX_LENGTH = 16


def batches(tokenizer, texts=TEXTS, batch_size=3, tensors="np"):
    return list(length_batches(tokenizer, texts, MAX_LENGTH, batch_size, tensors))


def test_every_text_is_in_exactly_one_batch_of_at_most_batch_size(tiny_tokenizer):
    out = batches(tiny_tokenizer)
    assert sorted(np.concatenate([index for index, _ in out]).tolist()) == list(range(len(TEXTS)))
    assert [len(index) for index, _ in out] == [3, 3, 2]
    assert all(len(batch["input_ids"]) == len(index) for index, batch in out)


def test_batches_go_from_short_to_long_each_padded_to_its_own_longest(tiny_tokenizer):
    out = batches(tiny_tokenizer)
    lengths = [batch["attention_mask"].sum(axis=1) for _, batch in out]
    widths = [batch["input_ids"].shape[1] for _, batch in out]
    assert widths == [int(n.max()) for n in lengths]  # no batch is wider than it needs
    flat = np.concatenate(lengths)
    assert np.all(np.diff(flat) >= 0)  # sorted by length across the batches
    assert widths[0] < widths[-1] == MAX_LENGTH  # the long text is truncated


def test_rows_hold_the_normalised_text_of_the_index_they_are_returned_with(tiny_tokenizer):
    for index, batch in batches(tiny_tokenizer):
        for row, i in enumerate(index):
            expected = tiny_tokenizer(normalize_text(TEXTS[i]), truncation=True,
                                      max_length=MAX_LENGTH)["input_ids"]
            mask = batch["attention_mask"][row].astype(bool)
            assert batch["input_ids"][row][mask].tolist() == expected, TEXTS[i]


def test_equal_lengths_keep_their_input_order_and_pt_gives_tensors(tiny_tokenizer):
    torch = pytest.importorskip("torch")
    same = ["great", "fine", "good", "nice"]  # one token each
    out = batches(tiny_tokenizer, same, batch_size=2, tensors="pt")
    assert [index.tolist() for index, _ in out] == [[0, 1], [2, 3]]
    assert all(isinstance(batch["input_ids"], torch.Tensor) for _, batch in out)


def test_no_texts_give_no_batches(tiny_tokenizer):
    assert batches(tiny_tokenizer, []) == []
