"""Fast batched inference for transformer classifiers, on PyTorch or ONNX Runtime.

What makes it fast on a few CPU cores:
- texts are tokenised once, sorted by length and cut into batches, so each batch is
  padded only to its own longest text (dynamic padding), not to the longest overall;
- PyTorch runs under ``torch.inference_mode()`` with an explicit thread count;
- the ONNX backend runs the same network exported to ONNX and quantised to int8
  (dynamic quantisation of the linear layers' weights), on ONNX Runtime.

The engine is model-agnostic: it returns the logits of a Hugging Face
``AutoModelForSequenceClassification`` folder. The product's multi-task model
(issue [E]) is meant to sit on top of the same batching.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from nlp.text import normalize_text

BACKENDS = ("torch", "onnx")
ONNX_DIR = "onnx"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"


class EngineError(RuntimeError):
    """The engine cannot run as configured (missing extra, bad model folder, ...)."""


def _require(module: str, extra: str):
    try:
        return __import__(module)
    except ImportError as exc:
        raise EngineError(f"{module} is not installed; pip install -e '.[{extra}]'") from exc


def length_batches(tokenizer, texts: Sequence[str], max_length: int, batch_size: int,
                   tensors: str = "np") -> Iterator[tuple[np.ndarray, dict]]:
    """Normalise and tokenise ``texts`` once, sort them by length and yield
    ``(row indices, padded batch)``: each batch padded only to its own longest text."""
    encoded = tokenizer([normalize_text(t) for t in texts], truncation=True,
                        max_length=max_length)
    order = np.argsort([len(x) for x in encoded["input_ids"]], kind="stable")
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        features = [{k: encoded[k][i] for k in encoded} for i in index]
        yield index, tokenizer.pad(features, padding=True, return_tensors=tensors)


class TransformerEngine:
    """Length-sorted, dynamically padded inference for one sequence-classification model."""

    def __init__(self, model_dir: str | Path, backend: str = "torch", batch_size: int = 64,
                 max_length: int = 128, num_threads: int | None = None):
        if backend not in BACKENDS:
            raise EngineError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if batch_size < 1 or max_length < 8:
            raise EngineError(f"need batch_size >= 1 and max_length >= 8, got "
                              f"{batch_size}, {max_length}")
        from transformers import AutoConfig, AutoTokenizer

        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise EngineError(f"{self.model_dir} is not a Hugging Face model folder "
                              "(config.json missing)")
        self.backend = backend
        self.batch_size = batch_size
        self.max_length = max_length
        self.num_threads = num_threads or os.cpu_count() or 1
        self.config = AutoConfig.from_pretrained(self.model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        self.id2label = {int(k): v for k, v in self.config.id2label.items()}
        if backend == "torch":
            self._load_torch()
        else:
            self._load_onnx()

    # --- backends -----------------------------------------------------------------

    def _load_torch(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification

        torch.set_num_threads(self.num_threads)
        self._torch = torch
        self.model = AutoModelForSequenceClassification.from_pretrained(self.model_dir).eval()

    def _load_onnx(self) -> None:
        ort = _require("onnxruntime", "onnx")
        path = self.model_dir / ONNX_DIR / ONNX_INT8
        if not path.is_file():
            export_onnx(self.model_dir, quantize=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.num_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self._onnx_inputs = {i.name for i in self.session.get_inputs()}

    # --- inference ----------------------------------------------------------------

    def _batches(self, texts: Sequence[str]) -> Iterator[tuple[np.ndarray, dict]]:
        return length_batches(self.tokenizer, texts, self.max_length, self.batch_size, "np")

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Raw scores, shape ``(len(texts), num_labels)``, in the order of ``texts``."""
        out = np.zeros((len(texts), len(self.id2label)), dtype=np.float32)
        for index, batch in self._batches(texts):
            out[index] = self._run(batch)
        return out

    def _run(self, batch: dict) -> np.ndarray:
        if self.backend == "onnx":
            feed = {k: v.astype(np.int64) for k, v in batch.items() if k in self._onnx_inputs}
            return self.session.run(["logits"], feed)[0]
        torch = self._torch
        with torch.inference_mode():
            tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
            return self.model(**tensors).logits.float().numpy()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Softmax probabilities, in the order of ``texts``."""
        logits = self.logits(texts)
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def export_onnx(model_dir: str | Path, quantize: bool = True) -> Path:
    """Export a sequence classifier to ONNX under ``<model_dir>/onnx/``; int8 when ``quantize``.

    Returns the path of the file the ONNX backend loads.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _require("onnx", "onnx")
    model_dir = Path(model_dir)
    out_dir = model_dir / ONNX_DIR
    out_dir.mkdir(exist_ok=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    sample = tokenizer(["an example post", "and a longer one to vary the length"],
                       padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    fp32 = out_dir / ONNX_FP32
    with torch.inference_mode():
        torch.onnx.export(model, (tuple(sample[n] for n in names)), str(fp32),
                          input_names=names, output_names=["logits"],
                          dynamic_axes={**axes, "logits": {0: "batch"}},
                          opset_version=17, dynamo=False)
    if not quantize:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    int8 = out_dir / ONNX_INT8
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return int8
