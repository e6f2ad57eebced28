"""The ONNX path of the multi-task network: its one export, and the ONNX Runtime session.

:func:`export_onnx` writes the network to ``onnx/`` in its model folder (file names in
:mod:`nlp.classifier.folder`), with int8 dynamic quantisation of the linear layers'
weights; :func:`onnx_session` runs that file on ONNX Runtime, exporting it first when it
is not there. A model downloaded from MLflow lives in a temporary folder, so its export
is kept in a cache (:func:`onnx_cache_dir`, keyed by the weights' sha256) and a later
start reuses it instead of exporting again. Imports torch, so only code that exports or
loads with ``backend="onnx"`` imports this module; onnx and onnxruntime (the ``onnx``
extra) are imported when used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nlp.classifier.folder import ONNX_DIR, ONNX_FP32, ONNX_INT8
from nlp.classifier.multitask import TASKS, MultiTaskNetwork
from nlp.errors import require

INPUTS = ("input_ids", "attention_mask")
OPSET = 17
CACHE_ENV = "RADAR_ONNX_CACHE"  # default: ~/.cache/complaint-radar/onnx


class _OnnxWrapper(nn.Module):
    """The network with positional inputs and a tuple of outputs, as ONNX export wants."""

    def __init__(self, network: MultiTaskNetwork):
        super().__init__()
        self.network = network

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        out = self.network(input_ids, attention_mask)
        return tuple(out[t] for t in TASKS)


def export_onnx(network: MultiTaskNetwork, tokenizer: Any, folder: Path,
                quantize: bool = True) -> Path:
    """Export to ``<folder>/onnx/`` (int8 dynamic quantisation when ``quantize``).

    Returns:
        The path of the file to load. Outputs are named after
        :data:`nlp.classifier.multitask.TASKS`.

    Raises:
        NotInstalled: onnx or onnxruntime (the ``onnx`` extra) is missing.
    """
    require("onnx", "onnx", "exporting the model to ONNX")
    out_dir = Path(folder) / ONNX_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["an example post", "and a longer one to vary the length"],
                       padding=True, return_tensors="pt")
    fp32 = out_dir / ONNX_FP32
    axes = {**{name: {0: "batch", 1: "sequence"} for name in INPUTS},
            **{t: {0: "batch"} for t in TASKS}}
    # The exporter puts the wrapper back in the mode it had, recursively: a new module is
    # in training mode, which would leave the network's dropout on after the export.
    wrapper = _OnnxWrapper(network).eval()
    with torch.inference_mode():
        torch.onnx.export(wrapper, tuple(sample[n] for n in INPUTS),
                          str(fp32), input_names=list(INPUTS), output_names=list(TASKS),
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    if not quantize:
        return fp32
    quantization = require("onnxruntime.quantization", "onnx", "quantising the ONNX model")
    int8 = out_dir / ONNX_INT8
    # The quantiser logs advice for image models on the root logger ("consider running
    # pre-processing"), which would print on every first ONNX start; it is not for users.
    root, advice = logging.getLogger(), _DropFrom("onnxruntime")
    root.addFilter(advice)
    try:
        quantization.quantize_dynamic(str(fp32), str(int8),
                                      weight_type=quantization.QuantType.QInt8)
    finally:
        root.removeFilter(advice)
    return int8


class _DropFrom(logging.Filter):
    """Drops the log records emitted from one package's files."""

    def __init__(self, package: str):
        super().__init__()
        self.marker = f"{os.sep}{package}{os.sep}"

    def filter(self, record: logging.LogRecord) -> bool:
        return self.marker not in record.pathname


def onnx_session(network: MultiTaskNetwork, tokenizer: Any, model_dir: Path,
                 num_threads: int | None = None, cache_dir: Path | None = None) -> Any:
    """An ONNX Runtime session over the folder's int8 export, exporting it first if needed:
    into the folder, or into ``cache_dir`` when given (a folder that does not outlive the
    call, such as an MLflow download, passes :func:`onnx_cache_dir`).

    Raises:
        NotInstalled: onnxruntime or onnx (the ``onnx`` extra) is missing.
    """
    ort = require("onnxruntime", "onnx", "the ONNX backend")
    path = Path(model_dir) / ONNX_DIR / ONNX_INT8
    if not path.is_file() and cache_dir is not None:
        path = _cached_export(network, tokenizer, cache_dir)
    elif not path.is_file():
        path = export_onnx(network, tokenizer, model_dir, quantize=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads or os.cpu_count() or 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_cache_dir(model_dir: Path) -> Path:
    """Where the int8 export of the model in ``model_dir`` is cached: one folder per
    content of its weight files, under ``$RADAR_ONNX_CACHE`` (default
    ``~/.cache/complaint-radar/onnx``), so a new model never reuses an old model's export."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).rglob("*.safetensors")):
        digest.update(path.relative_to(model_dir).as_posix().encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "complaint-radar" / "onnx")
    return root / digest.hexdigest()[:24]


def _cached_export(network: MultiTaskNetwork, tokenizer: Any, cache_dir: Path) -> Path:
    """The int8 file in ``cache_dir``, exported there first when missing. The export is
    written beside it and renamed into place, so a reader never sees half a file and two
    processes starting at once both end with a whole one."""
    cached = cache_dir / ONNX_INT8
    if cached.is_file():
        return cached
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{cache_dir.name}-", dir=cache_dir.parent))
    try:
        export_onnx(network, tokenizer, work, quantize=True)
        try:
            os.replace(work / ONNX_DIR, cache_dir)
        except OSError:
            if not cached.is_file():  # not a race lost to another process: a real error
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return cached
