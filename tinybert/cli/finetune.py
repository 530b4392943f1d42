"""``tinybert finetune``: fine-tune a BERT-family or NEZHA model on a task (the teacher for task distillation)."""

from __future__ import annotations

import argparse

from tinybert.cli.flags import add_task_arguments, add_training_arguments
from tinybert.config.base import field_defaults, from_namespace
from tinybert.config.finetune import FinetuneConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--model", "--bert_model", dest="model", required=True,
        help="model folder: Hugging Face BERT-family/NEZHA, original TinyBERT, or NEZHA-PyTorch")
    add("--output_dir", required=True, help="where the best model, eval_results.txt and metrics.jsonl go")
    add("--from_scratch", action="store_true",
        help="--model is a config (e.g. student_configs/small_2l_128d): start from random weights (a label-only "
             "baseline of a student's size); the tokenizer comes from --vocab")
    add("--vocab", help="with --from_scratch: a model folder or vocab.txt giving the tokenizer")
    add("--keep_layers", metavar="LAYERS", default=None,
        help="keep only these encoder layers of --model (1-based, e.g. 2,4): a shallower model of the same width, "
             "the label-only match of task_distill.py --init_from_teacher")
    add_task_arguments(parser)
    add_training_arguments(parser, field_defaults(FinetuneConfig, "training"))


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.finetune import run_finetune

    run_finetune(from_namespace(FinetuneConfig, args))
    return 0
