"""Which task a job reads, from where and how it is encoded: shared by finetuning, task distillation and evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinybert.config.base import check_choice, check_positive

if TYPE_CHECKING:
    from tinybert.data.tasks import TaskSpec


@dataclass
class TaskConfig:
    """A task (GLUE/CLUE by name, or ``generic`` over any TSV/CSV/JSONL given its columns) in ``data_dir``.

    ``do_lower_case`` None means the tokenizer folder's own setting (or a guess from its vocabulary).
    """

    task_name: str
    data_dir: str
    max_seq_length: int = 128
    do_lower_case: bool | None = None
    aug_train: bool = False  # train on train_aug.tsv (the augmentation's output)
    eval_batch_size: int = 32
    text_columns: str | None = None  # generic task: one or two columns (0-based indices or names), comma-separated
    label_column: str | None = None
    labels: str | None = None  # generic task: comma-separated label list (default: the train file's labels)
    output_mode: str = "classification"

    def __post_init__(self) -> None:
        if self.do_lower_case is False:  # a flag left off means "the tokenizer's setting"
            self.do_lower_case = None
        check_positive("max_seq_length", self.max_seq_length)
        check_positive("eval_batch_size", self.eval_batch_size)
        check_choice("output_mode", self.output_mode, ("classification", "regression"))

    @property
    def train_split(self) -> str:
        return "train_aug" if self.aug_train else "train"

    def spec(self) -> TaskSpec:
        """The resolved :class:`~tinybert.data.tasks.TaskSpec` (a generic task's labels read from its train file)."""
        from tinybert.data.tasks import get_task, resolve_task

        spec = get_task(self.task_name, text_columns=self.text_columns, label_column=self.label_column,
                        labels=self.labels, output_mode=self.output_mode)
        return resolve_task(spec, self.data_dir)
