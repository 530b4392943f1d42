"""Task distillation of NER and reading-comprehension students (``tinybert ner-distill``, ``tinybert mrc-distill``):
the same two stages as classification, as distillation specs on the one training loop.

- Stage 1: TinyBERT's attention-score and hidden-state losses through the layer map
  (:func:`tinybert.distill.spec.task_stage1`, unchanged); the latest student is published.
- Stage 2 (``pred_distill``): per-token soft cross-entropy over the first pieces of real tokens (NER), or soft
  cross-entropy of the start and end distributions (reading comprehension), at ``temperature``
  (:mod:`tinybert.distill.span_terms`); the teacher's logits are cached per window in ``output_dir/teacher_logits``;
  the best student on dev (entity F1 / (EM + F1) / 2) is published with its ``eval_results.txt``.

The teacher is a fine-tuned ``tinybert ner`` / ``tinybert mrc`` model; the student takes its labels (``id2label``).
``do_eval`` alone evaluates ``model`` (any student or teacher folder) as ``tinybert ner/mrc --do_eval`` does.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from tinybert.config.span import MrcConfig, MrcDistillConfig, NerConfig, NerDistillConfig
from tinybert.data.task_features import TaskDataset, collate
from tinybert.distill import span_terms
from tinybert.distill.layer_map import load_layer_map
from tinybert.distill.spec import task_stage1
from tinybert.distill.trainer import distillation_trainer
from tinybert.distill.window_logits import cached_window_logits
from tinybert.errors import UserError
from tinybert.evaluate import write_eval_results
from tinybert.models.checkpoint import load_model
from tinybert.models.student import load_student
from tinybert.models.tokenizer import load_tokenizer
from tinybert.span_eval import (
    SPAN_HEAD,
    TOKEN_HEAD,
    MrcEvaluator,
    NerEvaluator,
    mrc_outputs,
    ner_outputs,
    span_logits,
    split_file,
    token_logits,
)
from tinybert.train import TrainResult, set_seed, start_run

logger = logging.getLogger(__name__)


@dataclass
class SpanDistillResult:
    train: TrainResult | None = None
    eval_metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    predictions_file: str | None = None


@dataclass(frozen=True)
class _Kind:
    """What differs between the two jobs."""

    name: str  # the stage-2 term family: token | span
    head: str
    metric: str  # the dev metric that decides the published student
    forward: Callable[..., Any]
    find: Callable[[str, str], str | None]
    prepare: Callable[..., tuple[TaskDataset, Any, dict[str, Any]]]  # train set, dev evaluator, head kwargs
    outputs: Callable[..., tuple[dict[str, float], str | None]]


def _prepare_ner(cfg: NerDistillConfig, tokenizer: Any, teacher: nn.Module, train_path: str, dev: Any):
    from tinybert.data.ner import check_labels, encode_ner, read_ner_file

    id2label = {int(k): v for k, v in teacher.config.id2label.items()}
    label2id = {v: k for k, v in id2label.items()}
    train = read_ner_file(train_path, cfg.ner_format)
    check_labels(train, label2id, "the teacher (its id2label)")
    dataset = TaskDataset(encode_ner(train.sentences, tokenizer, label2id, cfg.max_seq_length, cfg.doc_stride))
    evaluator = (NerEvaluator(dev, tokenizer, id2label, cfg.max_seq_length, cfg.doc_stride, cfg.eval_batch_size,
                              cfg.strict) if dev is not None else None)
    return dataset, evaluator, {"num_labels": len(id2label), "id2label": id2label}


def _prepare_mrc(cfg: MrcDistillConfig, tokenizer: Any, teacher: nn.Module, train_path: str, dev: Any):
    from tinybert.data.mrc import encode_mrc, read_mrc_file

    features = encode_mrc(read_mrc_file(train_path), tokenizer, cfg.max_seq_length, cfg.doc_stride or 128,
                          cfg.max_query_length)
    evaluator = MrcEvaluator(dev, tokenizer, cfg) if dev is not None else None
    return TaskDataset(features.arrays), evaluator, {}


def _find_json(data_dir: str, split: str) -> str | None:
    path = os.path.join(data_dir, split + ".json")
    return path if os.path.isfile(path) else None


def _find_ner(data_dir: str, split: str) -> str | None:
    from tinybert.data.ner import find_split

    return find_split(data_dir, split)


NER = _Kind("token", TOKEN_HEAD, "f1", token_logits, _find_ner, _prepare_ner, ner_outputs)
MRC = _Kind("span", SPAN_HEAD, "average", span_logits, _find_json, _prepare_mrc, mrc_outputs)


def run_ner_distill(cfg: NerDistillConfig) -> SpanDistillResult:
    """Stage 1, or stage 2 with ``cfg.pred_distill``, of an NER student; ``do_eval`` alone: evaluate ``model``."""
    return _run(cfg, NER, NerConfig)


def run_mrc_distill(cfg: MrcDistillConfig) -> SpanDistillResult:
    """Stage 1, or stage 2 with ``cfg.pred_distill``, of a reading-comprehension student."""
    return _run(cfg, MRC, MrcConfig)


def _run(cfg: Any, kind: _Kind, plain: type) -> SpanDistillResult:
    if not cfg.do_train:  # evaluation (and prediction) of a finished model, as `tinybert ner/mrc --do_eval`
        from tinybert.recipes.mrc import run_mrc
        from tinybert.recipes.ner import run_ner

        job = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(plain)}
        done = (run_ner if plain is NerConfig else run_mrc)(plain(**job))
        return SpanDistillResult(None, done.eval_metrics, done.predictions_file)

    # 0. Refuse early: an output among the inputs, a finished run, several processes.
    training = start_run(cfg.output_dir, {**cfg.input_paths(), "teacher_model": cfg.teacher_model}, cfg.training)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError("NER / reading-comprehension distillation runs in one process (no torchrun yet)")
    train_path = split_file(cfg.train_file, cfg.data_dir, "train", kind.find, "train_file", True)
    dev_path = split_file(cfg.dev_file, cfg.data_dir, "dev", kind.find, "dev_file", cfg.pred_distill)
    predict_path = split_file(cfg.predict_file, cfg.data_dir, "test", kind.find, "predict_file", cfg.do_predict)

    # 1. Teacher, tokenizer, data, student (with the teacher's labels).
    teacher = load_model(cfg.teacher_model, head=kind.head, require_head=True)
    has_vocab = os.path.isfile(os.path.join(cfg.model, "vocab.txt"))
    tokenizer = load_tokenizer(cfg.model if has_vocab else cfg.teacher_model, cfg.do_lower_case)
    dev = None
    if dev_path:
        from tinybert.data.mrc import read_mrc_file
        from tinybert.data.ner import read_ner_file

        dev = read_ner_file(dev_path, cfg.ner_format) if kind is NER else read_mrc_file(dev_path)
    dataset, evaluator, head_labels = kind.prepare(cfg, tokenizer, teacher, train_path, dev)
    if evaluator is not None and cfg.pred_distill:
        logger.info("teacher on dev: %s = %.4f", kind.metric, evaluator.evaluate(teacher)[kind.metric])
    set_seed(training.seed)  # a general student's head is initialised here
    student = load_student(cfg.model, teacher.config.hidden_size, head=kind.head, projection=cfg.projection,
                           **head_labels)
    if student.config.vocab_size != teacher.config.vocab_size:
        raise UserError(f"student vocab_size {student.config.vocab_size} differs from the teacher's "
                        f"{teacher.config.vocab_size}; they must share a vocabulary")

    # 2. The stage's spec on the one loop; stage 2 reads the teacher's per-window logits from the cache.
    if cfg.pred_distill:
        spec = span_terms.span_stage2(kind.name, cfg.temperature, cfg.hard_label_weight, not cfg.no_logits_cache)
    else:
        spec = task_stage1(load_layer_map(cfg.layer_map, student.config.num_hidden_layers,
                                          teacher.config.num_hidden_layers), cfg.attention_loss)

    def save(model: nn.Module, directory: str) -> None:
        model.save_pretrained(directory, tokenizer=tokenizer)
        if spec.publish == "best" and evaluator is not None:
            write_eval_results(directory, evaluator.last)

    trainer, objective = distillation_trainer(training, student, teacher, spec, dataset, collate, save, evaluator,
                                              kind.metric)
    if spec.cache_teacher_logits:
        os.makedirs(cfg.output_dir, exist_ok=True)
        teacher.to(trainer.device)
        objective.logits_cache = cached_window_logits(teacher, cfg.teacher_model, dataset, cfg.output_dir,
                                                      kind.name, cfg.eval_batch_size, kind.forward).to(trainer.device)
        teacher.to("cpu")
    result = SpanDistillResult(trainer.train())

    # 3. The published student: test predictions.
    if cfg.do_predict:
        best = load_model(cfg.output_dir, head=kind.head, require_head=True).to(trainer.device)
        outputs = dataclasses.replace(cfg, do_eval=False)
        result.eval_metrics, result.predictions_file = kind.outputs(outputs, best, tokenizer, None, predict_path)
    return result


__all__ = ["SpanDistillResult", "run_mrc_distill", "run_ner_distill"]
