"""The teacher's per-window logits for token-level and span distillation, computed once and cached like the
classification logits (``output_dir/teacher_logits/<key>.safetensors``, :mod:`tinybert.distill.teacher`).

A window's logits are (max_seq_length, K): K labels for NER, K = 2 (start, end) for reading comprehension; the
positions past a window's length hold 0 and are never read (the terms cut to the batch's length and mask padding).
The key hashes the teacher's files and the encoded windows, so a new teacher, data file, vocabulary, length or stride
gives a new cache. One process computes it (torchrun is not supported for these jobs yet).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn

from tinybert.data.task_features import TaskDataset
from tinybert.distill.teacher import CACHE_DIR
from tinybert.errors import UserError
from tinybert.span_eval import window_outputs
from tinybert.utils.io import atomic_open

logger = logging.getLogger(__name__)


def window_cache_key(teacher_path: str, dataset: TaskDataset, kind: str) -> str:
    h = hashlib.blake2b(digest_size=16)
    files = []
    for name in sorted(os.listdir(teacher_path)):
        path = os.path.join(teacher_path, name)
        if os.path.isfile(path) and name.endswith((".safetensors", ".bin", ".json")):
            files.append((name, os.path.getsize(path), os.stat(path).st_mtime_ns))
    h.update(json.dumps({"teacher": os.path.realpath(teacher_path), "files": files, "kind": kind}).encode())
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        array = np.ascontiguousarray(dataset.features[key].numpy())
        h.update(f"{key}{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def window_logits(teacher: nn.Module, dataset: TaskDataset, batch_size: int,
                  forward: Callable[[nn.Module, Mapping[str, torch.Tensor]], tuple[torch.Tensor, ...]]
                  ) -> torch.Tensor:
    """(n_windows, max_seq_length, K) float32: the outputs of ``forward`` stacked on the last axis (one output:
    its K columns; several outputs of shape (batch, length): one column each)."""
    rows = window_outputs(teacher, dataset, batch_size, forward, desc="teacher logits")
    n, length = dataset.features["input_ids"].shape
    first = [r if r.ndim == 2 else r[:, None] for r in rows[0]]
    width = sum(r.shape[-1] for r in first)
    out = torch.zeros(n, length, width)
    for i, outputs in enumerate(rows):
        parts = [r if r.ndim == 2 else r[:, None] for r in outputs]
        joined = np.concatenate(parts, axis=-1)
        out[i, :len(joined)] = torch.from_numpy(joined)
    return out


def cached_window_logits(teacher: nn.Module, teacher_path: str, dataset: TaskDataset, output_dir: str, kind: str,
                         batch_size: int,
                         forward: Callable[[nn.Module, Mapping[str, torch.Tensor]], tuple[torch.Tensor, ...]]
                         ) -> torch.Tensor:
    """:func:`window_logits`, read from the cache when it is there, else computed and written atomically."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save

    key = window_cache_key(teacher_path, dataset, kind)
    directory = os.path.join(output_dir, CACHE_DIR)
    path = os.path.join(directory, f"{key}.safetensors")
    if not os.path.isfile(path):
        logits = window_logits(teacher, dataset, batch_size, forward)
        shutil.rmtree(directory, ignore_errors=True)  # caches of another teacher or data set
        os.makedirs(directory, exist_ok=True)
        with atomic_open(path, "wb") as f:
            f.write(save({"logits": logits.contiguous()}, metadata={"key": key}))
        logger.info("cached the teacher's logits for %d windows in %s", len(logits), path)
    try:
        logits = load_file(path)["logits"]
    except (SafetensorError, OSError, KeyError) as e:
        raise UserError.at(path, f"unreadable teacher-logit cache ({e}); delete it to recompute") from None
    if tuple(logits.shape[:2]) != tuple(dataset.features["input_ids"].shape):
        raise UserError.at(path, f"teacher-logit cache has shape {list(logits.shape)}, expected "
                                 f"{list(dataset.features['input_ids'].shape)} windows; delete it to recompute")
    return logits
