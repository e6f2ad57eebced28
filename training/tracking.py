"""MLflow tracking: the only module that imports mlflow for logging.

Default store (no setup): runs in ``sqlite:///mlflow.db`` and artifacts in
``mlartifacts/``, both in the working directory, which is where ``mlflow ui``
(MLflow >= 3.7) looks by default. ``MLFLOW_TRACKING_URI`` or an explicit URI
(``radar train --tracking-uri``) points elsewhere, e.g. a tracking server.
"""

from __future__ import annotations

import platform
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from nlp.classifier import (  # noqa: F401  (re-exported: one definition of the default)
    DEFAULT_TRACKING_URI,
    REGISTERED_MODEL,
    resolve_tracking_uri,
)

PREVIOUS_ALIAS = "previous-champion"
CHAMPION_ALIAS = "champion"
SELECTION_METRIC = "dev_score"
DEFAULT_ARTIFACT_DIR = Path("mlartifacts")
LIBRARIES = ("scikit-learn", "datasets", "mlflow", "numpy", "torch", "transformers")


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

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        self._mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_figure(self, figure: Any, name: str) -> None:
        self._mlflow.log_figure(figure, name)

    def log_pyfunc_model(self, model_dir: Path) -> str:
        """Log ``model_dir`` as an MLflow pyfunc model named ``model``; returns its URI.

        ``mlflow.pyfunc.load_model(uri).predict(DataFrame({"text": [...]}))`` scores texts.
        """
        import nlp
        import training
        from training.pyfunc import RadarPyfunc, pip_requirements

        # The packages travel with the model, so it loads where complaint-radar is not
        # installed (a serving host, `mlflow models serve`).
        code = [str(Path(nlp.__file__).parent), str(Path(training.__file__).parent)]
        info = self._mlflow.pyfunc.log_model(
            name="model", python_model=RadarPyfunc(), code_paths=code,
            artifacts={"model_dir": str(model_dir)}, pip_requirements=pip_requirements())
        return info.model_uri


@dataclass(frozen=True)
class Registration:
    """The registered version of a run's model, and whether it became the champion."""

    version: str
    champion: bool
    previous_champion: str | None
    previous_score: float | None


def register_model(model_uri: str, run_id: str, score: float, tracking_uri: str | None = None,
                   name: str = REGISTERED_MODEL, champion_score: float | None = None
                   ) -> Registration:
    """Register a logged model; move the ``champion`` alias to it if it beats the champion
    (or there is no champion yet).

    ``champion_score`` is the champion re-scored on this run's selection set, when the
    caller could do that; otherwise the champion's own logged ``dev_score`` is used.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    client = mlflow.MlflowClient()
    previous, previous_score = None, None
    try:
        current = client.get_model_version_by_alias(name, CHAMPION_ALIAS)
        previous = str(current.version)
        previous_score = (champion_score if champion_score is not None else
                          client.get_run(current.run_id).data.metrics.get(SELECTION_METRIC))
    except MlflowException:
        pass  # no registered model or no champion yet
    version = mlflow.register_model(model_uri, name, tags={SELECTION_METRIC: f"{score:.6f}"})
    client.set_model_version_tag(name, version.version, "run_id", run_id)
    wins = previous_score is None or score > previous_score
    if wins:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
        if previous is not None:  # `radar evaluate` shows it beside the new champion
            client.set_registered_model_alias(name, PREVIOUS_ALIAS, previous)
    return Registration(str(version.version), wins, previous, previous_score)


def list_model_versions(tracking_uri: str | None = None, name: str = REGISTERED_MODEL
                        ) -> list[dict[str, Any]]:
    """Every registered version with its aliases, run and headline metrics, newest first."""
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(resolve_tracking_uri(tracking_uri))
    client = mlflow.MlflowClient()
    try:
        # search_model_versions leaves aliases empty on SQL stores (mlflow/mlflow#9783);
        # the registered model has them all
        by_version: dict[str, list[str]] = {}
        for alias, version in client.get_registered_model(name).aliases.items():
            by_version.setdefault(str(version), []).append(alias)
    except MlflowException:
        return []
    out = []
    for v in client.search_model_versions(f"name='{name}'"):
        metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
        aliases = sorted(by_version.get(str(v.version), []))
        out.append({"version": int(v.version), "aliases": aliases,
                    "run_id": v.run_id, "created": v.creation_timestamp,
                    "metrics": {k: metrics[k] for k in sorted(metrics)
                                if not k.startswith(("epoch_", "train_loss"))}})
    return sorted(out, key=lambda r: -r["version"])


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
