"""The finetuning job's config (``tinybert finetune``): a teacher for task distillation, or with ``from_scratch``
a randomly initialised classifier of a student's size (the label-only baseline)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tinybert.config.base import parse_layer_list
from tinybert.config.task import TaskConfig
from tinybert.config.training import TrainingArguments
from tinybert.errors import UserError


def _finetuning_defaults() -> TrainingArguments:
    return TrainingArguments(learning_rate=2e-5, train_batch_size=32, num_train_epochs=3.0, eval_steps=500)


@dataclass
class FinetuneConfig:
    """Fine-tune ``model`` (any BERT-family or NEZHA folder) on ``task`` into ``output_dir``; the best dev model is
    kept. With ``from_scratch``, ``model`` is a config (file or folder) and the tokenizer comes from ``vocab`` (a model
    folder or vocab.txt)."""

    model: str
    output_dir: str
    task: TaskConfig
    from_scratch: bool = False
    vocab: str | None = None
    # keep only these encoder layers of model (1-based, "2,4" or (2, 4)): the label-only student of the start that
    # task_distill.py --init_from_teacher gives a distilled one (models/layer_subset.py)
    keep_layers: str | tuple[int, ...] | None = None
    training: TrainingArguments = field(default_factory=_finetuning_defaults)

    def __post_init__(self) -> None:
        if isinstance(self.keep_layers, str):
            self.keep_layers = parse_layer_list(self.keep_layers, "keep_layers")
        if self.keep_layers and self.from_scratch:
            raise UserError.of_field("keep_layers", "takes layers of a model with weights; it cannot go with "
                                                    "from_scratch")
        if self.from_scratch and not self.vocab:
            raise UserError.of_field("from_scratch", "needs vocab (a model folder or vocab.txt) for the tokenizer")

    def input_paths(self) -> dict[str, str | None]:
        """Every path the job reads ({field: path}), for the output-location check."""
        return {"model": self.model, "vocab": self.vocab, "data_dir": self.task.data_dir}
