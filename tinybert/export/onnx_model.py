"""A classifier (sequence, token or span head) as an ONNX model, and an ONNX Runtime session that answers like
the PyTorch model.

The exported graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, shape
``(batch, sequence)``, both axes dynamic) and returns the head's outputs: ``logits`` ``(batch, num_labels)`` for
sequence classification, ``logits`` ``(batch, sequence, num_labels)`` for token classification (NER),
``start_logits`` and ``end_logits`` ``(batch, sequence)`` for reading comprehension. The exporter is torch's
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


# the outputs of each exportable head and which of their axes are dynamic
HEAD_OUTPUTS: dict[str, dict[str, dict[int, str]]] = {
    "sequence_classification": {"logits": {0: "batch"}},
    "token_classification": {"logits": {0: "batch", 1: "sequence"}},
    "question_answering": {"start_logits": {0: "batch", 1: "sequence"}, "end_logits": {0: "batch", 1: "sequence"}},
}


class HeadOutputs(nn.Module):
    """``model(input_ids, attention_mask, token_type_ids) -> (outputs...)``: the traced signature of the export,
    the outputs being the head's (:data:`HEAD_OUTPUTS`)."""

    def __init__(self, model: nn.Module, outputs: tuple[str, ...] = ("logits",)) -> None:
        super().__init__()
        self.model, self.outputs = model, outputs

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return tuple(getattr(out, name) for name in self.outputs)


def export_onnx(model: nn.Module, path: str, sample: Mapping[str, torch.Tensor], opset: int = OPSET,
                head: str = "sequence_classification") -> str:
    """Write ``model`` (a transformers model with a classification, token-classification or span head) to
    ``path`` as ONNX, traced on ``sample`` (a batch of the three input tensors), with dynamic batch and sequence
    axes. Returns ``path``."""
    import warnings

    require_export_extra()
    outputs = HEAD_OUTPUTS[head]
    wrapper = HeadOutputs(model, tuple(outputs)).eval()  # eval on the wrapper: export restores its mode afterwards
    args = tuple(sample[k].cpu() for k in FEATURE_KEYS)
    axes: dict[str, dict[int, str]] = {k: {0: "batch", 1: "sequence"} for k in FEATURE_KEYS}
    axes.update(outputs)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, args, tmp, input_names=list(FEATURE_KEYS), output_names=list(outputs),
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
    """An ONNX model behind the calling convention of a transformers one: ``model(input_ids=...,
    attention_mask=..., token_type_ids=...).logits`` (float32 CPU tensors, named as the graph's outputs), so
    :func:`tinybert.evaluate.predict_logits` and :class:`tinybert.evaluate.DevEvaluator` run it unchanged. It has
    no trainable parameters (one empty tensor marks its device, the CPU)."""

    def __init__(self, path: str, threads: int | None = None, config: Any = None) -> None:
        super().__init__()
        ort = require_export_extra(("onnxruntime",))["onnxruntime"]
        self.path = path
        self.config = config
        self.session = ort.InferenceSession(path, sess_options=session_options(threads),
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.device_marker = nn.Parameter(torch.empty(0), requires_grad=False)

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """The first output (the logits) for numpy inputs (int64)."""
        return self.session.run(None, {k: np.ascontiguousarray(feeds[k], dtype=np.int64)
                                       for k in self.input_names})[0]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> SimpleNamespace:
        feeds = {"input_ids": input_ids,
                 "attention_mask": torch.ones_like(input_ids) if attention_mask is None else attention_mask,
                 "token_type_ids": torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids}
        values = self.session.run(None, {k: np.ascontiguousarray(feeds[k].cpu().numpy(), dtype=np.int64)
                                         for k in self.input_names})
        return SimpleNamespace(**{name: torch.from_numpy(v) for name, v in zip(self.output_names, values,
                                                                               strict=True)})


def max_abs_diff(reference: nn.Module, other: nn.Module, batch: Mapping[str, torch.Tensor],
                 outputs: tuple[str, ...] = ("logits",)) -> float:
    """Largest absolute difference of the two models' ``outputs`` on ``batch``."""
    inputs = {k: batch[k] for k in FEATURE_KEYS}
    with torch.inference_mode():
        a, b = reference(**inputs), other(**inputs)
        return max(float((getattr(a, n).float() - getattr(b, n).float()).abs().max()) for n in outputs)
