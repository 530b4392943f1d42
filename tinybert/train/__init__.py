"""The one training loop (DDP, AMP, accumulation, checkpoint/resume, logging), optimizers and schedules.

Recipes use::

    from tinybert.train import Trainer, TrainingArguments, check_output_dir, set_seed
"""

from tinybert.config.training import TrainingArguments
from tinybert.train.checkpointing import check_output_dir, start_run
from tinybert.train.loop import Evaluator, GlobalBatchSampler, Trainer, TrainResult, set_seed
from tinybert.train.optim import BertAdam, Lamb, build_optimizer, build_scheduler

__all__ = [
    "BertAdam",
    "Evaluator",
    "GlobalBatchSampler",
    "Lamb",
    "TrainResult",
    "Trainer",
    "TrainingArguments",
    "build_optimizer",
    "build_scheduler",
    "check_output_dir",
    "set_seed",
    "start_run",
]
