"""The teacher's side of task distillation: its dev score checked before any costly work, and its logits over the
training set computed once and cached.

The cache lives in ``output_dir/teacher_logits/<key>.safetensors``; the key hashes the teacher's files and the
encoded training inputs (data, ``max_seq_length``, vocabulary, casing), so every epoch after the first costs only the
student, and a change of teacher or data recomputes it. Under torchrun each process computes a contiguous shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from tinybert.data.task_features import TaskDataset
from tinybert.data.tasks import TaskSpec
from tinybert.errors import UserError
from tinybert.evaluate import DevEvaluator, best_metric_key, chance_level, format_results, predict_logits
from tinybert.train import distributed as tdist
from tinybert.utils.io import atomic_open

logger = logging.getLogger(__name__)

CACHE_DIR = "teacher_logits"
CHANCE_MARGIN = 0.05  # a teacher within this of chance level is reported as (probably) not fine-tuned


def check_teacher(teacher: nn.Module, spec: TaskSpec, sets: Mapping[str, TaskDataset], batch_size: int,
                  device: torch.device) -> dict[str, float]:
    """Score the teacher on dev and warn loudly when its main metric is within a few points of chance."""
    teacher.to(device)
    result = DevEvaluator(spec, sets, batch_size).evaluate(teacher)
    key = best_metric_key(spec)
    labels = next(iter(sets.values())).features["labels"].numpy()
    chance = chance_level(spec, labels)
    logger.info("teacher dev: %s (chance level of %s: %.4f)", format_results(result, sep=", "), key, chance)
    if result[key] < chance + CHANCE_MARGIN:
        logger.warning("the teacher's dev %s = %.4f is near chance (%.4f): is it fine-tuned on %s? Distilling an "
                       "un-finetuned teacher gives a useless student (--skip_teacher_check hides this check)",
                       key, result[key], chance, spec.name)
    return result


def _file_stats(path: str) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of the model files of a folder: cheap, and changes whenever the weights do."""
    out = []
    for name in sorted(os.listdir(path)):
        fp = os.path.join(path, name)
        if os.path.isfile(fp) and name.endswith((".safetensors", ".bin", ".json")):
            st = os.stat(fp)
            out.append((name, st.st_size, st.st_mtime_ns))
    return out


def cache_key(teacher_path: str, dataset: TaskDataset, spec: TaskSpec) -> str:
    """Hash of what the teacher's logits depend on: its files, and the encoded inputs (so the data files,
    ``max_seq_length``, vocabulary and casing are all covered, exactly)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps({"teacher": os.path.realpath(teacher_path), "files": _file_stats(teacher_path),
                         "task": spec.name, "num_labels": spec.num_labels}, sort_keys=True).encode())
    for k in ("input_ids", "token_type_ids", "attention_mask"):
        a = dataset.features[k].numpy()
        h.update(f"{k}{a.shape}{a.dtype}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def cached_teacher_logits(teacher: nn.Module, dataset: TaskDataset, output_dir: str, key: str, batch_size: int,
                          device: torch.device) -> torch.Tensor:
    """The teacher's logits over ``dataset``: read from ``output_dir/teacher_logits/<key>.safetensors`` when there,
    else computed once (eval mode, inference mode, bf16 autocast on a GPU that has it) and written atomically.

    Under torchrun (rank 0 decides whether the file is there) each process computes a contiguous shard of the
    examples, the shards are gathered, rank 0 writes the file, and every process reads it after a barrier."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save

    directory = os.path.join(output_dir, CACHE_DIR)
    path = os.path.join(directory, f"{key}.safetensors")
    if tdist.broadcast_from_main(not os.path.isfile(path)):  # one answer for every process
        amp = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
        teacher.to(device)
        main, n = tdist.is_main_process(), len(dataset)
        if tdist.get_world_size() == 1:
            logits = predict_logits(teacher, dataset, batch_size, device, amp_dtype=amp, desc="teacher logits")
        else:
            lo, hi = tdist.shard_bounds(n)
            shard = TaskDataset({k: v[lo:hi].numpy() for k, v in dataset.features.items()})
            logits = (predict_logits(teacher, shard, batch_size, device, amp_dtype=amp, desc="teacher logits",
                                     progress=main) if hi > lo
                      else torch.zeros(0, int(teacher.config.num_labels)))
            logits = tdist.all_gather_shards(logits, n)
        if main:
            shutil.rmtree(directory, ignore_errors=True)  # caches of another teacher or data set
            with atomic_open(path, "wb") as f:
                f.write(save({"logits": logits.contiguous()}, metadata={"key": key}))
            logger.info("cached the teacher's logits for %d examples in %s", len(logits), path)
    tdist.barrier()
    try:
        logits = load_file(path)["logits"]
    except (SafetensorError, OSError, KeyError) as e:
        raise UserError.at(path, f"unreadable teacher-logit cache ({e}); delete it to recompute") from None
    if tuple(logits.shape) != (len(dataset), int(teacher.config.num_labels)):
        raise UserError.at(path, f"teacher-logit cache has shape {list(logits.shape)}, expected "
                                 f"[{len(dataset)}, {teacher.config.num_labels}]; delete it to recompute")
    logger.info("teacher logits: %s", path)
    return logits


__all__ = ["CACHE_DIR", "cache_key", "cached_teacher_logits", "check_teacher"]
