"""The ONNX path of the multi-task network: its one export, and the ONNX Runtime session.

:func:`export_onnx` writes the network to ``onnx/`` in its model folder (file names in
:mod:`nlp.classifier.folder`), with int8 dynamic quantisation of the linear layers'
weights; :func:`onnx_session` runs that file on ONNX Runtime, exporting it first when it
is not there. Imports torch, so only code that exports or loads with ``backend="onnx"``
imports this module; onnx and onnxruntime (the ``onnx`` extra) are imported when used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nlp.classifier.folder import ONNX_DIR, ONNX_FP32, ONNX_INT8
from nlp.classifier.multitask import TASKS, MultiTaskNetwork
from nlp.errors import require

INPUTS = ("input_ids", "attention_mask")
OPSET = 17


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
    quantization.quantize_dynamic(str(fp32), str(int8),
                                  weight_type=quantization.QuantType.QInt8)
    return int8


def onnx_session(network: MultiTaskNetwork, tokenizer: Any, model_dir: Path,
                 num_threads: int | None = None) -> Any:
    """An ONNX Runtime session over the folder's int8 export, exporting it first if needed.

    Raises:
        NotInstalled: onnxruntime or onnx (the ``onnx`` extra) is missing.
    """
    ort = require("onnxruntime", "onnx", "the ONNX backend")
    path = Path(model_dir) / ONNX_DIR / ONNX_INT8
    if not path.is_file():
        path = export_onnx(network, tokenizer, model_dir, quantize=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads or os.cpu_count() or 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
