"""MLflow tracking: the only module that imports mlflow for logging.

Default store (no setup): runs in ``sqlite:///mlflow.db`` and artifacts in
``mlartifacts/``, both in the working directory, which is where ``mlflow ui``
(MLflow >= 3.7) looks by default. ``MLFLOW_TRACKING_URI`` or an explicit URI
(``radar train --tracking-uri``) points elsewhere, e.g. a tracking server.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
DEFAULT_ARTIFACT_DIR = Path("mlartifacts")
LIBRARIES = ("scikit-learn", "datasets", "mlflow", "numpy", "torch", "transformers")


def resolve_tracking_uri(uri: str | None = None) -> str:
    """An explicit URI, else ``$MLFLOW_TRACKING_URI``, else the local SQLite default."""
    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class Tracker:
    """A thin handle on one active MLflow run (so callers never import mlflow)."""

    def __init__(self, mlflow_module: Any, run: Any):
        self._mlflow = mlflow_module
        self.run_id: str = run.info.run_id
        self.experiment_id: str = run.info.experiment_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._mlflow.log_params({k: _param(v) for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        self._mlflow.log_metrics(dict(metrics), step=step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._mlflow.set_tags(dict(tags))

    def log_dict(self, data: Mapping[str, Any], name: str) -> None:
        self._mlflow.log_dict(dict(data), name)

    def log_text(self, text: str, name: str) -> None:
        self._mlflow.log_text(text, name)

    def log_dir(self, local_dir: Path, artifact_path: str) -> None:
        self._mlflow.log_artifacts(str(local_dir), artifact_path=artifact_path)


def _param(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _artifact_location(uri: str) -> str | None:
    """Beside a local SQLite store, artifacts go to ``mlartifacts/`` next to the database file."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None  # a server or other store decides for itself
    db_path = Path(uri[len(prefix):]).resolve()
    return (db_path.parent / DEFAULT_ARTIFACT_DIR).as_uri()


@contextmanager
def start_run(experiment: str, run_name: str, tracking_uri: str | None = None
              ) -> Iterator[Tracker]:
    """Start an MLflow run in ``experiment``, creating it (with a local artifact folder) if new."""
    import mlflow

    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    existing = mlflow.get_experiment_by_name(experiment)
    if existing is None:
        experiment_id = mlflow.create_experiment(
            experiment, artifact_location=_artifact_location(uri)
        )
    else:
        experiment_id = existing.experiment_id
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        yield Tracker(mlflow, run)
