"""The configs of the small model-folder commands: ``build-vocab`` (a WordPiece vocabulary from a corpus) and
``convert`` (any supported checkpoint folder -> a Hugging Face folder)."""

from __future__ import annotations

from dataclasses import dataclass

from tinybert.config.base import check_choice, check_positive
from tinybert.errors import UserError

HEAD_CHOICES = ("auto", "base", "pretraining", "mlm", "sequence_classification", "token_classification",
                "question_answering")


@dataclass
class BuildVocabConfig:
    """Learn ``vocab_size`` WordPiece tokens (specials included) from ``input_file`` (paths or globs) into
    ``output_dir/vocab.txt`` (with a tokenizer_config.json)."""

    input_file: list[str]
    output_dir: str
    vocab_size: int = 30000
    min_count: int = 2  # least frequency of a learnt piece
    do_lower_case: bool = True  # lower-case and strip accents
    limit_alphabet: int | None = None  # keep at most this many distinct characters (None: all)
    overwrite_output_dir: bool = False  # replace an existing vocab.txt

    def __post_init__(self) -> None:
        if isinstance(self.input_file, str):
            self.input_file = [self.input_file]
        if self.vocab_size <= 5:
            raise UserError.of_field("vocab_size", f"{self.vocab_size} must exceed the 5 special tokens")
        if self.min_count < 1:
            raise UserError.of_field("min_count", f"{self.min_count} must be at least 1")
        if self.limit_alphabet is not None:
            check_positive("limit_alphabet", self.limit_alphabet)


@dataclass
class ConvertConfig:
    """Read ``src`` (any supported checkpoint folder) and write it to ``dst`` as a Hugging Face safetensors folder."""

    src: str
    dst: str
    head: str = "auto"  # the head to write (auto: the one the stored weights carry)
    num_labels: int | None = None  # labels of a classification head
    dtype: str | None = None  # float32, float16, bfloat16 or auto (the stored dtype); None: float32
    overwrite_output_dir: bool = False  # replace an existing non-empty dst

    def __post_init__(self) -> None:
        check_choice("head", self.head, HEAD_CHOICES)
        if self.num_labels is not None:
            check_positive("num_labels", self.num_labels)
