"""The training loop's config, shared by every recipe that trains."""

from __future__ import annotations

from dataclasses import dataclass

from tinybert.config.base import check_positive, check_range
from tinybert.errors import UserError

OPTIMIZERS = ("adamw", "lamb", "bertadam")
SCHEDULES = ("linear", "poly", "constant")


@dataclass
class TrainingArguments:
    """Everything the one training loop needs besides the model, the data and the loss.

    ``train_batch_size`` is the GLOBAL batch of one optimizer step (as the original ``--train_batch_size``): each
    process runs micro-batches of ``train_batch_size // (world_size * gradient_accumulation_steps)`` samples.
    ``output_dir`` is set by the recipe from its own config's ``output_dir``.
    """

    output_dir: str = ""
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
    eval_steps: int = 0  # with an evaluator: evaluate every N optimizer steps and at the end; 0: only at the end
    logging_steps: int = 50
    overwrite_output_dir: bool = False
    resume: bool = False  # require a checkpoint to resume from (resuming is automatic whenever one exists)
    num_workers: int = 0
    ddp_timeout: int = 1800  # seconds a collective may wait (rank 0 evaluates while the others wait)
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserError.of_field("optimizer", f"{self.optimizer!r} is unknown (unknown optimizer); one of: "
                                                  f"{', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise UserError.of_field("schedule", f"{self.schedule!r} is unknown; one of: {', '.join(SCHEDULES)}")
        for name in ("train_batch_size", "gradient_accumulation_steps", "logging_steps"):
            value = getattr(self, name)
            if value < 1:
                raise UserError.of_field(name, f"must be >= 1, got {value}")
        if self.fp16 and self.bf16:
            raise UserError("fp16 and bf16 exclude each other; pass one", field="fp16")
        check_positive("learning_rate", self.learning_rate, allow_zero=True)  # 0: frozen weights (a check run)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("adam_epsilon", self.adam_epsilon)
        check_range("adam_beta1", self.adam_beta1, 0.0, 1.0, hi_open=True)
        check_range("adam_beta2", self.adam_beta2, 0.0, 1.0, hi_open=True)
        check_range("warmup_proportion", self.warmup_proportion, 0.0, 1.0, hi_open=True)
        for name in ("max_steps", "warmup_steps", "save_steps", "eval_steps", "num_workers"):
            check_positive(name, getattr(self, name), allow_zero=True)
        check_positive("num_train_epochs", self.num_train_epochs, allow_zero=True)
        check_positive("ddp_timeout", self.ddp_timeout)
        check_positive("poly_power", self.poly_power)
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise UserError("nothing to train: pass max_steps > 0 or num_train_epochs > 0", field="max_steps")
        if self.max_grad_norm < 0:
            raise UserError.of_field("max_grad_norm", f"must be >= 0 (0 disables clipping), got {self.max_grad_norm}")
