"""Inference: load a trained model and label posts with :class:`~nlp.types.Prediction`.

A model folder holds ``meta.json`` (kind, version, metrics, provenance) and
``schema.json`` (the label schema it was trained with), plus the kind's own
files. :func:`load_classifier` takes a folder or an MLflow URI
(``models:/complaint-radar@champion``, ``models:/complaint-radar/3``,
``runs:/<run_id>/model``), reads the kind and hands over to its loader, so callers
(CLI, REST, batch) never care which model is current.

:class:`ComplaintClassifier` is the fine-tuned multi-task transformer (issue [E]);
torch is imported only when one is loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nlp.taxonomy import SCHEMA, LabelSchema, check_schema
from nlp.types import Post, Prediction

META_FILE = "meta.json"
SCHEMA_FILE = "schema.json"
REGISTERED_MODEL = "complaint-radar"
CHAMPION_URI = f"models:/{REGISTERED_MODEL}@champion"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MLFLOW_SCHEMES = ("models:/", "runs:/")
BACKENDS = ("torch", "onnx")
DOWNLOAD_PREFIX = "radar-model-"


class ModelLoadError(RuntimeError):
    """A model folder is missing, incomplete or of an unknown kind."""


class Classifier(Protocol):
    """What every model kind offers to the rest of the product."""

    meta: dict[str, Any]

    @property
    def model_version(self) -> str: ...

    def predict(self, texts: Sequence[str], keys: Sequence[tuple[str, str]] | None = None
                ) -> list[Prediction]: ...


def read_model_meta(model_dir: Path) -> tuple[dict[str, Any], LabelSchema]:
    """Read a model folder's metadata and label schema, checking the schema against the code's."""
    model_dir = Path(model_dir)
    meta_path, schema_path = model_dir / META_FILE, model_dir / SCHEMA_FILE
    for path in (meta_path, schema_path):
        if not path.is_file():
            raise ModelLoadError(
                f"{model_dir} is not a model folder: {path.name} is missing. "
                "Train one with `radar train --config training/configs/baseline.yaml`."
            )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    schema = LabelSchema.from_json(schema_path.read_text(encoding="utf-8"))
    check_schema(schema)
    return meta, schema


def resolve_tracking_uri(uri: str | None = None) -> str:
    """An explicit URI, else ``$MLFLOW_TRACKING_URI``, else the local SQLite default."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def is_mlflow_uri(uri: str | Path) -> bool:
    return str(uri).startswith(MLFLOW_SCHEMES)


def fetch_model_dir(uri: str, tracking_uri: str | None = None,
                    dst_dir: Path | None = None) -> Path:
    """Download an MLflow model (``models:/...`` or ``runs:/...``) and return its model folder.

    The MLflow model is a pyfunc wrapper whose ``artifacts/model_dir`` is the exported
    folder; that folder is what gets loaded, so a registered model and an exported one
    give identical predictions.
    """
    try:
        import mlflow
        from mlflow.exceptions import MlflowException
    except ImportError as exc:  # pragma: no cover - mlflow is a core dependency
        raise ModelLoadError("mlflow is not installed; pip install -e .") from exc
    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    dst = Path(dst_dir or tempfile.mkdtemp(prefix=DOWNLOAD_PREFIX))

    def discard() -> None:
        if dst_dir is None:
            shutil.rmtree(dst, ignore_errors=True)

    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst)))
    except MlflowException as exc:
        discard()
        raise ModelLoadError(
            f"cannot load {uri} from the MLflow store {resolve_tracking_uri(tracking_uri)}: "
            f"{exc.message}. Train and register one with `radar train --config "
            "training/configs/minilm.yaml`, or set MLFLOW_TRACKING_URI.") from exc
    found = sorted(p.parent for p in local.rglob(META_FILE))
    if not found:
        discard()
        raise ModelLoadError(f"{uri} holds no complaint-radar model folder ({META_FILE})")
    return found[0]


def remove_download(model_dir: Path) -> None:
    """Delete the temporary folder :func:`fetch_model_dir` made around ``model_dir``."""
    for parent in model_dir.parents:
        if parent.name.startswith(DOWNLOAD_PREFIX):
            shutil.rmtree(parent, ignore_errors=True)
            return


def load_classifier(model: str | Path, tracking_uri: str | None = None,
                    backend: str = "torch") -> Classifier:
    """Load a model folder or an MLflow model URI, whatever its kind.

    ``backend="onnx"`` is for transformer models (ONNX Runtime, int8); the TF-IDF
    baseline has no ONNX path and refuses it.
    """
    if backend not in BACKENDS:
        raise ModelLoadError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if is_mlflow_uri(model):
        model_dir = fetch_model_dir(str(model), tracking_uri)
        try:  # everything is read into memory; the downloaded copy is not needed after
            return load_classifier(model_dir, backend=backend)
        finally:
            remove_download(model_dir)
    model_dir = Path(model)
    meta, _ = read_model_meta(model_dir)
    kind = meta.get("kind")
    if kind == "tfidf-logreg":
        if backend != "torch":
            raise ModelLoadError(f"{model_dir} is the TF-IDF baseline, which has no "
                                 f"{backend!r} backend; --backend onnx is for fine-tuned models")
        from nlp.classifier.baseline import BaselineClassifier

        return BaselineClassifier.load(model_dir)
    if kind == TRANSFORMER_KIND:
        return ComplaintClassifier.load(model_dir, backend=backend)
    raise ModelLoadError(f"{model_dir}: unknown model kind {kind!r}; known: 'tfidf-logreg', "
                         f"{TRANSFORMER_KIND!r}")


TRANSFORMER_KIND = "multitask-transformer"


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
             backend: str = "torch", **kwargs: Any) -> ComplaintClassifier:
        """From ``models:/complaint-radar@champion``, a ``runs:/`` URI or an exported folder.

        ``backend="onnx"`` runs the network exported to ONNX with int8 weights on ONNX
        Runtime (exported into the folder's ``onnx/`` on first use).
        """
        if backend not in BACKENDS:
            raise ModelLoadError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if is_mlflow_uri(uri_or_dir):
            model_dir = fetch_model_dir(str(uri_or_dir), tracking_uri)
            try:
                return cls.load(model_dir, backend=backend, **kwargs)
            finally:
                remove_download(model_dir)
        model_dir = Path(uri_or_dir)
        meta, schema = read_model_meta(model_dir)
        if meta.get("kind") != TRANSFORMER_KIND:
            raise ModelLoadError(f"{model_dir} holds a {meta.get('kind')!r} model, not a "
                                 f"{TRANSFORMER_KIND!r}; use load_classifier for any kind")
        from nlp.classifier.multitask import load_network

        network, tokenizer = load_network(model_dir, schema)
        session = _onnx_session(network, tokenizer, model_dir, kwargs.get("num_threads")
                                ) if backend == "onnx" else None
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
        from nlp.engine import length_batches

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


def _onnx_session(network: Any, tokenizer: Any, model_dir: Path, num_threads: int | None):
    """An ONNX Runtime session over the int8 export, exporting it first if needed."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelLoadError("the ONNX backend needs the onnx extra: "
                             "pip install -e '.[onnx]'") from exc
    from nlp.classifier.multitask import ONNX_DIR, ONNX_INT8, export_onnx

    path = model_dir / ONNX_DIR / ONNX_INT8
    if not path.is_file():
        path = export_onnx(network, tokenizer, model_dir, quantize=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads or os.cpu_count() or 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))).astype(np.float32)


def predict_posts(classifier: Classifier, posts: Sequence[Post]) -> list[Prediction]:
    """Label posts, keeping each prediction tied to its post's ``(source, post_id)``."""
    return classifier.predict([p.text for p in posts], keys=[p.key for p in posts])
