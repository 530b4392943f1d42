"""Config of the data augmentation job (TinyBERT's ``data_augmentation.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from tinybert.config.base import check_choice, check_positive, check_range
from tinybert.errors import UserError


def parse_columns(raw: str, field: str = "text_columns") -> list[int | str]:
    """``"0"``, ``"3,4"`` or ``"sentence1,sentence2"`` -> 0-based indices and header names, in order."""
    cols: list[int | str] = []
    for c in (x.strip() for x in raw.split(",")):
        if not c:
            continue
        if c.lstrip("-").isdigit():
            if int(c) < 0:
                raise UserError.of_field(field, f"takes 0-based column indices or header names, got {c}")
            cols.append(int(c))
        else:
            cols.append(c)
    if not cols:
        raise UserError.of_field(field, "is empty; give e.g. 0 or 3,4")
    return cols


@dataclass(kw_only=True)
class AugmentConfig:
    """Augment ``train.tsv`` of a task folder (``data_dir``, or ``glue_dir/task_name``) into ``output`` (default:
    ``train_aug.tsv`` beside it): ``N`` variants per sentence (None: the original's per-task value, else 30), ``M``
    candidates per word, each eligible word replaced with probability ``p``."""

    pretrained_bert_model: str
    glove_embs: str | None = None  # needed for words of several word pieces (English)
    glue_dir: str | None = None
    task_name: str | None = None  # decides the text columns, the header and the language
    data_dir: str | None = None
    text_columns: str | None = None  # comma-separated 0-based columns or header names; overrides the task's
    header: bool = False  # with text_columns and no task_name: the first row is a header
    output: str | None = None
    N: int | None = None
    M: int = 15
    p: float = 0.4
    seed: int = 42
    batch_size: int = 64  # masked-LM sequences per forward
    max_seq_length: int = 512  # longest masked-LM input (longer ones are windowed)
    no_cuda: bool = False
    bf16: bool = False  # the masked-LM encoder under bfloat16 autocast: faster, a few near-tie candidates change
    num_workers: int = 1
    language: str | None = None  # en | zh (default: the task's language, else en)
    glove_limit: int | None = 100000  # read only the first rows of the word vectors
    do_lower_case: bool | None = None  # None: the tokenizer folder's setting or a guess from the vocabulary

    def __post_init__(self) -> None:
        if not self.data_dir and not (self.glue_dir and self.task_name):
            raise UserError.of_field("data_dir", "is needed, or glue_dir and task_name (the GLUE layout)")
        if not self.task_name and not self.text_columns:
            raise UserError.of_field("task_name", "or text_columns must say which columns hold text")
        if self.text_columns:
            parse_columns(self.text_columns)
        if self.N is not None:
            check_positive("N", self.N, allow_zero=True)
        check_positive("M", self.M)
        check_range("p", self.p, 0.0, 1.0)
        if self.language is not None:
            check_choice("language", self.language, ("en", "zh"))
        if self.max_seq_length < 5:
            raise UserError.of_field("max_seq_length", f"must be at least 5, got {self.max_seq_length}")
        check_positive("batch_size", self.batch_size)
        check_positive("num_workers", self.num_workers)
        if self.glove_limit is not None:
            check_positive("glove_limit", self.glove_limit)

    @property
    def task_dir(self) -> str:
        """The folder holding train.tsv."""
        return self.data_dir or os.path.join(self.glue_dir or "", self.task_name or "")

    @property
    def output_path(self) -> str:
        """``output``, else ``train_aug.tsv`` beside train.tsv (what the original writes; never train.tsv itself)."""
        return self.output or os.path.join(self.task_dir, "train_aug.tsv")
