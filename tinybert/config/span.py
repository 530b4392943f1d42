"""Configs of the token-level and span jobs: sequence labelling (``tinybert ner``) and extractive reading
comprehension (``tinybert mrc``). Both fine-tune (``do_train``), evaluate (``do_eval``) and predict (``do_predict``)
with the same files and model fields; each adds its own."""

from __future__ import annotations

from dataclasses import dataclass, field

from tinybert.config.base import check_choice, check_positive
from tinybert.config.training import TrainingArguments
from tinybert.errors import UserError


def _span_training_defaults() -> TrainingArguments:
    return TrainingArguments(learning_rate=3e-5, train_batch_size=32, num_train_epochs=3.0, eval_steps=500)


@dataclass
class SpanTaskConfig:
    """``model``: a BERT-family or NEZHA folder (with ``from_scratch``, a config; the tokenizer from ``vocab``).
    Files: ``train_file`` / ``dev_file`` / ``predict_file``, each defaulting to ``data_dir/train|dev|test.<ext>``.
    ``do_train`` fine-tunes into ``output_dir`` (dev evaluated every ``eval_steps``, the best model kept); ``do_eval``
    and ``do_predict`` then use the kept model (without ``do_train``: ``model``) and write into ``output_dir``.
    ``doc_stride`` is the step between the windows of a sequence longer than ``max_seq_length`` (None: half a
    window)."""

    model: str
    output_dir: str
    data_dir: str | None = None
    train_file: str | None = None
    dev_file: str | None = None
    predict_file: str | None = None
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    max_seq_length: int = 128
    doc_stride: int | None = None
    do_lower_case: bool | None = None
    eval_batch_size: int = 32
    from_scratch: bool = False
    vocab: str | None = None
    training: TrainingArguments = field(default_factory=_span_training_defaults)

    def __post_init__(self) -> None:
        if self.do_lower_case is False:  # a flag left off means "the tokenizer's setting"
            self.do_lower_case = None
        if not (self.do_train or self.do_eval or self.do_predict):
            raise UserError("nothing to do: pass do_train, do_eval and/or do_predict", field="do_train")
        check_positive("max_seq_length", self.max_seq_length)
        check_positive("eval_batch_size", self.eval_batch_size)
        if self.doc_stride is not None:
            check_positive("doc_stride", self.doc_stride)
        if self.from_scratch and not self.vocab:
            raise UserError.of_field("from_scratch", "needs vocab (a model folder or vocab.txt) for the tokenizer")
        if self.from_scratch and not self.do_train:
            raise UserError.of_field("from_scratch", "only makes sense with do_train")

    def input_paths(self) -> dict[str, str | None]:
        """Every path the job reads ({field: path}), for the output-location check."""
        return {"model": self.model, "vocab": self.vocab, "data_dir": self.data_dir, "train_file": self.train_file,
                "dev_file": self.dev_file, "predict_file": self.predict_file}


@dataclass
class NerConfig(SpanTaskConfig):
    """Sequence labelling. ``ner_format``: ``auto`` or one of char, conll, cluener, jsonl
    (:mod:`tinybert.data.ner`); ``labels``: a label file (default: the training set's labels, or the model's
    ``id2label`` without ``do_train``); ``strict``: seqeval's strict mode (None: strict for BIOES/BMES labels)."""

    ner_format: str = "auto"
    labels: str | None = None
    strict: bool | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("ner_format", self.ner_format, ("auto", "char", "conll", "cluener", "jsonl"))

    def input_paths(self) -> dict[str, str | None]:
        return {**super().input_paths(), "labels": self.labels}


@dataclass
class MrcConfig(SpanTaskConfig):
    """Extractive reading comprehension (SQuAD v1.1 / CMRC2018 JSON). Windows: ``max_seq_length`` 384 and
    ``doc_stride`` 128 as the original BERT; answers of at most ``max_answer_length`` pieces from the
    ``n_best_size`` best starts and ends; ``version_2_with_negative``: the empty answer may win (SQuAD v2);
    ``language``: the metric (zh: CMRC2018, en: SQuAD v1.1, auto: from the contexts)."""

    max_seq_length: int = 384
    doc_stride: int | None = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0
    language: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("max_query_length", "n_best_size", "max_answer_length"):
            check_positive(name, getattr(self, name))
        check_choice("language", self.language, ("auto", "zh", "en"))


@dataclass(kw_only=True)
class SpanDistillOptions:
    """Task distillation of an NER or reading-comprehension student (``model``: a general student for stage 1,
    the stage-1 output for stage 2) from a fine-tuned ``teacher_model``: stage 1 (TinyBERT's intermediate layers,
    unchanged) by default, stage 2 (``pred_distill``: the per-token / start-end soft cross-entropy at
    ``temperature``, ``(1 - w) * soft + w * gold`` with ``hard_label_weight`` w) otherwise. ``do_eval`` alone
    evaluates ``model`` without distilling (as ``task_distill.py --do_eval``)."""

    teacher_model: str | None = None
    pred_distill: bool = False
    temperature: float = 1.0
    hard_label_weight: float = 0.0
    layer_map: str = "uniform"
    projection: str | None = None
    attention_loss: str = "tinybert"
    no_logits_cache: bool = False

    def check_distill(self) -> None:
        from tinybert.config.base import check_range
        from tinybert.config.distill import ATTENTION_LOSSES, PROJECTIONS

        check_positive("temperature", self.temperature)
        check_range("hard_label_weight", self.hard_label_weight, 0.0, 1.0)
        check_choice("attention_loss", self.attention_loss, ATTENTION_LOSSES)
        if self.projection is not None:
            check_choice("projection", self.projection, PROJECTIONS)
        if not self.layer_map:
            raise UserError.of_field("layer_map", "must be 'uniform', 'last' or the path of a JSON file")
        if getattr(self, "do_train", True) and not self.teacher_model:
            raise UserError.of_field("teacher_model", "is required for distillation (evaluation alone: do_eval)")


def _distill_training() -> TrainingArguments:
    from tinybert.config.distill import task_distill_training

    return task_distill_training()


@dataclass
class NerDistillConfig(NerConfig, SpanDistillOptions):
    __doc__ = SpanDistillOptions.__doc__
    do_train: bool = True
    training: TrainingArguments = field(default_factory=_distill_training)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_distill()


@dataclass
class MrcDistillConfig(MrcConfig, SpanDistillOptions):
    __doc__ = SpanDistillOptions.__doc__
    do_train: bool = True
    training: TrainingArguments = field(default_factory=_distill_training)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_distill()
