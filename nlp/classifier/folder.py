"""The model folder: the one place that knows its files, and reads and writes its metadata.

Every model kind is saved as one plain folder, which is also what the MLflow registry
holds (as the pyfunc model's ``model_dir`` artifact) and what ``radar models export``
writes:

- ``meta.json`` (:data:`META_FILE`): a JSON object, keys sorted, two-space indent. ``kind``
  says which loader reads the folder (:data:`KINDS`); ``model_version`` names the model in
  every prediction; the rest is provenance (config, run id, metrics, data checksums,
  library versions) and, for a transformer, ``max_length``, ``calibration`` (a temperature
  per head) and ``thresholds`` (a decision threshold per label).
- ``schema.json`` (:data:`SCHEMA_FILE`): the label schema the model was trained with
  (:meth:`nlp.taxonomy.LabelSchema.to_json`); a folder whose schema differs from the
  code's is refused (:func:`nlp.taxonomy.check_schema`).

and the files of its kind:

- ``tfidf-logreg`` (:mod:`nlp.classifier.baseline`): ``heads.joblib``, the fitted
  vectorisers and classifiers (a pickle: load only models you trained or trust);
- ``multitask-transformer`` (:mod:`nlp.classifier.multitask`): ``encoder/`` (encoder and
  tokenizer, ``save_pretrained``), ``heads.safetensors`` (the heads' weights),
  ``heads.json`` (their shapes and dropout), and ``onnx/`` (``multitask.onnx`` and its int8
  copy ``multitask.int8.onnx``), written by :mod:`nlp.classifier.onnx` on the first load
  with the ONNX backend.

A folder may also hold what evaluation adds (the model card, cross-validation results);
loaders ignore it. Existing folders and the registered models must keep loading: change
no file name or key here without a migration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nlp.taxonomy import LabelSchema, check_schema

META_FILE = "meta.json"
SCHEMA_FILE = "schema.json"

BASELINE_KIND = "tfidf-logreg"
TRANSFORMER_KIND = "multitask-transformer"
KINDS = (BASELINE_KIND, TRANSFORMER_KIND)

BASELINE_HEADS_FILE = "heads.joblib"

ENCODER_DIR = "encoder"
TRANSFORMER_HEADS_FILE = "heads.safetensors"
TRANSFORMER_HEADS_CONFIG = "heads.json"
ONNX_DIR = "onnx"
ONNX_FP32 = "multitask.onnx"
ONNX_INT8 = "multitask.int8.onnx"


class ModelLoadError(RuntimeError):
    """A model folder is missing, incomplete or of an unknown kind."""


def read_model_meta(model_dir: str | Path) -> tuple[dict[str, Any], LabelSchema]:
    """Read a model folder's metadata and label schema, checking the schema against the code's.

    Raises:
        ModelLoadError: ``meta.json`` or ``schema.json`` is missing.
        SchemaMismatchError: the folder's label schema is not the code's.
    """
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


def write_model_meta(folder: str | Path, meta: Mapping[str, Any], schema: LabelSchema) -> None:
    """Write ``meta.json`` and ``schema.json`` into ``folder`` (made if missing).

    Values JSON cannot hold (paths, dates) are written as their ``str``.
    """
    if meta.get("kind") not in KINDS:
        raise ValueError(f"meta['kind'] must be one of {KINDS}, got {meta.get('kind')!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_FILE).write_text(
        json.dumps(dict(meta), indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    (folder / SCHEMA_FILE).write_text(schema.to_json() + "\n", encoding="utf-8")
