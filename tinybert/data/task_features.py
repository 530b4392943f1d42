"""Task features: tokenise examples once into fixed-size numpy arrays; a Dataset over them and its collate.

``encode_examples`` runs the fast tokenizer's batch call (``truncation="longest_first"``, the original's pair
truncation) in chunks and stores every example padded to ``max_seq_length`` (int64 ids), plus each one's true
``length``. ``collate`` stacks a batch and, by default, cuts it to the longest example in the batch (dynamic
padding): BERT-family models give the same outputs at the real positions, and short batches cost much less.
``collate_fixed`` keeps the full ``max_seq_length`` (use it where shapes must not change, e.g. compiled models).
Each item also carries its ``index`` in the dataset, so a recipe can look up per-example caches (teacher logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tinybert.data.tasks import InputExample, TaskSpec
from tinybert.errors import UserError

IGNORE_INDEX = -100  # classification label of an unlabelled (test) example, ignored by CrossEntropyLoss
FEATURE_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def encode_examples(examples: Sequence[InputExample], tokenizer: Any, max_seq_length: int, spec: TaskSpec,
                    chunk_size: int = 4096) -> dict[str, np.ndarray]:
    """Tokenise examples into arrays of shape (n, max_seq_length): ``input_ids``, ``attention_mask``,
    ``token_type_ids`` (int64), ``lengths`` (n,) int64 and ``labels`` (n,): int64 label ids for classification
    (``IGNORE_INDEX`` when unlabelled), float32 for regression (NaN when unlabelled).
    """
    if max_seq_length < 3:
        raise UserError(f"--max_seq_length must be at least 3 ([CLS] x [SEP]), got {max_seq_length}")
    n = len(examples)
    out = {k: np.zeros((n, max_seq_length), dtype=np.int64) for k in FEATURE_KEYS}
    out["input_ids"][:] = tokenizer.pad_token_id or 0
    for start in range(0, n, chunk_size):
        chunk = examples[start:start + chunk_size]
        a = [ex.text_a for ex in chunk]
        b = [ex.text_b or "" for ex in chunk] if spec.is_pair else None
        enc = tokenizer(a, b, truncation="longest_first", max_length=max_seq_length, padding="max_length",
                        return_attention_mask=True, return_token_type_ids=True, return_tensors="np")
        for k in FEATURE_KEYS:
            out[k][start:start + len(chunk)] = enc[k]
    out["lengths"] = out["attention_mask"].sum(axis=1).astype(np.int64)
    out["labels"] = encode_labels(examples, spec)
    return out


def encode_labels(examples: Sequence[InputExample], spec: TaskSpec) -> np.ndarray:
    """Label ids (int64) or regression targets (float32) of examples, in the task's label order."""
    if spec.output_mode == "regression":
        return np.array([np.nan if ex.label is None else float(ex.label) for ex in examples], dtype=np.float32)
    index = {label: i for i, label in enumerate(spec.labels or [])}
    try:
        return np.array([IGNORE_INDEX if ex.label is None else index[ex.label] for ex in examples], dtype=np.int64)
    except KeyError as e:
        raise UserError(f"label {e.args[0]!r} is not one of the {spec.name} labels {spec.labels}") from None


class TaskDataset(torch.utils.data.Dataset):
    """Encoded task data; item ``i`` is a dict of tensors (feature rows, ``labels``, ``lengths``, ``index``)."""

    def __init__(self, features: dict[str, np.ndarray]) -> None:
        self.features = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in features.items()}
        self.size = len(self.features["input_ids"])

    @classmethod
    def from_examples(cls, examples: Sequence[InputExample], tokenizer: Any, max_seq_length: int,
                      spec: TaskSpec) -> TaskDataset:
        return cls(encode_examples(examples, tokenizer, max_seq_length, spec))

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {k: v[i] for k, v in self.features.items()}
        item["index"] = torch.tensor(i, dtype=torch.int64)
        return item


def collate(batch: Sequence[dict[str, torch.Tensor]], dynamic: bool = True) -> dict[str, torch.Tensor]:
    """Stack items into a batch; with ``dynamic`` the sequence dimension is cut to the batch's longest example."""
    if dynamic:
        from tinybert.data.pregenerated import collate_trimmed

        return collate_trimmed(list(batch), tuple(batch[0]))
    return {k: torch.stack([item[k] for item in batch]) for k in batch[0]}


def collate_fixed(batch: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items keeping the full ``max_seq_length``."""
    return collate(batch, dynamic=False)


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keys of a batch a transformers model takes (input_ids, attention_mask, token_type_ids)."""
    return {k: batch[k] for k in FEATURE_KEYS if k in batch}
