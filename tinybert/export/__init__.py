"""Shipping a model: ONNX export, int8 quantization, and running the result.

- :mod:`~tinybert.export.onnx_model`: :func:`export_onnx` (a classifier as ONNX with dynamic batch and sequence axes),
  :class:`OnnxClassifier` (an ONNX Runtime session that answers like a transformers classifier, so evaluation and
  prediction code take either), :func:`max_abs_diff`.
- :mod:`~tinybert.export.quantize`: dynamic int8 quantization of an ONNX file (ONNX Runtime's quantizer) and of a
  PyTorch model (``torch.ao`` dynamic quantization of the linear layers).

The ONNX pieces need the optional dependencies of the ``export`` extra (``pip install -e .[export]``):
:func:`require_export_extra` names it when they are missing.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tinybert.errors import UserError

EXTRA_MODULES = ("onnx", "onnxruntime", "onnxscript")
INSTALL_HINT = "pip install -e '.[export]' (or: pip install onnx onnxruntime onnxscript)"


def require_export_extra(modules: tuple[str, ...] = EXTRA_MODULES) -> dict[str, ModuleType]:
    """Import the ``export`` extra's modules, or raise a :class:`UserError` naming the extra and what is missing."""
    found: dict[str, ModuleType] = {}
    missing = []
    for name in modules:
        try:
            found[name] = importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UserError(f"ONNX export and ONNX models need the optional 'export' extra; missing: "
                        f"{', '.join(missing)}; install it with {INSTALL_HINT}")
    return found
