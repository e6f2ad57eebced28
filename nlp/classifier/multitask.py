"""The multi-task network: one encoder, four heads, saved as a model folder.

Imports torch and transformers, so only code that builds or runs a transformer model
imports this module (training, and the classifier when it loads such a model).

The encoder's token vectors are mean-pooled over the attention mask, the way the
sentence-transformers MiniLM checkpoints were pre-trained, then fed to:

- ``sentiment``: 3-way softmax logits (order of ``LabelSchema.sentiments``);
- ``complaint``: one binary logit;
- ``themes``: one independent sigmoid logit per theme (order of ``LabelSchema.themes``);
- ``churn_intent``: one binary logit.

:func:`save_network` and :func:`load_network` write and read the ``multitask-transformer``
model folder; its files are named, and its format described, in :mod:`nlp.classifier.folder`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from nlp.classifier.folder import ENCODER_DIR, write_model_meta
from nlp.classifier.folder import TRANSFORMER_HEADS_CONFIG as HEADS_CONFIG
from nlp.classifier.folder import TRANSFORMER_HEADS_FILE as HEADS_FILE
from nlp.taxonomy import LabelSchema

TASKS = ("sentiment", "complaint", "themes", "churn_intent")


class MultiTaskNetwork(nn.Module):
    """A transformer encoder with the product's four heads (see the module docstring)."""

    def __init__(self, encoder: nn.Module, schema: LabelSchema, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.schema = schema
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.sentiment = nn.Linear(hidden, len(schema.sentiments))
        self.complaint = nn.Linear(hidden, 1)
        self.themes = nn.Linear(hidden, len(schema.themes))
        self.churn_intent = nn.Linear(hidden, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        tokens = self.encoder(**kwargs).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        pooled = self.dropout(pooled)
        return {
            "sentiment": self.sentiment(pooled),
            "complaint": self.complaint(pooled).squeeze(-1),
            "themes": self.themes(pooled),
            "churn_intent": self.churn_intent(pooled).squeeze(-1),
        }

    def heads_state(self) -> dict[str, torch.Tensor]:
        """The heads' weights only (the encoder is saved with ``save_pretrained``)."""
        return {k: v.detach().contiguous() for k, v in self.state_dict().items()
                if not k.startswith("encoder.")}


def build_network(encoder_dir: str | Path | None, schema: LabelSchema, dropout: float = 0.1,
                  encoder_config: Mapping | None = None, seed: int = 13) -> MultiTaskNetwork:
    """A new network: pre-trained encoder weights from ``encoder_dir``, or, when
    ``encoder_config`` is given instead, a randomly initialised encoder of that config
    (the tiny test model). Heads are initialised from ``seed``."""
    if encoder_config is not None:
        from transformers import BertConfig, BertModel

        torch.manual_seed(seed)
        encoder = BertModel(BertConfig(**encoder_config))
    else:
        encoder = AutoModel.from_pretrained(encoder_dir)
    torch.manual_seed(seed)
    return MultiTaskNetwork(encoder, schema, dropout)


def save_network(network: MultiTaskNetwork, tokenizer: PreTrainedTokenizerBase,
                 folder: Path, meta: Mapping[str, Any]) -> None:
    """Write a whole model folder: ``meta`` and the network's schema, encoder, tokenizer
    and heads."""
    write_model_meta(folder, meta, network.schema)
    network.encoder.save_pretrained(folder / ENCODER_DIR)
    tokenizer.save_pretrained(folder / ENCODER_DIR)
    save_file(network.heads_state(), str(folder / HEADS_FILE))
    (folder / HEADS_CONFIG).write_text(json.dumps({
        "dropout": network.dropout.p, "hidden_size": network.encoder.config.hidden_size,
        "sentiments": len(network.schema.sentiments), "themes": len(network.schema.themes),
    }, indent=2) + "\n", encoding="utf-8")


def load_network(folder: Path, schema: LabelSchema
                 ) -> tuple[MultiTaskNetwork, PreTrainedTokenizerBase]:
    """Read a saved network and its tokenizer, in eval mode; shapes are checked."""
    heads = json.loads((folder / HEADS_CONFIG).read_text(encoding="utf-8"))
    if heads["sentiments"] != len(schema.sentiments) or heads["themes"] != len(schema.themes):
        raise ValueError(f"{folder}: heads have {heads['sentiments']} sentiments and "
                         f"{heads['themes']} themes; the schema has "
                         f"{len(schema.sentiments)} and {len(schema.themes)}")
    config = AutoConfig.from_pretrained(folder / ENCODER_DIR)
    encoder = AutoModel.from_pretrained(folder / ENCODER_DIR, config=config)
    network = MultiTaskNetwork(encoder, schema, heads["dropout"])
    missing, unexpected = network.load_state_dict(load_file(str(folder / HEADS_FILE)),
                                                  strict=False)
    missing = [k for k in missing if not k.startswith("encoder.")]
    if missing or unexpected:
        raise ValueError(f"{folder}: heads file does not fit the network "
                         f"(missing {missing}, unexpected {unexpected})")
    tokenizer = AutoTokenizer.from_pretrained(folder / ENCODER_DIR)
    return network.eval(), tokenizer

