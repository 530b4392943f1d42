"""Task distillation (``task_distill.py``), TinyBERT's second half: a general student learns a fine-tuned teacher on
(augmented) task data. Stage 1 and stage 2 are presets of one distillation spec (:mod:`tinybert.distill.spec`):

- stage 1: attention-score and hidden-state MSE through the layer map; the pooler and classifier are frozen; the
  latest student is published at every eval step;
- stage 2 (``pred_distill``): soft cross-entropy to the teacher's logits at ``temperature`` (regression: MSE to the
  teacher's predictions, never the gold labels), ``(1 - w) * soft + w * hard`` with ``hard_label_weight`` w; the
  projections are frozen; the teacher's logits are cached once in ``output_dir/teacher_logits/``; the best student by
  the task's main dev metric is published (with its ``eval_results.txt``).

Before any work the teacher's and student's label maps are checked against the task's and the teacher's dev score
is printed, with a warning when it is near chance (an un-finetuned teacher). Read :func:`run_task_distill` top to
bottom.
"""

from __future__ import annotations

import logging
import os

from torch import nn

from tinybert.config.distill import TaskDistillConfig
from tinybert.data.task_features import collate
from tinybert.data.tasks import TaskSpec
from tinybert.distill.layer_map import load_layer_map
from tinybert.distill.spec import DistillSpec, task_stage1, task_stage2, with_layer_map
from tinybert.distill.teacher import cache_key, cached_teacher_logits, check_teacher
from tinybert.distill.trainer import distillation_trainer
from tinybert.errors import UserError
from tinybert.evaluate import (
    DevEvaluator,
    best_metric_key,
    dev_sets,
    encode_split,
    write_eval_results,
    write_predictions,
)
from tinybert.models.checkpoint import check_sequence_length, check_shared_vocabulary
from tinybert.models.classifier import load_classifier, load_task_student, student_from_teacher
from tinybert.models.tokenizer import load_tokenizer
from tinybert.train import TrainResult, set_seed, start_run
from tinybert.train import distributed as tdist

logger = logging.getLogger(__name__)


def stage_spec(cfg: TaskDistillConfig, spec: TaskSpec, student_layers: int, teacher_layers: int) -> DistillSpec:
    """The distillation spec of the run: the configured stage's preset, or ``cfg.distill_spec``."""
    if cfg.distill_spec is not None:
        return with_layer_map(cfg.distill_spec, cfg.resolved_layer_map, student_layers, teacher_layers)
    if cfg.pred_distill:
        return task_stage2(cfg.temperature, cfg.hard_label_weight, regression=spec.output_mode == "regression",
                           cache_teacher_logits=not cfg.no_logits_cache)
    return task_stage1(load_layer_map(cfg.resolved_layer_map, student_layers, teacher_layers), cfg.attention_loss)


def run_task_distill(cfg: TaskDistillConfig) -> TrainResult:
    """Stage 1, or stage 2 with ``cfg.pred_distill`` (then ``cfg.do_predict`` writes test predictions of the best
    student), of ``cfg.student_model`` (or the teacher's ``cfg.init_from_teacher`` layers) from
    ``cfg.teacher_model`` into ``cfg.output_dir``."""
    # 0. Refuse early, before any loading: an output among the inputs, a finished run.
    training = start_run(cfg.output_dir, cfg.input_paths(), cfg.training)
    task = cfg.task
    dist = tdist.init_distributed(training.no_cuda, training.ddp_timeout)

    # 1. Task, tokenizer, teacher and student; labels checked against the task's.
    spec = task.spec()
    source = cfg.student_model or cfg.teacher_model  # the student's folder, or the teacher it is made from
    has_vocab = os.path.isfile(os.path.join(source, "vocab.txt"))
    tokenizer = load_tokenizer(source if has_vocab else cfg.teacher_model, task.do_lower_case)
    teacher = load_classifier(cfg.teacher_model, spec, "teacher")
    set_seed(training.seed)  # a general student's classifier is initialised here
    if cfg.init_from_teacher:
        student = student_from_teacher(teacher, cfg.init_from_teacher, cfg.projection or "shared", cfg.teacher_model)
    else:
        student = load_task_student(cfg.student_model, spec, teacher.config.hidden_size, cfg.projection)
        if student.config.vocab_size != teacher.config.vocab_size:
            raise UserError(f"student vocab_size {student.config.vocab_size} differs from the teacher's "
                            f"{teacher.config.vocab_size}; they must share a vocabulary")
        check_shared_vocabulary(cfg.teacher_model, cfg.student_model)  # same tokens in the same order
    check_sequence_length(task.max_seq_length, teacher.config, cfg.teacher_model, "the teacher")
    check_sequence_length(task.max_seq_length, student.config, source, "the student")

    # 2. Dev sets and the teacher's dev score (before the costly work), then the training set.
    dev = dev_sets(spec, task.data_dir, tokenizer, task.max_seq_length)
    if not cfg.skip_teacher_check and dist.is_main:
        check_teacher(teacher, spec, dev, task.eval_batch_size, dist.device)
    train = encode_split(spec, task.data_dir, cfg.train_splits, tokenizer, task.max_seq_length)

    # 3. What the stage learns, and the one training loop around it.
    distill_spec = stage_spec(cfg, spec, student.config.num_hidden_layers, teacher.config.num_hidden_layers)
    evaluator = DevEvaluator(spec, dev, task.eval_batch_size)

    def save(model: nn.Module, directory: str) -> None:
        model.save_pretrained(directory, tokenizer=tokenizer)
        if distill_spec.publish == "best":
            write_eval_results(directory, evaluator.last)

    trainer, objective = distillation_trainer(training, student, teacher, distill_spec, train, collate, save,
                                              evaluator, best_metric_key(spec))
    if distill_spec.cache_teacher_logits:
        os.makedirs(cfg.output_dir, exist_ok=True)
        key = cache_key(cfg.teacher_model, train, spec)
        objective.logits_cache = cached_teacher_logits(teacher, train, cfg.output_dir, key, task.eval_batch_size,
                                                       trainer.device).to(trainer.device)
        teacher.to("cpu")  # the teacher is done: free its device memory for the student
    result = trainer.train()

    # 4. The published student: its score, and test predictions.
    if dist.is_main:
        if distill_spec.publish == "best":
            logger.info("best %s = %s at step %s", best_metric_key(spec), result.best_metric, result.best_step)
        if cfg.do_predict:
            best = load_classifier(cfg.output_dir, spec, "student")
            write_predictions(best.to(trainer.device), spec, task.data_dir, tokenizer, task.max_seq_length,
                              cfg.output_dir, task.eval_batch_size, trainer.device)
    return result


__all__ = ["run_task_distill", "stage_spec"]
