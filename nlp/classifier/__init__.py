"""Inference: load a trained model and label posts with :class:`~nlp.types.Prediction`.

What lives here, one concern per module:

- :mod:`~nlp.classifier.folder`: the model folder format (file names, reading and writing
  ``meta.json`` and ``schema.json``), the one module every reader and writer goes through;
- :mod:`~nlp.classifier.loading`: :func:`load_classifier` for a folder or an MLflow URI,
  whatever the model's kind, and the :class:`Classifier` protocol every kind offers;
- :mod:`~nlp.classifier.baseline`: the TF-IDF + logistic regression baseline;
- :mod:`~nlp.classifier.transformer`: :class:`ComplaintClassifier`, the fine-tuned
  multi-task transformer, over :mod:`~nlp.classifier.multitask` (the network),
  :mod:`~nlp.classifier.onnx` (its ONNX export and ONNX Runtime session) and
  :mod:`~nlp.classifier.batching` (length-sorted batches);
- :mod:`~nlp.classifier.contract` and :mod:`~nlp.classifier.microbatch`: the scored-post
  output contract, and micro-batching for the REST API.

Of the project, modules here import only :mod:`nlp` (never ``training``, ``radar`` or
``serve``); :mod:`~nlp.classifier.baseline` and :mod:`~nlp.classifier.transformer` may
import ``folder`` and ``loading``, which import a kind's module only inside
:func:`load_classifier`, so no two modules import each other at import time.
Importing the package loads no model stack: torch and transformers are imported by
``multitask`` and ``onnx``, which are imported only when a transformer model is built or
run; mlflow only when a model is fetched from the registry.
"""

from __future__ import annotations

from nlp.classifier.folder import (
    META_FILE,
    SCHEMA_FILE,
    TRANSFORMER_KIND,
    ModelLoadError,
    read_model_meta,
    write_model_meta,
)
from nlp.classifier.loading import (
    BACKENDS,
    CHAMPION_URI,
    DEFAULT_TRACKING_URI,
    REGISTERED_MODEL,
    Classifier,
    fetch_model_dir,
    is_mlflow_uri,
    load_classifier,
    predict_posts,
    remove_download,
    resolve_tracking_uri,
)
from nlp.classifier.transformer import ComplaintClassifier

__all__ = [
    "BACKENDS", "CHAMPION_URI", "DEFAULT_TRACKING_URI", "META_FILE", "REGISTERED_MODEL",
    "SCHEMA_FILE", "TRANSFORMER_KIND", "Classifier", "ComplaintClassifier", "ModelLoadError",
    "fetch_model_dir", "is_mlflow_uri", "load_classifier", "predict_posts", "read_model_meta",
    "remove_download", "resolve_tracking_uri", "write_model_meta",
]

