"""The fine-tuned multi-task transformer at inference time (issue [E]).

:class:`ComplaintClassifier` runs the network of :mod:`nlp.classifier.multitask` on
PyTorch or, with ``backend="onnx"``, its int8 ONNX export on ONNX Runtime
(:mod:`nlp.classifier.onnx`), over length-sorted batches (:mod:`nlp.classifier.batching`).
torch is imported only when one is built or loaded, not when this module is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier.batching import length_batches
from nlp.classifier.folder import TRANSFORMER_KIND, ModelLoadError, read_model_meta
from nlp.classifier.loading import check_backend, is_mlflow_uri, local_model_dir
from nlp.taxonomy import SCHEMA, LabelSchema
from nlp.types import Prediction


class ComplaintClassifier:
    """The fine-tuned multi-task transformer: sentiment, complaint, themes, churn intent.

    Probabilities are calibrated: each head's logits are divided by a temperature
    fitted on gold dev (``meta["calibration"]``). ``thresholds`` holds each label's
    decision threshold, chosen on gold dev for F1.
    """

    def __init__(self, network: Any, tokenizer: Any, meta: Mapping[str, Any],
                 schema: LabelSchema = SCHEMA, batch_size: int = 64,
                 num_threads: int | None = None, onnx_session: Any = None):
        import torch

        self._torch = torch
        self.network = network.eval()
        self.onnx_session = onnx_session  # set: run the ONNX int8 export instead of torch
        self.backend = "onnx" if onnx_session is not None else "torch"
        self.tokenizer = tokenizer
        self.meta = dict(meta)
        self.schema = schema
        self.batch_size = batch_size
        self.max_length = int(self.meta.get("max_length", 128))
        if num_threads:
            torch.set_num_threads(num_threads)
        calibration = self.meta.get("calibration", {})
        self._temperature = {
            "sentiment": float(calibration.get("sentiment", 1.0)),
            "complaint": float(calibration.get("complaint", 1.0)),
            "themes": np.asarray(calibration.get("themes", [1.0] * len(schema.themes)),
                                 dtype=np.float32),
            "churn_intent": float(calibration.get("churn_intent", 1.0)),
        }
        defaults = {"complaint": 0.5, "churn_intent": 0.5, **dict.fromkeys(schema.theme_keys, 0.5)}
        self.thresholds: dict[str, float] = {**defaults, **self.meta.get("thresholds", {})}

    @classmethod
    def load(cls, uri_or_dir: str | Path, tracking_uri: str | None = None,
             backend: str = "torch", cache_export: bool | None = None,
             **kwargs: Any) -> ComplaintClassifier:
        """From ``models:/complaint-radar@champion``, a ``runs:/`` URI or an exported folder.

        ``backend="onnx"`` runs the network exported to ONNX with int8 weights on ONNX
        Runtime (exported into the folder's ``onnx/`` on first use). ``cache_export``
        (default: whether ``uri_or_dir`` is an MLflow URI, whose download is deleted after
        loading) keeps that export in the ONNX cache instead of the folder.
        """
        check_backend(backend)
        with local_model_dir(uri_or_dir, tracking_uri) as model_dir:
            meta, schema = read_model_meta(model_dir)
            if meta.get("kind") != TRANSFORMER_KIND:
                raise ModelLoadError(f"{model_dir} holds a {meta.get('kind')!r} model, not a "
                                     f"{TRANSFORMER_KIND!r}; use load_classifier for any kind")
            from nlp.classifier.multitask import load_network

            network, tokenizer = load_network(model_dir, schema)
            session = None
            if backend == "onnx":
                from nlp.classifier.onnx import onnx_cache_dir, onnx_session

                # A downloaded model's folder is deleted after loading: cache its export.
                if cache_export is None:
                    cache_export = is_mlflow_uri(uri_or_dir)
                cache = onnx_cache_dir(model_dir) if cache_export else None
                session = onnx_session(network, tokenizer, model_dir, kwargs.get("num_threads"),
                                       cache_dir=cache)
            return cls(network, tokenizer, meta, schema, onnx_session=session, **kwargs)

    @property
    def model_version(self) -> str:
        return self.meta["model_version"]

    def logits(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Raw head outputs in the order of ``texts``, batched by length."""
        torch = self._torch
        texts = list(texts)
        n_themes = len(self.schema.themes)
        out = {"sentiment": np.zeros((len(texts), len(self.schema.sentiments)), np.float32),
               "complaint": np.zeros(len(texts), np.float32),
               "themes": np.zeros((len(texts), n_themes), np.float32),
               "churn_intent": np.zeros(len(texts), np.float32)}
        if not texts:
            return out
        with torch.inference_mode():
            for index, batch in length_batches(self.tokenizer, texts, self.max_length,
                                               self.batch_size, "pt"):
                for task, values in self._run(batch).items():
                    out[task][index] = values
        return out

    def _run(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if self.onnx_session is not None:
            feed = {k: batch[k].numpy().astype(np.int64) for k in ("input_ids", "attention_mask")}
            names = [o.name for o in self.onnx_session.get_outputs()]
            return dict(zip(names, self.onnx_session.run(names, feed), strict=True))
        heads = self.network(batch["input_ids"], batch["attention_mask"])
        return {task: values.float().numpy() for task, values in heads.items()}

    def predict_proba(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Calibrated probabilities per head, in the order of ``texts``."""
        logits = self.logits(texts)
        t = self._temperature
        sentiment = logits["sentiment"] / t["sentiment"]
        sentiment = np.exp(sentiment - sentiment.max(axis=1, keepdims=True))
        return {
            "sentiment": sentiment / sentiment.sum(axis=1, keepdims=True),
            "complaint": _sigmoid(logits["complaint"] / t["complaint"]),
            "themes": _sigmoid(logits["themes"] / t["themes"]),
            "churn_intent": _sigmoid(logits["churn_intent"] / t["churn_intent"]),
        }

    def predict(self, texts: Sequence[str], keys: Sequence[tuple[str, str]] | None = None
                ) -> list[Prediction]:
        if keys is not None and len(keys) != len(texts):
            raise ValueError(f"got {len(texts)} texts but {len(keys)} keys")
        probs = self.predict_proba(texts)
        sentiments, themes = self.schema.sentiments, self.schema.theme_keys
        out = []
        for i in range(len(texts)):
            source, post_id = keys[i] if keys is not None else ("", "")
            row = probs["sentiment"][i]
            out.append(Prediction(
                source=source, post_id=post_id,
                sentiment=sentiments[int(row.argmax())],
                sentiment_probs={s: float(p) for s, p in zip(sentiments, row, strict=True)},
                complaint=float(probs["complaint"][i]),
                themes={k: float(p) for k, p in zip(themes, probs["themes"][i], strict=True)},
                churn_intent=float(probs["churn_intent"][i]),
                model_version=self.model_version))
        return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))).astype(np.float32)
