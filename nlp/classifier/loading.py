"""Loading a model of any kind, from a folder or from the MLflow registry.

:func:`load_classifier` takes a model folder or an MLflow URI
(``models:/complaint-radar@champion``, ``models:/complaint-radar/3``,
``runs:/<run_id>/model``), reads the folder's kind (:mod:`nlp.classifier.folder`) and
hands over to that kind's loader, so callers (CLI, REST, batch) never care which model
is current. Each kind's module is imported only when a model of that kind is loaded;
mlflow only when a URI is fetched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from nlp.classifier.folder import (
    BASELINE_KIND,
    META_FILE,
    TRANSFORMER_KIND,
    ModelLoadError,
    read_model_meta,
)
from nlp.errors import require
from nlp.types import Post, Prediction

REGISTERED_MODEL = "complaint-radar"
CHAMPION_URI = f"models:/{REGISTERED_MODEL}@champion"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MLFLOW_SCHEMES = ("models:/", "runs:/")
BACKENDS = ("torch", "onnx")
DOWNLOAD_PREFIX = "radar-model-"


class Classifier(Protocol):
    """What every model kind offers to the rest of the product."""

    meta: dict[str, Any]

    @property
    def model_version(self) -> str: ...

    def predict(self, texts: Sequence[str], keys: Sequence[tuple[str, str]] | None = None
                ) -> list[Prediction]: ...


def check_backend(backend: str) -> None:
    """Refuse a backend name that no model kind runs."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"backend must be one of {BACKENDS}, got {backend!r}")


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

    Raises:
        ModelLoadError: the store has no such model, or it holds no model folder.
        NotInstalled: mlflow is missing.
    """
    mlflow = require("mlflow", None, f"loading {uri}")
    from mlflow.exceptions import MlflowException

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


@contextmanager
def local_model_dir(model: str | Path, tracking_uri: str | None = None) -> Iterator[Path]:
    """The model folder of ``model``: the folder itself, or an MLflow model downloaded for
    the duration (loaders read everything into memory, so the copy is not needed after)."""
    if not is_mlflow_uri(model):
        yield Path(model)
        return
    model_dir = fetch_model_dir(str(model), tracking_uri)
    try:
        yield model_dir
    finally:
        remove_download(model_dir)


def load_classifier(model: str | Path, tracking_uri: str | None = None,
                    backend: str = "torch") -> Classifier:
    """Load a model folder or an MLflow model URI, whatever its kind.

    ``backend="onnx"`` is for transformer models (ONNX Runtime, int8); the TF-IDF
    baseline has no ONNX path and refuses it.
    """
    check_backend(backend)
    with local_model_dir(model, tracking_uri) as model_dir:
        meta, _ = read_model_meta(model_dir)
        kind = meta.get("kind")
        if kind == BASELINE_KIND:
            if backend != "torch":
                raise ModelLoadError(f"{model_dir} is the TF-IDF baseline, which has no "
                                     f"{backend!r} backend; --backend onnx is for fine-tuned "
                                     "models")
            from nlp.classifier.baseline import BaselineClassifier

            return BaselineClassifier.load(model_dir)
        if kind == TRANSFORMER_KIND:
            from nlp.classifier.transformer import ComplaintClassifier

            return ComplaintClassifier.load(model_dir, backend=backend)
        raise ModelLoadError(f"{model_dir}: unknown model kind {kind!r}; known: "
                             f"{BASELINE_KIND!r}, {TRANSFORMER_KIND!r}")


def predict_posts(classifier: Classifier, posts: Sequence[Post]) -> list[Prediction]:
    """Label posts, keeping each prediction tied to its post's ``(source, post_id)``."""
    return classifier.predict([p.text for p in posts], keys=[p.key for p in posts])
