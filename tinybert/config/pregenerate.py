"""Configs of the two corpus-to-shards jobs: ``pregenerate`` (TinyBERT's pregenerate_training_data.py) and
``pretrain-data`` (NEZHA/BERT pretraining data), and the :class:`InstanceConfig` both hand to the instance builder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tinybert.config.base import check_choice, check_range
from tinybert.errors import UserError

OUTPUT_FORMATS = ("binary", "json")


def default_workers() -> int:
    """Every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_seq_len(name: str, value: int, one_seq: bool) -> None:
    """An instance needs room for [CLS], [SEP] (twice for pairs) and a token per segment; positions fit uint16."""
    if value < (4 if one_seq else 5):
        raise UserError.of_field(name, f"{value} is too short; use at least 5 (e.g. 128)")
    if value > 65535:
        raise UserError.of_field(name, f"{value} is too long; at most 65535")


@dataclass(frozen=True)
class InstanceConfig:
    """How instances are built and masked (what :func:`tinybert.data.pretraining.generate_pretraining_data` takes)."""

    max_seq_len: int = 128
    short_seq_prob: float = 0.1
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    whole_word_mask: bool = False
    chinese_wwm: bool = False  # word groups from jieba (implies whole-word masking)
    one_seq: bool = False
    dynamic_masking: bool = False  # store unmasked instances; PregeneratedDataset masks per (seed, epoch, index)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse values no instance can be built with (errors name the config fields)."""
        check_seq_len("max_seq_len", self.max_seq_len, self.one_seq)
        check_range("masked_lm_prob", self.masked_lm_prob, 0.0, 1.0, hi_open=True)
        check_range("short_seq_prob", self.short_seq_prob, 0.0, 1.0)
        if self.max_predictions_per_seq < 1:
            raise UserError.of_field("max_predictions_per_seq",
                                     f"{self.max_predictions_per_seq} must be at least 1, e.g. 20")


@dataclass(kw_only=True)
class _CorpusJob:
    """What both corpus jobs share: how instances are built and written (the flags of ``add_instance_arguments``)."""

    output_dir: str
    do_lower_case: bool | None = None  # None: the model folder's setting, else guessed from the vocabulary
    do_whole_word_mask: bool = False
    chinese_wwm: bool = False
    language: str = "en"  # zh with do_whole_word_mask means chinese_wwm
    num_workers: int = field(default_factory=default_workers)  # every core; the output does not depend on it
    short_seq_prob: float = 0.1
    masked_lm_prob: float = 0.15
    max_predictions_per_seq: int = 20
    one_seq: bool = False
    output_format: str = "binary"
    overwrite_output_dir: bool = False
    no_progress: bool = False
    chunk_chars: int = 200_000  # characters per unit of work (the output does not depend on it)

    def __post_init__(self) -> None:
        check_choice("language", self.language, ("en", "zh"))
        check_choice("output_format", self.output_format, OUTPUT_FORMATS)
        if self.num_workers < 1:
            raise UserError.of_field("num_workers", f"{self.num_workers} must be at least 1")
        if self.chunk_chars < 1:
            raise UserError.of_field("chunk_chars", f"{self.chunk_chars} must be positive")

    def instance_config(self, max_seq_len: int, seq_field: str, dynamic_masking: bool = False) -> InstanceConfig:
        """The :class:`InstanceConfig` these options describe (``seq_field`` names the length field in errors)."""
        chinese = self.chinese_wwm or (self.language == "zh" and self.do_whole_word_mask)
        check_seq_len(seq_field, max_seq_len, self.one_seq)
        return InstanceConfig(max_seq_len=max_seq_len, short_seq_prob=self.short_seq_prob,
                              masked_lm_prob=self.masked_lm_prob, max_predictions_per_seq=self.max_predictions_per_seq,
                              whole_word_mask=self.do_whole_word_mask or chinese, chinese_wwm=chinese,
                              one_seq=self.one_seq, dynamic_masking=dynamic_masking)


@dataclass(kw_only=True)
class PregenerateConfig(_CorpusJob):
    """``pregenerate_training_data.py``: ``epochs_to_generate`` epochs of masked-LM/NSP instances from
    ``train_corpus`` tokenized with ``bert_model``'s vocabulary, written to ``output_dir``."""

    train_corpus: str
    bert_model: str
    masked_lm_prob: float = 0.0  # the original's default: max(1, round(0.0 * n)) = exactly one masked token
    reduce_memory: bool = False  # smaller shards (memory is bounded either way: the corpus is streamed)
    epochs_to_generate: int = 3
    max_seq_len: int = 128
    seed: int = 42

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs_to_generate < 1:
            raise UserError.of_field("epochs_to_generate", f"{self.epochs_to_generate} must be at least 1")
        self.instances  # noqa: B018 - validate the instance fields now, before any work

    @property
    def instances(self) -> InstanceConfig:
        return self.instance_config(self.max_seq_len, "max_seq_len")

    @property
    def shard_size(self) -> int:
        return 10_000 if self.reduce_memory else 100_000


@dataclass(kw_only=True)
class PretrainDataConfig(_CorpusJob):
    """``tinybert pretrain-data``: ``dupe_factor`` copies of the corpus (one epoch each) for NEZHA/BERT pretraining.

    ``input_file`` is a list of files, globs or comma-separated lists; ``dupe_factor`` None means 10, or 1 with
    ``dynamic_masking`` (unmasked instances, masked afresh by the loader every epoch)."""

    input_file: list[str]
    vocab_file: str
    max_seq_length: int = 128
    random_seed: int = 12345
    dupe_factor: int | None = None
    dynamic_masking: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.input_file, str):
            self.input_file = [self.input_file]
        if self.copies < 1:
            raise UserError.of_field("dupe_factor", f"{self.copies} must be at least 1")
        if self.dynamic_masking and self.output_format != "binary":
            raise UserError.of_field("dynamic_masking", "stores unmasked instances, which only the binary format "
                                                        "can hold; set output_format to binary")
        self.instances  # noqa: B018 - validate the instance fields now, before any work

    @property
    def copies(self) -> int:
        if self.dupe_factor is not None:
            return self.dupe_factor
        return 1 if self.dynamic_masking else 10

    @property
    def instances(self) -> InstanceConfig:
        return self.instance_config(self.max_seq_length, "max_seq_length", dynamic_masking=self.dynamic_masking)
