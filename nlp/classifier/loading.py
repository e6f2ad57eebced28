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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nlp.classifier.folder import (
    BASELINE_KIND,
    META_FILE,
    SCHEMA_FILE,
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

            return ComplaintClassifier.load(model_dir, backend=backend,
                                            cache_export=is_mlflow_uri(model))
        raise ModelLoadError(f"{model_dir}: unknown model kind {kind!r}; known: "
                             f"{BASELINE_KIND!r}, {TRANSFORMER_KIND!r}")


MODELS_DIR = Path("models")
CHAMPION_ALIAS = "champion"  # the alias CHAMPION_URI names


@dataclass(frozen=True)
class ModelChoice:
    """The model a service loads when none is named, and why that one (for its log)."""

    model: str
    reason: str


def choose_default_model(tracking_uri: str | None = None,
                         models_dir: Path = MODELS_DIR) -> ModelChoice:
    """The model to load when the user names none.

    The champion registered in the tracking store (``models:/complaint-radar@champion``),
    else the newest model folder (``meta.json`` + ``schema.json``, by the time of its
    ``meta.json``) directly under ``models_dir``.

    Raises:
        ModelLoadError: there is neither; the message says how to get one. Also when the
            store cannot be read (rather than serving another model without saying so).
    """
    uri = resolve_tracking_uri(tracking_uri)
    version = champion_version(uri)
    if version is not None:
        return ModelChoice(CHAMPION_URI, f"the champion (version {version}) registered in "
                                         f"the MLflow store {uri}")
    folders = [meta.parent for meta in models_dir.glob(f"*/{META_FILE}")
               if (meta.parent / SCHEMA_FILE).is_file()]
    if folders:
        newest = max(folders, key=lambda folder: ((folder / META_FILE).stat().st_mtime,
                                                  folder.name))
        return ModelChoice(str(newest), f"no champion registered in the MLflow store {uri}; "
                                        f"the newest of {len(folders)} model folder(s) in "
                                        f"{models_dir}/")
    raise ModelLoadError(
        f"no model to serve: no champion registered in the MLflow store {uri} and no model "
        f"folder ({META_FILE} + {SCHEMA_FILE}) in {models_dir}/. Either register a champion "
        "with `make demo` or `radar train --config training/configs/minilm.yaml` (and point "
        "MLFLOW_TRACKING_URI at that store if it is another one), or copy a registered model "
        f"to a folder with `radar models export {models_dir}/NAME`; or name a model with "
        "--model / RADAR_MODEL_DIR.")


def champion_version(tracking_uri: str) -> str | None:
    """The version the champion alias points at in the store; None where there is none.

    A SQLite store whose file does not exist has no champion; it is not opened, since
    MLflow would create (and migrate) a new database there.

    Raises:
        ModelLoadError: the store cannot be read, or answered with an error other than
            "no such model".
        NotInstalled: mlflow is missing.
    """
    if tracking_uri.startswith("sqlite:///") and \
            not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return None
    require("mlflow", None, "finding the champion")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        registered = MlflowClient(tracking_uri=tracking_uri).get_registered_model(
            REGISTERED_MODEL)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise ModelLoadError(f"cannot read the MLflow store {tracking_uri}: {exc.message}"
                             ) from exc
    except Exception as exc:  # the store's own driver errors (a file that is no database)
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"cannot read the MLflow store {tracking_uri}: {first_line}"
                             ) from exc
    version = registered.aliases.get(CHAMPION_ALIAS)
    return None if version is None else str(version)


def predict_posts(classifier: Classifier, posts: Sequence[Post]) -> list[Prediction]:
    """Label posts, keeping each prediction tied to its post's ``(source, post_id)``."""
    return classifier.predict([p.text for p in posts], keys=[p.key for p in posts])
