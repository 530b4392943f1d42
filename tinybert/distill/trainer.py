"""A distillation spec wired to the one training loop: what trains, the objective, and what the loop evaluates and
publishes, the same for general and task distillation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from tinybert.distill.objective import DistillObjective, freeze_untrained
from tinybert.distill.spec import DistillSpec
from tinybert.train import Evaluator, Trainer, TrainingArguments

logger = logging.getLogger(__name__)


def distillation_trainer(args: TrainingArguments, student: nn.Module, teacher: nn.Module | None, spec: DistillSpec,
                         dataset: Dataset, collate_fn: Callable[[list[Any]], Any],
                         save_fn: Callable[[nn.Module, str], None], evaluator: Evaluator | None = None,
                         metric_for_best: str | None = None) -> tuple[Trainer, DistillObjective]:
    """Log ``spec``, freeze what it does not train, and build its objective and the :class:`Trainer` running it.

    The teacher is handed to the loop (moved to the device, eval mode, no grad) only when it runs at every step;
    with cached logits the recipe attaches the cache (``objective.logits_cache``) before ``trainer.train()``."""
    logger.info("distillation: %s", spec.describe())
    logger.info("distillation spec: %s", spec.to_json())
    freeze_untrained(student, spec)
    objective = DistillObjective(teacher, spec)
    trainer = Trainer(args, student, dataset, collate_fn, objective,
                      frozen=[teacher] if objective.teacher_each_step else [], save_fn=save_fn,
                      **spec.trainer_options(evaluator, metric_for_best))
    return trainer, objective


__all__ = ["distillation_trainer"]
