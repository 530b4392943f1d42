"""Task distillation, TinyBERT's second half: a general student learns a fine-tuned teacher on (augmented) task data.

- Stage 1 (intermediate): attention-score and hidden-state (embedding output included) MSE through the layer map,
  the loss of general distillation (:class:`~tinybert.distill.objective.IntermediateObjective`). The student's
  pooler and classifier get no gradient from it and are frozen. There is no meaningful dev metric, so the latest
  student is published at every ``--eval_step`` (as the original saved it) and the losses are logged.
- Stage 2 (``--pred_distill``): soft cross-entropy to the teacher's logits at ``--temperature``; for regression
  (STS-B) MSE to the teacher's predictions, never the gold labels; ``--hard_label_weight w`` mixes in the gold-label
  loss as ``(1 - w) * soft + w * hard``. The projections are frozen. The teacher's logits over the training set are
  computed once in a batched inference pass (under torchrun each process computes a shard of it) and cached in
  ``output_dir/teacher_logits/`` under a key hashing the teacher's files and the encoded training inputs (data,
  max_seq_length, vocabulary, casing), so every epoch after the first costs only the student. The best student by
  the task's main metric on dev is kept.

Before any work the teacher's and student's label maps are checked against the task's and the teacher's dev score
is printed, with a warning when it is near chance (an un-finetuned teacher). Read :func:`run_task_distill` top to
bottom.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from tinybert.config.base import from_namespace
from tinybert.data.task_features import TaskDataset, collate, model_inputs
from tinybert.data.tasks import TaskSpec
from tinybert.distill.layer_map import load_layer_map
from tinybert.distill.losses import prediction_loss
from tinybert.distill.objective import IntermediateObjective
from tinybert.errors import UserError
from tinybert.evaluate import (
    DevEvaluator,
    best_metric_key,
    chance_level,
    dev_sets,
    encode_split,
    evaluate_folder,
    format_results,
    load_task,
    lower_case_flag,
    pick_device,
    predict_logits,
    task_loss,
    write_eval_results,
    write_predictions,
)
from tinybert.models.classifier import load_classifier, load_task_student
from tinybert.models.student import TinyBertStudent
from tinybert.train import Trainer, TrainingArguments, TrainResult, check_output_dir, set_seed
from tinybert.train import distributed as tdist
from tinybert.utils.io import atomic_open

logger = logging.getLogger(__name__)

CACHE_DIR = "teacher_logits"
CHANCE_MARGIN = 0.05  # a teacher within this of chance level is reported as (probably) not fine-tuned
HEAD = "sequence_classification"


# ----------------------------------------------------------------------------------------------------- models


def freeze(params: list[nn.Parameter]) -> None:
    for p in params:
        p.requires_grad_(False)


def projection_parameters(student: TinyBertStudent) -> list[nn.Parameter]:
    return [p for m in student.projection_modules() for p in m.parameters()]


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


# ----------------------------------------------------------------------------------------------------- stage 2


class PredictionObjective:
    """Stage-2 ``loss_fn(student, batch) -> (loss, {"cls_loss", ["hard_loss"]})`` for the training loop.

    Teacher logits come from :attr:`cache` (rows looked up by the batch's ``index``) when set, else from running
    the teacher on the batch.
    """

    def __init__(self, teacher: nn.Module, temperature: float, regression: bool, hard_label_weight: float = 0.0
                 ) -> None:
        if temperature <= 0:
            raise UserError(f"--temperature must be > 0, got {temperature}")
        if not 0.0 <= hard_label_weight <= 1.0:
            raise UserError(f"--hard_label_weight must be in [0, 1], got {hard_label_weight}")
        self.teacher, self.temperature, self.regression = teacher, temperature, regression
        self.hard_label_weight = hard_label_weight
        self.cache: torch.Tensor | None = None

    def teacher_logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.cache is not None:
            return self.cache[batch["index"]]
        with torch.inference_mode():
            logits = self.teacher(**model_inputs(batch)).logits
        return logits.float().clone()  # a normal tensor, usable as a loss target

    def __call__(self, student: nn.Module, batch: dict[str, torch.Tensor]):
        target = self.teacher_logits(batch)
        logits = student(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"),
                         logits=True).logits
        soft = prediction_loss(logits, target, self.temperature, regression=self.regression)
        w = self.hard_label_weight
        if w == 0:
            return soft, {"cls_loss": soft.detach()}
        hard = task_loss(logits, batch["labels"], self.regression)
        return (1 - w) * soft + w * hard, {"cls_loss": soft.detach(), "hard_loss": hard.detach()}


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


# ----------------------------------------------------------------------------------------------------- recipes


def _check_paths(args: argparse.Namespace) -> None:
    out = os.path.realpath(args.output_dir)
    for flag in ("teacher_model", "student_model"):
        p = getattr(args, flag, None)
        if p and os.path.realpath(p) == out:
            raise UserError(f"--output_dir {args.output_dir} is the --{flag}; give a new folder")


def run_task_distill(args: argparse.Namespace) -> TrainResult | dict[str, float]:
    """``task_distill.py``: evaluation only with ``--do_eval`` (or ``--do_predict`` and no teacher), else stage 1,
    or stage 2 with ``--pred_distill`` (then ``--do_predict`` writes test predictions of the best student)."""
    if args.do_eval or (args.do_predict and not args.teacher_model):
        return run_evaluation(args)
    if not args.teacher_model:
        raise UserError("--teacher_model is required for task distillation (or pass --do_eval to evaluate)")
    _check_paths(args)
    stage = 2 if args.pred_distill else 1
    check_output_dir(args.output_dir, args.overwrite_output_dir, args.resume)  # refuse early, before any loading
    dist = tdist.init_distributed(args.no_cuda, args.ddp_timeout)

    # 1. Task, tokenizer, teacher and student; labels checked against the task's.
    spec = load_task(args)
    from tinybert.models.tokenizer import load_tokenizer

    student_path = args.student_model
    tokenizer = load_tokenizer(student_path if os.path.isfile(os.path.join(student_path, "vocab.txt"))
                               else args.teacher_model, lower_case_flag(args))
    teacher = load_classifier(args.teacher_model, spec, "teacher")
    set_seed(args.seed)  # a general student's classifier is initialised here
    student = load_task_student(student_path, spec, teacher.config.hidden_size, args.projection)
    if student.config.vocab_size != teacher.config.vocab_size:
        raise UserError(f"student vocab_size {student.config.vocab_size} differs from the teacher's "
                        f"{teacher.config.vocab_size}; they must share a vocabulary")

    # 2. Dev sets and the teacher's dev score (before the costly work), then the training set.
    dev = dev_sets(spec, args.data_dir, tokenizer, args.max_seq_length)
    if not args.skip_teacher_check and dist.is_main:
        check_teacher(teacher, spec, dev, args.eval_batch_size, dist.device)
    train = encode_split(spec, args.data_dir, "train_aug" if args.aug_train else "train", tokenizer,
                         args.max_seq_length)

    # 3. The stage's loss; what it does not use is frozen.
    if stage == 1:
        layer_map = load_layer_map(args.layer_map, student.config.num_hidden_layers, teacher.config.num_hidden_layers)
        logger.info("stage 1 (intermediate layers), layer map: %s", layer_map.describe())
        loss_fn: Any = IntermediateObjective(teacher, layer_map, args.attention_loss)
        freeze(student.non_encoder_parameters())
    else:
        logger.info("stage 2 (prediction layer), temperature %g, hard-label weight %g", args.temperature,
                    args.hard_label_weight)
        loss_fn = PredictionObjective(teacher, args.temperature, spec.output_mode == "regression",
                                      args.hard_label_weight)
        freeze(projection_parameters(student))
    cached = stage == 2 and not args.no_logits_cache

    # 4. The one training loop: stage 1 publishes the latest student at every eval step, stage 2 the best one.
    targs = from_namespace(TrainingArguments, args)
    evaluator = DevEvaluator(spec, dev, args.eval_batch_size)

    def save(model: nn.Module, directory: str) -> None:
        model.save_pretrained(directory, tokenizer=tokenizer)
        if stage == 2:
            write_eval_results(directory, evaluator.last)

    trainer = Trainer(targs, student, train, collate, loss_fn, frozen=() if cached else (teacher,),
                      evaluator=evaluator if stage == 2 else None,
                      metric_for_best=best_metric_key(spec) if stage == 2 else None, save_fn=save,
                      save_every_eval=stage == 1)
    if cached:
        os.makedirs(args.output_dir, exist_ok=True)
        key = cache_key(args.teacher_model, train, spec)
        loss_fn.cache = cached_teacher_logits(teacher, train, args.output_dir, key, args.eval_batch_size,
                                              trainer.device).to(trainer.device)
        teacher.to("cpu")  # the teacher is done: free its device memory for the student
    result = trainer.train()

    if dist.is_main:
        if stage == 2:
            logger.info("best %s = %s at step %s", best_metric_key(spec), result.best_metric, result.best_step)
        if args.do_predict:
            best = load_classifier(args.output_dir, spec, "student")
            write_predictions(best.to(trainer.device), spec, args.data_dir, tokenizer, args.max_seq_length,
                              args.output_dir, args.eval_batch_size, trainer.device)
    return result


def run_evaluation(args: argparse.Namespace) -> dict[str, float]:
    """``--do_eval``: the dev metrics of ``--student_model`` (any classifier folder) in ``output_dir/eval_results.txt``,
    printed; ``--do_predict``: GLUE-submission test predictions in ``output_dir``."""
    from tinybert.evaluate import EVAL_RESULTS, submission_name, test_splits
    from tinybert.models.tokenizer import load_tokenizer

    _check_paths(args)
    spec = load_task(args)
    out = args.output_dir
    planned = ([EVAL_RESULTS] if args.do_eval else []) + \
              ([submission_name(spec, s) + ".tsv" for s in test_splits(spec)] if args.do_predict else [])
    existing = [n for n in planned if os.path.exists(os.path.join(out, n))]
    if existing and not args.overwrite_output_dir:
        raise UserError.at(out, f"already holds {', '.join(existing)}; pass --overwrite_output_dir to replace")
    model = load_classifier(args.student_model, spec, "model")
    tokenizer = load_tokenizer(args.student_model, lower_case_flag(args))
    device = pick_device(args.no_cuda)
    model.to(device)
    result: dict[str, float] = {}
    os.makedirs(out, exist_ok=True)
    if args.do_eval:
        result = evaluate_folder(model, spec, args.data_dir, tokenizer, args.max_seq_length, args.eval_batch_size,
                                 device)
        path = write_eval_results(out, result)
        print("***** Eval results *****")
        print(format_results(result))
        logger.info("wrote %s", path)
    if args.do_predict:
        for path in write_predictions(model, spec, args.data_dir, tokenizer, args.max_seq_length, out,
                                      args.eval_batch_size, device):
            print(f"predictions: {path}")
    return result


__all__ = ["PredictionObjective", "cache_key", "cached_teacher_logits", "check_teacher", "load_classifier",
           "load_task_student", "run_evaluation", "run_task_distill"]
