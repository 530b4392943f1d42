"""Training arguments shared by every recipe, and the argparse flags that fill them (original TinyBERT names)."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from tinybert.errors import UserError

OPTIMIZERS = ("adamw", "lamb", "bertadam")
SCHEDULES = ("linear", "poly", "constant")


@dataclass
class TrainingArguments:
    """Everything the one training loop needs besides the model, the data and the loss.

    ``train_batch_size`` is the GLOBAL batch of one optimizer step (as the original ``--train_batch_size``): each
    process runs micro-batches of ``train_batch_size // (world_size * gradient_accumulation_steps)`` samples.
    """

    output_dir: str
    train_batch_size: int = 32
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    num_train_epochs: float = 3.0
    max_steps: int = 0  # > 0 overrides num_train_epochs
    warmup_proportion: float = 0.1
    warmup_steps: int = 0  # > 0 overrides warmup_proportion
    schedule: str = "linear"  # linear | poly | constant
    poly_power: float = 1.0
    optimizer: str = "adamw"  # adamw | lamb | bertadam
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-6
    max_grad_norm: float = 1.0  # global-norm clipping; 0 disables
    bf16: bool = False
    fp16: bool = False
    no_cuda: bool = False
    seed: int = 42
    save_steps: int = 1000  # checkpoint every N optimizer steps (and always at the end); 0: only at the end
    eval_steps: int = 0  # with an evaluate_fn: evaluate every N optimizer steps and at the end; 0: only at the end
    logging_steps: int = 50
    overwrite_output_dir: bool = False
    resume: bool = False  # require a checkpoint to resume from (resuming is automatic whenever one exists)
    num_workers: int = 0
    ddp_timeout: int = 1800  # seconds a collective may wait (rank 0 evaluates while the others wait)
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; one of: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise UserError(f"unknown schedule {self.schedule!r}; one of: {', '.join(SCHEDULES)}")
        positive = {"train_batch_size": self.train_batch_size, "gradient_accumulation_steps":
                    self.gradient_accumulation_steps, "logging_steps": self.logging_steps}
        for name, value in positive.items():
            if value < 1:
                raise UserError(f"--{name} must be >= 1, got {value}")
        if self.fp16 and self.bf16:
            raise UserError("--fp16 and --bf16 exclude each other; pass one")
        if not 0.0 <= self.warmup_proportion < 1.0:
            raise UserError(f"--warmup_proportion must be in [0, 1), got {self.warmup_proportion}")
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise UserError("nothing to train: pass --max_steps > 0 or --num_train_epochs > 0")
        if self.max_grad_norm < 0:
            raise UserError(f"--max_grad_norm must be >= 0 (0 disables clipping), got {self.max_grad_norm}")

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace, **overrides: Any) -> TrainingArguments:
        """Build from parsed flags: every field found in ``ns`` (by name), then ``overrides`` (e.g. output_dir)."""
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in vars(ns).items() if k in names and v is not None}
        values.update(overrides)
        return cls(**values)


def add_training_arguments(
    parser: argparse.ArgumentParser, defaults: dict[str, Any] | None = None
) -> argparse._ArgumentGroup:
    """Add the shared training flags (original TinyBERT names) to ``parser`` in a group "training".

    ``defaults`` maps field names to recipe defaults (e.g. ``{"learning_rate": 1e-4, "optimizer": "lamb"}``).
    ``--output_dir`` is left to the recipe. A recipe that knows other names (UER's ``--total_steps``) may add them
    itself with ``dest="max_steps"``. Read the result with :meth:`TrainingArguments.from_namespace`.
    """
    d = {f.name: f.default for f in dataclasses.fields(TrainingArguments) if f.name != "output_dir"}
    unknown = set(defaults or {}) - set(d)
    if unknown:
        raise ValueError(f"unknown training defaults: {sorted(unknown)}")
    d.update(defaults or {})
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
      help="require a checkpoint in the output dir (resuming from one is automatic anyway)")
    a("--overwrite_output_dir", action="store_true", default=d["overwrite_output_dir"],
      help="discard a finished or unfinished run in the output dir and start fresh")
    a("--num_workers", type=int, default=d["num_workers"],
      help="DataLoader worker processes; 0 keeps resume bit-exact for random collate functions (default %(default)s)")
    a("--ddp_timeout", type=int, default=d["ddp_timeout"],
      help="seconds a process may wait for the others (default %(default)s)")
    return g
