"""The MLflow pyfunc wrapper: a registered complaint-radar model scores a DataFrame of texts.

The logged model carries the exported model folder as its ``model_dir`` artifact and
loads it with :func:`nlp.classifier.load_classifier`, so MLflow, the CLI and the REST
endpoint all run the same code on the same files.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import mlflow.pyfunc
import pandas as pd

from nlp.classifier.contract import COLUMNS, score_record, thresholds_for

TEXT_COLUMN = "text"


class RadarPyfunc(mlflow.pyfunc.PythonModel):
    """``predict(DataFrame with a "text" column)`` -> the scored-post contract's columns."""

    def load_context(self, context: Any) -> None:
        from nlp.classifier import load_classifier

        self.classifier = load_classifier(context.artifacts["model_dir"])

    def predict(self, context, model_input, params=None):  # no hints: MLflow would parse them
        if isinstance(model_input, pd.Series):
            texts = model_input
        elif isinstance(model_input, pd.DataFrame):
            if TEXT_COLUMN not in model_input.columns:
                raise ValueError(f"the input DataFrame needs a {TEXT_COLUMN!r} column; got "
                                 f"{list(model_input.columns)}")
            texts = model_input[TEXT_COLUMN]
        else:
            texts = pd.Series(list(model_input))
        texts = ["" if pd.isna(t) else str(t) for t in texts]
        thresholds = thresholds_for(self.classifier)
        records = [score_record(p, thresholds=thresholds)
                   for p in self.classifier.predict(texts)]
        return pd.DataFrame.from_records(records, columns=list(COLUMNS))


def pip_requirements() -> list[str]:
    """What a fresh environment needs to load the model (pinned to what trained it)."""
    names = ("torch", "transformers", "mlflow", "pandas", "numpy", "safetensors", "pyyaml",
             "scikit-learn", "datasets", "rich", "typer")
    out = []
    for name in names:
        try:
            # "2.13.0+cpu" is a local build: pin the public release it is
            out.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out
