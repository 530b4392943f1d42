"""Dynamic int8 quantization: weights stored as int8, activations quantized on the fly (no calibration data).

- :func:`quantize_onnx_int8`: ONNX Runtime's ``quantize_dynamic`` (MatMul/Gemm weights as signed int8).
- :func:`quantize_torch_int8`: ``torch.ao.quantization.quantize_dynamic`` of every ``nn.Linear`` (the PyTorch path;
  the model stays a transformers model and runs on the CPU).
"""

from __future__ import annotations

import logging
import os

from torch import nn

from tinybert.export import require_export_extra

logger = logging.getLogger(__name__)

QUANTIZE_CHOICES = ("int8",)


def quantize_onnx_int8(src: str, dst: str) -> str:
    """Write the dynamic int8 quantization of ONNX model ``src`` to ``dst`` (atomically); returns ``dst``."""
    require_export_extra(("onnx", "onnxruntime"))
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = dst + ".tmp.onnx"
    # the quantizer logs on the root logger: one INFO line per tensor it leaves alone, and a hint to run its shape
    # pre-processing, whose symbolic shape inference fails on these graphs (dynamic sequence axis; the quantized
    # model is fine without it). Both are dropped while it runs; its real warnings pass.
    hint = _QuietQuantizer("pre-processing before quantization")
    logging.getLogger().addFilter(hint)
    try:
        quantize_dynamic(src, tmp, weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().removeFilter(hint)
    os.replace(tmp, dst)
    return dst


class _QuietQuantizer(logging.Filter):
    """Drops root-logger records below WARNING, and the one hint naming ``text``."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING and self.text not in record.getMessage()


def quantize_torch_int8(model: nn.Module) -> nn.Module:
    """``model`` with its linear layers dynamically quantized to int8 (a copy; CPU; eval mode)."""
    import torch

    return torch.ao.quantization.quantize_dynamic(model.cpu().eval(), {nn.Linear}, dtype=torch.qint8)
