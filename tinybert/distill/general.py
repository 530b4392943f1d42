"""General distillation: a student learns a pretrained teacher's attention scores and hidden states on a corpus.

The data is pregenerated (``tinybert pregenerate``): one set of files per epoch, read in turn (cycling when training
runs more epochs than were generated, as the original did). Only the intermediate-layer objective is used; the
masked-LM labels in the data are not needed. The dataset and collation live in :mod:`tinybert.data.pregenerated`.
"""

from __future__ import annotations

import logging

from tinybert.data.pregenerated import MODEL_KEYS, EpochPregeneratedData, collate_trimmed

logger = logging.getLogger(__name__)

__all__ = ["MODEL_KEYS", "EpochPregeneratedData", "collate_trimmed", "describe_pair"]


def describe_pair(teacher_config, student_config) -> str:
    t, s = teacher_config, student_config
    return (
        f"teacher {t.model_type} {t.num_hidden_layers}L/{t.hidden_size}H/{t.num_attention_heads} heads -> "
        f"student {s.model_type} {s.num_hidden_layers}L/{s.hidden_size}H/{s.num_attention_heads} heads"
    )

