"""General distillation: a student learns a pretrained teacher's attention scores and hidden states on a corpus.

The data is pregenerated (``tinybert pregenerate``): one set of files per epoch, read in turn (cycling when training
runs more epochs than were generated, as the original did). Only the intermediate-layer objective is used; the
masked-LM labels in the data are not needed.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from tinybert.data.shards import PregeneratedDataset, check_pregenerated

logger = logging.getLogger(__name__)

MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids")


class EpochPregeneratedData(torch.utils.data.Dataset):
    """The pregenerated data of the current training epoch; the training loop calls :meth:`set_epoch`.

    Its length is the smallest epoch's, so every epoch has the same number of optimizer steps.
    """

    def __init__(self, data_dir: str, vocab: Any, max_seq_len: int, reduce_memory: bool = False) -> None:
        self.data_dir, self.vocab, self.max_seq_len, self.reduce_memory = data_dir, vocab, max_seq_len, reduce_memory
        self.metrics = check_pregenerated(data_dir, len(vocab), max_seq_len)
        self.length = min(int(m["num_training_examples"]) for m in self.metrics)
        self._epoch = -1
        self._data: PregeneratedDataset | None = None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self._epoch:
            self._data = PregeneratedDataset(
                self.data_dir, epoch, self.vocab, self.max_seq_len, reduce_memory=self.reduce_memory
            )
            self._epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._data[index]


def collate_trimmed(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack the model inputs and cut the batch to its longest sequence (attention cost grows with T^2)."""
    batch = {k: torch.stack([it[k] for it in items]) for k in MODEL_KEYS}
    length = int(batch["attention_mask"].sum(dim=1).max())
    return {k: v[:, :length].contiguous() for k, v in batch.items()}


def freeze_unused_for_intermediate(student) -> list[str]:
    """Freeze the parts the intermediate objective never reaches (pooler, task or LM heads); return their names.

    Under DDP every trainable parameter must receive a gradient, and nothing should be optimised for nothing.
    """
    frozen = []
    for name, p in student.model.named_parameters():
        short = name.split(".", 1)[1] if name.split(".", 1)[0] in ("bert", "nezha") else name
        if not (short.startswith("embeddings.") or short.startswith("encoder.")):
            p.requires_grad_(False)
            frozen.append(name)
    return frozen


def describe_pair(teacher_config, student_config) -> str:
    t, s = teacher_config, student_config
    return (
        f"teacher {t.model_type} {t.num_hidden_layers}L/{t.hidden_size}H/{t.num_attention_heads} heads -> "
        f"student {s.model_type} {s.num_hidden_layers}L/{s.hidden_size}H/{s.num_attention_heads} heads"
    )

