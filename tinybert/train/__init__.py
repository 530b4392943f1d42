"""The one training loop (DDP, AMP, accumulation, checkpoint/resume, logging), optimizers and schedules.

Recipes use::

    from tinybert.train import Trainer, TrainingArguments, add_training_arguments, check_output_dir, set_seed
"""

from tinybert.train.args import TrainingArguments, add_training_arguments
from tinybert.train.checkpointing import check_output_dir
from tinybert.train.loop import GlobalBatchSampler, Trainer, TrainResult, set_seed
from tinybert.train.optim import BertAdam, Lamb, build_optimizer, build_scheduler

__all__ = [
    "BertAdam",
    "GlobalBatchSampler",
    "Lamb",
    "TrainResult",
    "Trainer",
    "TrainingArguments",
    "add_training_arguments",
    "build_optimizer",
    "build_scheduler",
    "check_output_dir",
    "set_seed",
]
