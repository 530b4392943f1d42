"""Task metrics as plain functions over numpy arrays (GLUE / CLUE).

``compute_task_metrics(task, preds, labels)`` gives the metrics the GLUE papers report for a task and
``main_metric(task)`` the one key that decides the best checkpoint (higher is better, as in the original TinyBERT:
MCC for CoLA, Pearson/Spearman mean for STS-B, accuracy for the rest). Degenerate inputs follow the usual
conventions: MCC is 0 when a confusion-matrix margin is empty, and a correlation is 0 when either side is constant
(so best-checkpoint comparisons never meet NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _pair(preds: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(preds), np.asarray(labels)
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.shape != y.shape:
        raise ValueError(f"predictions {p.shape} and labels {y.shape} differ in shape")
    if p.size == 0:
        raise ValueError("no predictions to score")
    return p, y


def accuracy(preds: Any, labels: Any) -> float:
    """Fraction of predictions equal to the labels."""
    p, y = _pair(preds, labels)
    return float((p == y).mean())


def f1(preds: Any, labels: Any, pos_label: int = 1) -> float:
    """Binary F1 of the positive class (0 when there are no true or predicted positives)."""
    from sklearn.metrics import f1_score

    p, y = _pair(preds, labels)
    return float(f1_score(y, p, pos_label=pos_label, average="binary", zero_division=0))


def matthews_corrcoef(preds: Any, labels: Any) -> float:
    """Matthews correlation coefficient (CoLA); 0 when undefined (a constant prediction or label column)."""
    from sklearn.metrics import matthews_corrcoef as mcc

    p, y = _pair(preds, labels)
    return float(mcc(y, p))


def _corr(kind: str, preds: Any, labels: Any) -> float:
    from scipy import stats

    p, y = _pair(preds, labels)
    p, y = p.astype(np.float64), y.astype(np.float64)
    if p.size < 2 or np.ptp(p) == 0 or np.ptp(y) == 0:
        return 0.0
    r = stats.pearsonr(p, y)[0] if kind == "pearson" else stats.spearmanr(p, y)[0]
    return float(r)


def pearson(preds: Any, labels: Any) -> float:
    """Pearson correlation (0 if either side is constant)."""
    return _corr("pearson", preds, labels)


def spearman(preds: Any, labels: Any) -> float:
    """Spearman rank correlation, ties given their average rank (0 if either side is constant)."""
    return _corr("spearman", preds, labels)


def _kind(task: Any) -> str:
    """"mcc" | "corr" | "acc_f1" | "acc" for a task name or a TaskSpec (a generic regression task scores "corr")."""
    from tinybert.data.tasks import get_task

    if isinstance(task, str):
        name = task.strip().lower()
        spec = None if name == "generic" else get_task(name)
    else:
        spec = task
    if spec is None:
        return "acc"
    if spec.output_mode == "regression":
        return "corr"
    return {"cola": "mcc", "mrpc": "acc_f1", "qqp": "acc_f1"}.get(spec.name, "acc")


def main_metric(task: Any) -> str:
    """The key of :func:`compute_task_metrics` that decides the best checkpoint (higher is better)."""
    return {"mcc": "mcc", "corr": "corr"}.get(_kind(task), "acc")


def compute_task_metrics(task: Any, preds: Any, labels: Any) -> dict[str, float]:
    """A task's metrics: CoLA ``mcc``; MRPC/QQP ``acc, f1, acc_and_f1``; STS-B ``pearson, spearmanr, corr``;
    the other GLUE and CLUE tasks ``acc``.

    ``preds`` are class ids, or logits of shape (n, num_labels) which are arg-maxed (regression: scores, (n,) or
    (n, 1)). ``task`` is a name or a TaskSpec; unknown names raise UserError.
    """
    kind = _kind(task)
    p = np.asarray(preds)
    if kind == "corr":
        pr, sr = pearson(p, labels), spearman(p, labels)
        return {"pearson": pr, "spearmanr": sr, "corr": (pr + sr) / 2}
    if p.ndim == 2 and p.shape[1] > 1:
        p = p.argmax(axis=1)
    if kind == "mcc":
        return {"mcc": matthews_corrcoef(p, labels)}
    acc = accuracy(p, labels)
    if kind == "acc_f1":
        f = f1(p, labels)
        return {"acc": acc, "f1": f, "acc_and_f1": (acc + f) / 2}
    return {"acc": acc}


__all__ = ["accuracy", "f1", "matthews_corrcoef", "pearson", "spearman", "compute_task_metrics", "main_metric"]
