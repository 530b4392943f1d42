"""``tinybert task-distill`` / ``task_distill.py``: the original TinyBERT task-distillation flags, same defaults.

Stage 1 (intermediate layers) by default, stage 2 (prediction layer) with ``--pred_distill``, evaluation only with
``--do_eval``; see :mod:`tinybert.distill.task`.
"""

from __future__ import annotations

import argparse

# the original task_distill.py defaults (README: 10 epochs for stage 1, 3 for stage 2)
TRAINING_DEFAULTS = {"learning_rate": 5e-5, "train_batch_size": 32, "num_train_epochs": 3.0, "weight_decay": 1e-4,
                     "warmup_proportion": 0.1, "eval_steps": 50}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tinybert.cli.flags import add_task_arguments, add_training_arguments

    a = parser.add_argument
    a("--teacher_model", default=None, help="fine-tuned teacher folder (a BERT/NEZHA classifier for the task)")
    a("--student_model", required=True,
      help="general student folder (stage 1), the stage-1 output (stage 2), or the model to evaluate (--do_eval)")
    a("--output_dir", required=True, help="where the student, eval_results.txt and metrics.jsonl go")
    a("--pred_distill", action="store_true", help="stage 2: distil the prediction layer (default: stage 1)")
    a("--do_eval", action="store_true", help="only evaluate --student_model on dev and write eval_results.txt")
    a("--do_predict", action="store_true",
      help="write GLUE-submission test predictions ({TASK}.tsv; MNLI: MNLI-m.tsv and MNLI-mm.tsv)")
    a("--temperature", type=float, default=1.0, help="soft cross-entropy temperature (default %(default)s)")
    a("--hard_label_weight", type=float, default=0.0,
      help="stage 2: loss = (1-w)*soft + w*gold-label loss (default %(default)s: teacher only)")
    a("--layer_map", default="uniform",
      help="stage 1: uniform, last, or a JSON file of {kind, student, teacher, weight} entries (default %(default)s)")
    a("--projection", choices=("shared", "per_layer"), default=None,
      help="student-to-teacher width projection (default: the student's stored kind, else shared)")
    a("--attention_loss", choices=("tinybert", "masked"), default="tinybert",
      help="attention-score MSE as the original (tinybert) or over real token pairs only (default %(default)s)")
    a("--skip_teacher_check", action="store_true", help="do not score the teacher on dev before distilling")
    a("--no_logits_cache", action="store_true",
      help="stage 2: run the teacher at every step instead of caching its logits once")
    add_task_arguments(parser)
    add_training_arguments(parser, TRAINING_DEFAULTS)


def run(args: argparse.Namespace) -> int:
    from tinybert.distill.task import run_task_distill

    run_task_distill(args)
    return 0
