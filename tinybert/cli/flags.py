"""Flag groups several commands share: training (the one loop's flags) and task (which data, how encoded).

Flags keep the original TinyBERT scripts' names; their destinations are the config fields they fill, and their
defaults are read from the configs, so a command and a Python user of the same recipe get the same defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from tinybert.config.task import TaskConfig
from tinybert.config.training import OPTIMIZERS, SCHEDULES, TrainingArguments
from tinybert.data.tasks import KNOWN_TASKS


def add_training_arguments(
    parser: argparse.ArgumentParser, defaults: dict[str, Any] | None = None
) -> argparse._ArgumentGroup:
    """Add the shared training flags (original TinyBERT names) to ``parser`` in a group "training".

    ``defaults`` maps field names to recipe defaults (e.g. ``{"learning_rate": 1e-4, "optimizer": "lamb"}``).
    ``--output_dir`` is left to the command. A command that knows other names (UER's ``--total_steps``) may add them
    itself with ``dest="max_steps"``. The parsed flags fill a config with :func:`tinybert.config.from_namespace`.
    """
    d = {f.name: f.default for f in dataclasses.fields(TrainingArguments) if f.name != "output_dir"}
    defaults = {k: v for k, v in (defaults or {}).items() if k != "output_dir"}  # e.g. field_defaults(...)
    unknown = set(defaults) - set(d)
    if unknown:
        raise ValueError(f"unknown training defaults: {sorted(unknown)}")
    d.update(defaults)
    g = parser.add_argument_group("training")
    a = g.add_argument
    a("--train_batch_size", type=int, default=d["train_batch_size"],
      help="global batch per optimizer step, over all processes and accumulation steps (default %(default)s)")
    a("--gradient_accumulation_steps", type=int, default=d["gradient_accumulation_steps"],
      help="micro-batches accumulated per optimizer step (default %(default)s)")
    a("--learning_rate", type=float, default=d["learning_rate"], help="peak learning rate (default %(default)s)")
    a("--weight_decay", type=float, default=d["weight_decay"],
      help="decoupled weight decay, never applied to biases and LayerNorm weights (default %(default)s)")
    a("--num_train_epochs", type=float, default=d["num_train_epochs"], help="epochs (default %(default)s)")
    a("--max_steps", type=int, default=d["max_steps"],
      help="total optimizer steps; > 0 overrides --num_train_epochs (default %(default)s)")
    a("--warmup_proportion", type=float, default=d["warmup_proportion"],
      help="fraction of the steps spent in linear warmup (default %(default)s)")
    a("--warmup_steps", type=int, default=d["warmup_steps"],
      help="warmup steps; > 0 overrides --warmup_proportion (default %(default)s)")
    a("--schedule", choices=SCHEDULES, default=d["schedule"],
      help="after warmup: linear decay to 0, polynomial decay to 0 (BERT/NEZHA TF), or constant (default %(default)s)")
    a("--poly_power", type=float, default=d["poly_power"], help="power of the poly schedule (default %(default)s)")
    a("--optimizer", choices=OPTIMIZERS, default=d["optimizer"],
      help="adamw (torch), lamb, or bertadam (the original BertAdam: no bias correction) (default %(default)s)")
    a("--adam_beta1", type=float, default=d["adam_beta1"], help="(default %(default)s)")
    a("--adam_beta2", type=float, default=d["adam_beta2"], help="(default %(default)s)")
    a("--adam_epsilon", type=float, default=d["adam_epsilon"], help="(default %(default)s)")
    a("--max_grad_norm", type=float, default=d["max_grad_norm"],
      help="clip the global gradient norm to this; 0 disables (default %(default)s)")
    a("--fp16", action="store_true", default=d["fp16"], help="float16 autocast with a dynamic loss scaler (CUDA only)")
    a("--bf16", action="store_true", default=d["bf16"], help="bfloat16 autocast (CPU or CUDA)")
    a("--no_cuda", action="store_true", default=d["no_cuda"], help="run on CPU even when a GPU is present")
    a("--seed", type=int, default=d["seed"], help="random seed (default %(default)s)")
    a("--save_steps", type=int, default=d["save_steps"],
      help="write a resumable checkpoint every N optimizer steps (and at the end); 0: only at the end "
           "(default %(default)s)")
    a("--eval_step", "--eval_steps", dest="eval_steps", type=int, default=d["eval_steps"],
      help="evaluate every N optimizer steps (and at the end); 0: only at the end (default %(default)s)")
    a("--logging_steps", type=int, default=d["logging_steps"],
      help="log averaged scalars every N optimizer steps (default %(default)s)")
    a("--resume", action="store_true", default=d["resume"],
      help="require a checkpoint in the output dir (resuming from one is automatic anyway); with a larger "
           "--max_steps/--num_train_epochs, extend a finished run (the schedule is recomputed for the new total)")
    a("--overwrite_output_dir", action="store_true", default=d["overwrite_output_dir"],
      help="discard a finished or unfinished run in the output dir and start fresh")
    a("--num_workers", type=int, default=d["num_workers"],
      help="DataLoader worker processes; 0 keeps resume bit-exact for random collate functions (default %(default)s)")
    a("--ddp_timeout", type=int, default=d["ddp_timeout"],
      help="seconds a process may wait for the others (default %(default)s)")
    return g


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """The task flags shared by ``finetune`` and ``task-distill`` (original TinyBERT names and defaults)."""
    d = {f.name: f.default for f in dataclasses.fields(TaskConfig)}
    g = parser.add_argument_group("task")
    a = g.add_argument
    a("--task_name", required=True, help=f"one of: {', '.join(KNOWN_TASKS)}")
    a("--data_dir", required=True, help="folder holding the task's train.tsv / dev.tsv (GLUE/CLUE layout)")
    a("--max_seq_length", type=int, default=d["max_seq_length"],
      help="longer inputs are truncated (default %(default)s)")
    a("--do_lower_case", action="store_true",
      help="lower-case the input (default: the model folder's tokenizer setting, or guessed from its vocabulary)")
    a("--aug_train", action="store_true", help="train on train_aug.tsv (data augmentation output)")
    a("--eval_batch_size", type=int, default=d["eval_batch_size"], help="evaluation batch size (default %(default)s)")
    a("--text_columns", default=None, help="generic task: one or two text columns (0-based indices or names)")
    a("--label_column", default=None, help="generic task: the label column")
    a("--labels", default=None, help="generic task: comma-separated label list (default: the train file's labels)")
    a("--output_mode", choices=("classification", "regression"), default="classification",
      help="generic task: classification or regression (default %(default)s)")
