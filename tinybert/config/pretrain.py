"""The pretraining job's config (``tinybert pretrain``), and what its flags may name: presets, model types, targets.

Light: no torch, no transformers; ``tinybert pretrain --help`` reads its choices from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from tinybert.config.base import check_choice, check_positive
from tinybert.config.training import TrainingArguments
from tinybert.errors import UserError

MODEL_TYPES = ("nezha", "bert")
TARGETS = ("mlm", "mlm_nsp")  # mlm: *ForMaskedLM; mlm_nsp: *ForPreTraining (masked LM + next-sentence prediction)
PRESETS = ("tiny", "mini", "small", "medium", "base", "large")
PRESETS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "presets")


def is_preset(name: str) -> bool:
    """``base`` or ``nezha_base``: a preset of ``tinybert/presets/`` rather than a path."""
    return name in PRESETS or any(name == f"{t}_{p}" for t in MODEL_TYPES for p in PRESETS)


def preset_path(name: str, model_type: str) -> str:
    """``presets/{model_type}_{name}.json`` for a preset name (``base``) or a full one (``nezha_base``)."""
    stem = name if name.startswith(tuple(f"{t}_" for t in MODEL_TYPES)) else f"{model_type}_{name}"
    return os.path.join(PRESETS_DIR, f"{stem}.json")


def _pretraining_defaults() -> TrainingArguments:
    """The NEZHA recipe: LAMB (weight decay 0.01, not on biases and LayerNorm), linear warmup then polynomial decay
    to 0, learning rate 1e-4, epsilon 1e-4."""
    return TrainingArguments(optimizer="lamb", schedule="poly", learning_rate=1e-4, adam_epsilon=1e-4,
                             weight_decay=0.01, max_grad_norm=1.0, warmup_proportion=0.1, max_steps=100000,
                             train_batch_size=32, save_steps=10000, logging_steps=100)


@dataclass
class PretrainConfig:
    """Pretrain a NEZHA/BERT model from scratch (a preset or config file) or continue from ``pretrained_model_path``
    on the pregenerated shards in ``dataset_path``; the model and tokenizer go to ``output_dir``.

    ``vocab_path`` None: the vocab.txt of ``pretrained_model_path``. ``config_path`` None: the ``base`` preset, or
    the checkpoint's own config. ``model_type`` None: the config's or checkpoint's type, else nezha.
    ``do_lower_case`` None: guessed from the vocabulary.
    """

    dataset_path: str
    output_dir: str
    vocab_path: str | None = None
    model_type: str | None = None
    config_path: str | None = None
    pretrained_model_path: str | None = None
    adapt_vocab: bool = False  # map pretrained_model_path onto vocab_path (kept tokens' rows copied)
    target: str = "mlm_nsp"
    max_seq_length: int = 128
    reduce_memory: bool = False  # memory-map the binary shards
    do_lower_case: bool | None = None
    training: TrainingArguments = field(default_factory=_pretraining_defaults)

    def __post_init__(self) -> None:
        check_choice("target", self.target, TARGETS)
        if self.model_type is not None:
            check_choice("model_type", self.model_type, MODEL_TYPES)
        check_positive("max_seq_length", self.max_seq_length)
        if self.adapt_vocab and not self.pretrained_model_path:
            raise UserError("adapt_vocab needs pretrained_model_path (a model to adapt)", field="adapt_vocab")
        if not self.vocab_path and not self.pretrained_model_path:
            raise UserError.of_field("vocab_path", "is required (the vocab.txt the data was created with)")

    def input_paths(self) -> dict[str, str | None]:
        """Every path the job reads ({field: path}), for the output-location check."""
        config = None if self.config_path is None or is_preset(self.config_path) else self.config_path
        return {"dataset_path": self.dataset_path, "vocab_path": self.vocab_path,
                "pretrained_model_path": self.pretrained_model_path, "config_path": config}


def warmup_overrides(warmup: float | None) -> dict[str, Any]:
    """UER-py's ``--warmup`` as training fields: a proportion of the steps when < 1, a number of steps when >= 1."""
    if warmup is None:
        return {}
    if warmup < 0:
        raise UserError.of_field("warmup", f"must be >= 0 (a proportion < 1 or a step count), got {warmup}")
    if warmup < 1:
        return {"warmup_proportion": float(warmup), "warmup_steps": 0}
    if warmup != int(warmup):
        raise UserError.of_field("warmup", f"{warmup}: a step count (>= 1) must be a whole number")
    return {"warmup_steps": int(warmup), "warmup_proportion": 0.0}
