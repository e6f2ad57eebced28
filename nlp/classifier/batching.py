"""Length-sorted, dynamically padded batches: what makes transformer inference fast on CPU.

Texts are normalised and tokenised once, sorted by length and cut into batches, so each
batch is padded only to its own longest text, not to the longest overall.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from nlp.text import normalize_text


def length_batches(tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int,
                   tensors: str = "np") -> Iterator[tuple[np.ndarray, Any]]:
    """Normalise and tokenise ``texts`` once, sort them by length and yield
    ``(row indices, padded batch)``: each batch padded only to its own longest text.

    Args:
        tokenizer: a Hugging Face tokenizer.
        texts: raw texts; :func:`nlp.text.normalize_text` is applied here.
        max_length: longer texts are truncated to this many tokens.
        batch_size: texts per batch (the last batch may hold fewer).
        tensors: ``"np"`` or ``"pt"``, as the tokenizer's ``return_tensors``.
    """
    if not texts:  # the tokenizer cannot encode an empty list
        return
    encoded = tokenizer([normalize_text(t) for t in texts], truncation=True,
                        max_length=max_length)
    order = np.argsort([len(x) for x in encoded["input_ids"]], kind="stable")
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        features = [{k: encoded[k][i] for k in encoded} for i in index]
        yield index, tokenizer.pad(features, padding=True, return_tensors=tensors)
