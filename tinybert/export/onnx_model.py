"""A sequence classifier as an ONNX model, and an ONNX Runtime session that answers like the PyTorch model.

The exported graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, shape
``(batch, sequence)``, both axes dynamic) and returns ``logits`` ``(batch, num_labels)``. The exporter is torch's
TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): on these models it gives the same graph as the
dynamo exporter in a quarter of the time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from tinybert.data.task_features import FEATURE_KEYS
from tinybert.export import require_export_extra

ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
OPSET = 17


class LogitsOnly(nn.Module):
    """``model(input_ids, attention_mask, token_type_ids) -> logits``: the traced signature of the export."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


def export_onnx(model: nn.Module, path: str, sample: Mapping[str, torch.Tensor], opset: int = OPSET) -> str:
    """Write ``model`` (a transformers classifier) to ``path`` as ONNX, traced on ``sample`` (a batch of the three
    input tensors), with dynamic batch and sequence axes. Returns ``path``."""
    import warnings

    require_export_extra()
    wrapper = LogitsOnly(model).eval()  # eval on the wrapper: export restores the wrapper's mode afterwards
    args = tuple(sample[k].cpu() for k in FEATURE_KEYS)
    axes = {k: {0: "batch", 1: "sequence"} for k in FEATURE_KEYS}
    axes["logits"] = {0: "batch"}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, args, tmp, input_names=list(FEATURE_KEYS), output_names=["logits"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False, do_constant_folding=True)
    os.replace(tmp, path)
    return path


def session_options(threads: int | None = None) -> Any:
    """ONNX Runtime session options: all graph optimisations, ``threads`` intra-op threads (default: torch's)."""
    ort = require_export_extra(("onnxruntime",))["onnxruntime"]
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return opts


class OnnxClassifier(nn.Module):
    """An ONNX classifier behind the calling convention of a transformers one: ``model(input_ids=...,
    attention_mask=..., token_type_ids=...).logits`` (a float32 CPU tensor), so :func:`tinybert.evaluate.
    predict_logits` and :class:`tinybert.evaluate.DevEvaluator` run it unchanged. It has no trainable parameters
    (one empty tensor marks its device, the CPU)."""

    def __init__(self, path: str, threads: int | None = None, config: Any = None) -> None:
        super().__init__()
        ort = require_export_extra(("onnxruntime",))["onnxruntime"]
        self.path = path
        self.config = config
        self.session = ort.InferenceSession(path, sess_options=session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.device_marker = nn.Parameter(torch.empty(0), requires_grad=False)

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """Logits for numpy inputs (int64)."""
        return self.session.run(None, {k: np.ascontiguousarray(feeds[k], dtype=np.int64)
                                       for k in self.input_names})[0]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> SimpleNamespace:
        feeds = {"input_ids": input_ids,
                 "attention_mask": torch.ones_like(input_ids) if attention_mask is None else attention_mask,
                 "token_type_ids": torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids}
        logits = self.run({k: v.cpu().numpy() for k, v in feeds.items()})
        return SimpleNamespace(logits=torch.from_numpy(logits))


def max_abs_diff(reference: nn.Module, other: nn.Module, batch: Mapping[str, torch.Tensor]) -> float:
    """Largest absolute difference of the two models' logits on ``batch``."""
    inputs = {k: batch[k] for k in FEATURE_KEYS}
    with torch.inference_mode():
        a = reference(**inputs).logits.float()
        b = other(**inputs).logits.float()
    return float((a - b).abs().max())
