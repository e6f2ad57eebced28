"""The multi-task network: one encoder, four heads, and the folder format it is saved in.

Imports torch and transformers, so only code that builds or runs a transformer model
imports this module (training, and the classifier when it loads such a model).

The encoder's token vectors are mean-pooled over the attention mask, the way the
sentence-transformers MiniLM checkpoints were pre-trained, then fed to:

- ``sentiment``: 3-way softmax logits (order of ``LabelSchema.sentiments``);
- ``complaint``: one binary logit;
- ``themes``: one independent sigmoid logit per theme (order of ``LabelSchema.themes``);
- ``churn_intent``: one binary logit.

Folder format (``kind: multitask-transformer``): ``meta.json`` and ``schema.json`` as for
every model kind (see :mod:`nlp.classifier`), ``encoder/`` (the encoder and tokenizer,
``save_pretrained``), ``heads.safetensors`` (the heads' weights) and ``heads.json``
(their shapes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from nlp.taxonomy import LabelSchema

KIND = "multitask-transformer"
ENCODER_DIR = "encoder"
HEADS_FILE = "heads.safetensors"
HEADS_CONFIG = "heads.json"
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
                 folder: Path) -> None:
    """Write encoder, tokenizer and heads into ``folder`` (meta and schema are the caller's)."""
    folder.mkdir(parents=True, exist_ok=True)
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


ONNX_DIR = "onnx"
ONNX_FP32 = "multitask.onnx"
ONNX_INT8 = "multitask.int8.onnx"


class _OnnxWrapper(nn.Module):
    """The network with positional inputs and a tuple of outputs, as ONNX export wants."""

    def __init__(self, network: MultiTaskNetwork):
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.network(input_ids, attention_mask)
        return tuple(out[t] for t in TASKS)


def export_onnx(network: MultiTaskNetwork, tokenizer: PreTrainedTokenizerBase, folder: Path,
                quantize: bool = True) -> Path:
    """Export to ``<folder>/onnx/`` (int8 dynamic quantisation when ``quantize``); the path of
    the file to load. Outputs are named after :data:`TASKS`."""
    out_dir = Path(folder) / ONNX_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["an example post", "and a longer one to vary the length"],
                       padding=True, return_tensors="pt")
    fp32 = out_dir / ONNX_FP32
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            **{t: {0: "batch"} for t in TASKS}}
    with torch.inference_mode():
        torch.onnx.export(_OnnxWrapper(network.eval()),
                          (sample["input_ids"], sample["attention_mask"]), str(fp32),
                          input_names=["input_ids", "attention_mask"], output_names=list(TASKS),
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    if not quantize:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = out_dir / ONNX_INT8
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return int8
