"""``tinybert task-distill`` / ``task_distill.py``: the original TinyBERT task-distillation flags, same defaults.

Stage 1 (intermediate layers) by default, stage 2 (prediction layer) with ``--pred_distill``
(:mod:`tinybert.recipes.task_distill`); evaluation only with ``--do_eval``, or ``--do_predict`` without a teacher
(:mod:`tinybert.recipes.evaluate`).
"""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.cli.flags import add_task_arguments, add_training_arguments
from tinybert.config.base import field_defaults, from_namespace
from tinybert.config.distill import ATTENTION_LOSSES, PROJECTIONS, EvalConfig, TaskDistillConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = {f.name: f.default for f in dataclasses.fields(TaskDistillConfig)}
    a = parser.add_argument
    a("--teacher_model", default=None, help="fine-tuned teacher folder (a BERT/NEZHA classifier for the task)")
    a("--student_model",
      help="general student folder (stage 1), the stage-1 output (stage 2), or the model to evaluate (--do_eval)")
    a("--init_from_teacher", metavar="LAYERS", default=None,
      help="instead of --student_model: start from the teacher's embeddings, these layers (1-based, e.g. 2,4) and "
           "its classifier, a student of the teacher's width; the stage-1 layer map defaults to the same layers")
    a("--output_dir", required=True, help="where the student, eval_results.txt and metrics.jsonl go")
    a("--pred_distill", action="store_true", help="stage 2: distil the prediction layer (default: stage 1)")
    a("--unlabeled_train", action="store_true",
      help="also train on DATA_DIR/unlabeled.tsv: inputs without labels in the task's test layout (SST-2: index, "
           "sentence), which the teacher labels; the gold-label term (--hard_label_weight) skips them")
    a("--do_eval", action="store_true", help="only evaluate --student_model on dev and write eval_results.txt")
    a("--do_predict", action="store_true",
      help="write GLUE-submission test predictions ({TASK}.tsv; MNLI: MNLI-m.tsv and MNLI-mm.tsv)")
    a("--temperature", type=float, default=d["temperature"],
      help="soft cross-entropy temperature (default %(default)s)")
    a("--hard_label_weight", type=float, default=d["hard_label_weight"],
      help="stage 2: loss = (1-w)*soft + w*gold-label loss (default %(default)s: teacher only)")
    a("--layer_map", default=d["layer_map"],
      help="stage 1: uniform, last, teacher layers such as 3,6 (one per student layer), or a JSON file of {kind, "
           "student, teacher, weight} entries (default: the --init_from_teacher layers, else uniform)")
    a("--projection", choices=PROJECTIONS, default=d["projection"],
      help="student-to-teacher width projection (default: the student's stored kind, else shared)")
    a("--attention_loss", choices=ATTENTION_LOSSES, default=d["attention_loss"],
      help="attention-score MSE as the original (tinybert) or over real token pairs only (default %(default)s)")
    a("--skip_teacher_check", action="store_true", help="do not score the teacher on dev before distilling")
    a("--no_logits_cache", action="store_true",
      help="stage 2: run the teacher at every step instead of caching its logits once")
    add_task_arguments(parser)
    add_training_arguments(parser, field_defaults(TaskDistillConfig, "training"))


def run(args: argparse.Namespace) -> int:
    if args.do_eval or (args.do_predict and not args.teacher_model):
        from tinybert.recipes.evaluate import run_evaluation

        run_evaluation(from_namespace(EvalConfig, args))
    else:
        from tinybert.recipes.task_distill import run_task_distill

        run_task_distill(from_namespace(TaskDistillConfig, args))
    return 0
