"""Models: NEZHA, the TinyBERT student, the distillation view, and the one door for weights (``checkpoint``).

Importing any of them registers NEZHA (model_type ``"nezha"``) with the transformers Auto classes, so every model
loaded through the package can be a NEZHA.
"""

from tinybert.models import nezha as _nezha  # noqa: F401  (registers NEZHA with the Auto classes)
