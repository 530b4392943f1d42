"""tinybert: distil TinyBERT students from BERT/NEZHA teachers, on a NEZHA pretraining and finetuning core.

``import tinybert`` is light (no torch, no transformers); the names below load on first use. Each job is a recipe
that takes a typed config and returns a result, the same code path as the command line::

    from tinybert import GeneralDistillConfig, run_general_distill
    result = run_general_distill(GeneralDistillConfig(pregenerated_data="pregen", teacher_model="teacher",
                                                      student_model="student_configs/tinybert_4l_312d",
                                                      output_dir="gd"))
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY: dict[str, str] = {
    "TaskConfig": "tinybert.config.task",
    "TrainingArguments": "tinybert.config.training",
    "UserError": "tinybert.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        from tinybert.recipes import PUBLIC  # the recipes' configs and run functions

        module = PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'tinybert' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    from tinybert.recipes import PUBLIC

    return sorted({*globals(), *_LAZY, *PUBLIC})
