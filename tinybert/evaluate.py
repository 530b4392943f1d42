"""Task evaluation, and the task plumbing that finetuning and task distillation share.

- :func:`encode_split`: one split of a task as a :class:`TaskDataset` (items carry ``index``).
- :func:`predict_logits`: batched inference of any classifier over a dataset (length-sorted batches, dynamic padding,
  ``inference_mode``, optional autocast), logits back in dataset order. Evaluation and the teacher-logit cache use it.
- :class:`DevEvaluator`: the evaluator of the training loop: every dev split of the task (MNLI: matched and
  mismatched, each reported), its metrics and ``eval_loss``; :func:`best_metric_key` names the one that decides.
- :func:`write_eval_results` (``eval_results.txt``, ``key = value`` lines as the original) and
  :func:`write_predictions` (GLUE submission files ``{TASK}.tsv``: ``index<TAB>prediction``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tinybert.data.task_features import IGNORE_INDEX, TaskDataset, collate, model_inputs
from tinybert.data.tasks import TaskSpec, read_examples
from tinybert.errors import UserError
from tinybert.metrics import compute_task_metrics, main_metric
from tinybert.utils.io import atomic_open, atomic_write_text

logger = logging.getLogger(__name__)

EVAL_RESULTS = "eval_results.txt"
# GLUE submission file name of each task's test split(s)
GLUE_SUBMISSION = {
    ("cola", "test"): "CoLA", ("sst-2", "test"): "SST-2", ("mrpc", "test"): "MRPC", ("sts-b", "test"): "STS-B",
    ("qqp", "test"): "QQP", ("mnli", "test"): "MNLI-m", ("mnli", "test_mismatched"): "MNLI-mm",
    ("mnli-mm", "test"): "MNLI-mm", ("qnli", "test"): "QNLI", ("rte", "test"): "RTE", ("wnli", "test"): "WNLI",
}


# ----------------------------------------------------------------------------------------------------- task setup


def encode_split(spec: TaskSpec, data_dir: str, split: str | Sequence[str], tokenizer: Any,
                 max_seq_length: int) -> TaskDataset:
    """Read and tokenise one split of a task, or several (e.g. ``("train", "unlabeled")``) as one dataset."""
    examples = []
    for name in [split] if isinstance(split, str) else split:
        part = read_examples(spec, data_dir, name)
        logger.info("%s %s: %d examples", spec.name, name, len(part))
        examples += part
    return TaskDataset.from_examples(examples, tokenizer, max_seq_length, spec)


def dev_sets(spec: TaskSpec, data_dir: str, tokenizer: Any, max_seq_length: int) -> dict[str, TaskDataset]:
    """Every dev split of the task (MNLI: ``dev`` = matched and ``dev_mismatched``), in the task's order."""
    return {split: encode_split(spec, data_dir, split, tokenizer, max_seq_length) for split in spec.dev_splits}


def pick_device(no_cuda: bool = False) -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() and not no_cuda else "cpu")


# ----------------------------------------------------------------------------------------------------- inference


def classifier_logits(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Logits of a transformers classification model on a collated batch."""
    return model(**model_inputs(dict(batch))).logits


def predict_logits(
    model: nn.Module,
    dataset: TaskDataset,
    batch_size: int,
    device: torch.device | str | None = None,
    amp_dtype: torch.dtype | None = None,
    desc: str = "predict",
    forward: Callable[[nn.Module, Mapping[str, torch.Tensor]], torch.Tensor] = classifier_logits,
    progress: bool = True,
) -> torch.Tensor:
    """Float32 logits (n, num_outputs) of ``model`` over ``dataset``, on the CPU, in dataset order.

    Examples run in batches of similar length (sorted by length, dynamic padding), in eval mode under
    ``torch.inference_mode()`` (and autocast with ``amp_dtype``); the model's train/eval mode is restored after.
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise UserError.of_field("eval_batch_size", f"must be >= 1, got {batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    lengths = dataset.features["lengths"].numpy()
    order = np.argsort(-lengths, kind="stable")  # longest first: the first batch shows the peak memory
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False,
                              disable=not progress):
                batch = collate([dataset[int(i)] for i in order[start:start + batch_size]])
                batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    logits = forward(model, batch)
                chunks.append(logits.float().cpu())
    finally:
        model.train(was_training)
    stacked = torch.cat(chunks)  # outside inference mode: a normal tensor
    out = torch.empty_like(stacked)
    out[torch.from_numpy(order)] = stacked
    return out


def task_loss(logits: torch.Tensor, labels: torch.Tensor, regression: bool) -> torch.Tensor:
    """Gold-label loss: cross-entropy or, for regression, MSE to the targets, averaged over the labelled rows;
    unlabelled rows (``IGNORE_INDEX`` / NaN) are ignored, and a batch of them only gives 0 with the logits' graph.
    Written as a masked sum over a clamped count, so no step waits on the device to ask whether any row is labelled."""
    if regression:
        targets = labels.float().view(-1)
        known = ~torch.isnan(targets)
        per_row = (logits.float().view(-1) - torch.where(known, targets, 0.0)) ** 2
    else:
        targets = labels.long()
        known = targets != IGNORE_INDEX
        per_row = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="none")
    return (per_row * known).sum() / known.sum().clamp(min=1)


def score(spec: TaskSpec, logits: torch.Tensor, labels: np.ndarray) -> dict[str, float]:
    """The task's metrics plus ``eval_loss`` (gold-label loss) of logits against dev labels."""
    regression = spec.output_mode == "regression"
    preds = logits.numpy()[:, 0] if regression else logits.numpy().argmax(axis=1)
    result = compute_task_metrics(spec, preds, labels)
    result["eval_loss"] = float(task_loss(logits, torch.from_numpy(labels), regression))
    return result


def _prefix(spec: TaskSpec, split: str) -> str:
    return "" if len(spec.dev_splits) == 1 else f"{spec.eval_name(split)}_"


def best_metric_key(spec: TaskSpec) -> str:
    """The result key deciding the best checkpoint: the main metric of the first dev split (MNLI: matched)."""
    return _prefix(spec, spec.dev_splits[0]) + main_metric(spec)


class DevEvaluator:
    """The training loop's :class:`~tinybert.train.Evaluator`: metrics on every dev split, remembered in
    :attr:`last`, with the optimizer step as ``global_step``.

    Single-dev tasks report plain keys (``acc``, ``eval_loss``); tasks with several dev sets prefix each with its
    name (``mnli_acc``, ``mnli-mm_acc``), none replacing another. A TinyBERT student is evaluated through its
    classifier (``student.model``).
    """

    def __init__(self, spec: TaskSpec, sets: Mapping[str, TaskDataset], batch_size: int,
                 amp_dtype: torch.dtype | None = None) -> None:
        self.spec, self.sets, self.batch_size, self.amp_dtype = spec, dict(sets), batch_size, amp_dtype
        self.last: dict[str, float] = {}

    def evaluate(self, model: nn.Module, step: int | None = None) -> dict[str, float]:
        from tinybert.models.student import TinyBertStudent

        clf = model.model if isinstance(model, TinyBertStudent) else model
        result: dict[str, float] = {}
        for split, ds in self.sets.items():
            logits = predict_logits(clf, ds, self.batch_size, amp_dtype=self.amp_dtype, desc=f"eval {split}")
            metrics = score(self.spec, logits, ds.features["labels"].numpy())
            result.update({_prefix(self.spec, split) + k: v for k, v in metrics.items()})
        if step is not None:
            result["global_step"] = float(step)
        self.last = result
        logger.info("dev: %s", format_results(result, sep=", "))
        return result


def format_results(result: Mapping[str, Any], sep: str = "\n") -> str:
    """``key = value`` pairs sorted by key (the original ``eval_results.txt`` lines)."""
    def fmt(k: str, v: Any) -> str:
        return str(int(v)) if k == "global_step" else str(v)

    return sep.join(f"{k} = {fmt(k, result[k])}" for k in sorted(result))


def write_eval_results(directory: str, result: Mapping[str, Any]) -> str:
    """Write ``directory/eval_results.txt`` atomically; returns its path."""
    path = os.path.join(directory, EVAL_RESULTS)
    atomic_write_text(path, format_results(result) + "\n")
    return path


def read_eval_results(path: str) -> dict[str, Any]:
    """Parse ``key = value`` lines (the original TinyBERT ``eval_results.txt``); values as floats where they parse."""
    out: dict[str, Any] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if "=" not in line:
                    raise UserError.at(path, f"expected 'key = value', found {line.strip()[:40]!r}", line=i)
                key, value = (s.strip() for s in line.split("=", 1))
                try:
                    out[key] = float(value)
                except ValueError:
                    out[key] = value
    except UnicodeDecodeError as e:
        raise UserError.at(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    return out


def chance_level(spec: TaskSpec, labels: np.ndarray) -> float:
    """The main metric a model without skill gets: the majority-class (or uniform) accuracy; 0 for MCC/correlation."""
    if main_metric(spec) != "acc":
        return 0.0
    counts = np.bincount(labels[labels >= 0], minlength=spec.num_labels)
    return float(max(counts.max() / max(counts.sum(), 1), 1.0 / spec.num_labels))


# ----------------------------------------------------------------------------------------------------- predictions


def test_splits(spec: TaskSpec) -> list[str]:
    return [s for s in ("test", "test_mismatched") if s in spec.files]


def submission_name(spec: TaskSpec, split: str) -> str:
    return GLUE_SUBMISSION.get((spec.name, split), spec.name if split == "test" else f"{spec.name}-{split[5:]}")


def write_predictions(model: nn.Module, spec: TaskSpec, data_dir: str, tokenizer: Any, max_seq_length: int,
                      output_dir: str, batch_size: int, device: torch.device) -> list[str]:
    """GLUE submission files for every test split: ``{TASK}.tsv`` with ``index<TAB>prediction`` rows.

    Predictions are label names (regression: the score, 3 decimals); the index is the test file's id column (or
    the row number when the layout has none). Returns the paths written.
    """
    paths = []
    for split in test_splits(spec):
        examples = read_examples(spec, data_dir, split)
        ds = TaskDataset.from_examples(examples, tokenizer, max_seq_length, spec)
        logits = predict_logits(model, ds, batch_size, device, desc=f"predict {split}")
        if spec.output_mode == "regression":
            preds = [f"{x:.3f}" for x in logits[:, 0].tolist()]
        else:
            labels = spec.labels or []
            preds = [labels[i] for i in logits.argmax(dim=1).tolist()]
        has_id = spec.layout(split).id_column is not None
        ids = [ex.guid[len(split) + 1:] if has_id else str(i) for i, ex in enumerate(examples)]
        path = os.path.join(output_dir, submission_name(spec, split) + ".tsv")
        with atomic_open(path, "w") as f:
            f.write("index\tprediction\n")
            f.writelines(f"{i}\t{p}\n" for i, p in zip(ids, preds, strict=True))
        logger.info("wrote %d %s predictions to %s", len(preds), split, path)
        paths.append(path)
    return paths


def evaluate_folder(model: nn.Module, spec: TaskSpec, data_dir: str, tokenizer: Any, max_seq_length: int,
                    batch_size: int, device: torch.device) -> dict[str, float]:
    """Metrics of a classifier on every dev split of a task (as :class:`DevEvaluator` reports them)."""
    model.to(device)
    return DevEvaluator(spec, dev_sets(spec, data_dir, tokenizer, max_seq_length), batch_size).evaluate(model)
