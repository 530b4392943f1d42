"""Pregenerated data as the training loop sees it: one epoch's files per training epoch, and batch collation.

Shared by general distillation (model inputs only) and pretraining (model inputs plus masked-LM and NSP labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from tinybert.data.shards import PregeneratedDataset, check_pregenerated

MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids")
PRETRAINING_KEYS = (*MODEL_KEYS, "lm_label_ids", "is_next")


class EpochPregeneratedData(torch.utils.data.Dataset):
    """The pregenerated data of the current training epoch; the training loop calls :meth:`set_epoch`.

    Epoch ``e`` reads ``epoch_{e mod num_epochs}`` (cycling, as the original general_distill did). Its length is the
    smallest epoch's, so every epoch has the same number of optimizer steps. ``seed`` (default: the one recorded at
    generation) drives dynamic masking.
    """

    def __init__(self, data_dir: str, vocab: Any, max_seq_len: int, reduce_memory: bool = False,
                 seed: int | None = None) -> None:
        self.data_dir, self.vocab, self.max_seq_len, self.reduce_memory = data_dir, vocab, max_seq_len, reduce_memory
        self.seed = seed
        self.metrics = check_pregenerated(data_dir, len(vocab), max_seq_len)
        self.length = min(int(m["num_training_examples"]) for m in self.metrics)
        self._epoch = -1
        self._data: PregeneratedDataset | None = None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        if epoch != self._epoch:
            self._data = PregeneratedDataset(self.data_dir, epoch, self.vocab, self.max_seq_len,
                                             reduce_memory=self.reduce_memory, seed=self.seed)
            self._epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self._data[index]


def collate_trimmed(items: list[dict[str, torch.Tensor]], keys: Sequence[str] = MODEL_KEYS) -> dict[str, torch.Tensor]:
    """Stack ``keys`` of the items and cut per-token tensors to the batch's longest sequence (attention cost grows
    with T^2); per-sequence tensors (``is_next``) are stacked as they are."""
    batch = {k: torch.stack([it[k] for it in items]) for k in keys}
    length = int(batch["attention_mask"].sum(dim=1).max())
    return {k: v[:, :length].contiguous() if v.dim() == 2 else v for k, v in batch.items()}


def collate_pretraining(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """:func:`collate_trimmed` keeping the masked-LM labels and the NSP label."""
    return collate_trimmed(items, PRETRAINING_KEYS)
