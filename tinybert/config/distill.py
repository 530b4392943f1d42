"""The distillation jobs' configs: general distillation, task distillation (stage 1, or stage 2 with
``pred_distill``), and evaluation of a task model (``task_distill.py --do_eval / --do_predict``).

Fields are the original scripts' flag names; the training defaults are the original recipes' (read by the CLI from
here, so a command and a Python user get the same run). All fields are keyword-only::

    GeneralDistillConfig(pregenerated_data="pregen", teacher_model="bert", student_model="student_configs/...",
                         output_dir="gd")
    TaskDistillConfig(teacher_model="ft", student_model="gd", output_dir="td1",
                      task=TaskConfig("sst-2", "glue/SST-2", aug_train=True))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinybert.config.base import check_choice, check_positive, check_range, parse_layer_list
from tinybert.config.task import TaskConfig
from tinybert.config.training import TrainingArguments
from tinybert.distill.spec import DistillSpec
from tinybert.errors import UserError

PROJECTIONS = ("shared", "per_layer")
ATTENTION_LOSSES = ("tinybert", "masked")


# The original's optimizer: BertAdam (Adam without bias correction) with weight decay 0.01. Without bias correction
# its step is (1 - b1^t) / sqrt(1 - b2^t) times AdamW's at the same learning rate (6.5x at step 10, 2.7x at 150,
# 1.3x at 1,000), so the original's --learning_rate only means what it meant there under this update: with AdamW,
# the original's flags learned several times slower (docs/fidelity.md, 15.3). Long runs and tuned rates may prefer
# --optimizer adamw.
ORIGINAL_OPTIMIZER = {"optimizer": "bertadam", "weight_decay": 0.01}


def general_distill_training() -> TrainingArguments:
    """The original general_distill.py defaults."""
    return TrainingArguments(learning_rate=5e-5, num_train_epochs=3.0, eval_steps=1000, save_steps=1000,
                             train_batch_size=32, **ORIGINAL_OPTIMIZER)


def task_distill_training() -> TrainingArguments:
    """The original task_distill.py defaults (its README: 10 epochs for stage 1, 3 for stage 2)."""
    return TrainingArguments(learning_rate=5e-5, train_batch_size=32, num_train_epochs=3.0, warmup_proportion=0.1,
                             eval_steps=50, **ORIGINAL_OPTIMIZER)


def _check_layer_options(layer_map: str | None, projection: str | None, attention_loss: str) -> None:
    if layer_map is not None and not layer_map:
        raise UserError.of_field("layer_map", "must be 'uniform', 'last', teacher layers such as 3,6, or the path "
                                              "of a JSON file")
    if projection is not None:
        check_choice("projection", projection, PROJECTIONS)
    check_choice("attention_loss", attention_loss, ATTENTION_LOSSES)


@dataclass(kw_only=True)
class GeneralDistillConfig:
    """A student (a config folder, or with ``continue_train`` a student with weights) learns a pretrained
    teacher's attention scores and hidden states on pregenerated shards; written to ``output_dir``."""

    pregenerated_data: str
    teacher_model: str
    student_model: str
    output_dir: str
    max_seq_length: int = 128
    reduce_memory: bool = False  # memory-map the binary shards instead of reading them into RAM
    do_lower_case: bool = False  # accepted for compatibility: casing was decided when the data was pregenerated
    continue_train: bool = False  # start from the weights in student_model
    layer_map: str = "uniform"  # uniform | last | a JSON file of {kind, student, teacher, weight}
    projection: str = "shared"  # shared (the original fit_dense) | per_layer (fit_denses.0..L)
    attention_loss: str = "tinybert"  # tinybert (the original) | masked (real query/key pairs only)
    # Python only: the loss terms etc. instead of the preset (an empty layer map is filled from layer_map)
    distill_spec: DistillSpec | None = None
    training: TrainingArguments = field(default_factory=general_distill_training)

    def __post_init__(self) -> None:
        check_positive("max_seq_length", self.max_seq_length)
        _check_layer_options(self.layer_map, self.projection, self.attention_loss)
        spec = self.distill_spec
        if spec is not None and (spec.evaluator != "none" or spec.publish != "latest"):
            raise UserError.of_field("distill_spec", "of general distillation must have evaluator 'none' and publish "
                                                     "'latest' (there is no dev set)")

    def input_paths(self) -> dict[str, str | None]:
        """Every path the job reads ({field: path}), for the output-location check."""
        return {"pregenerated_data": self.pregenerated_data, "teacher_model": self.teacher_model,
                "student_model": self.student_model}


@dataclass(kw_only=True)
class TaskDistillConfig:
    """Task distillation of ``student_model`` (a general student for stage 1, the stage-1 output for stage 2) from a
    fine-tuned ``teacher_model`` on ``task``: stage 1 (intermediate layers) by default, stage 2 (prediction layer)
    with ``pred_distill``; ``do_predict`` then writes test predictions of the published student."""

    teacher_model: str | None = None  # required; None only so that a missing one is a clear error
    student_model: str | None = None  # required unless init_from_teacher
    output_dir: str
    task: TaskConfig
    # the student is the teacher's embeddings, these layers (1-based, e.g. "2,4" or (2, 4)) and its heads, with
    # identity projections: a student of the teacher's width (models/layer_subset.py), instead of student_model
    init_from_teacher: str | tuple[int, ...] | None = None
    pred_distill: bool = False  # stage 2
    # also train on data_dir/unlabeled.tsv (the task's test layout, no labels): inputs the teacher labels; the
    # gold-label term skips them
    unlabeled_train: bool = False
    do_predict: bool = False
    temperature: float = 1.0  # stage 2: soft cross-entropy temperature
    hard_label_weight: float = 0.0  # stage 2: loss = (1 - w) * soft + w * gold-label loss
    layer_map: str | None = None  # stage 1; None: the init_from_teacher layers, else uniform
    projection: str | None = None  # None: the student's stored kind, else shared
    attention_loss: str = "tinybert"
    skip_teacher_check: bool = False  # do not score the teacher on dev first
    no_logits_cache: bool = False  # stage 2: run the teacher at every step instead of caching its logits once
    # Python only: the loss terms etc. instead of the stage's preset (an empty layer map is filled from layer_map)
    distill_spec: DistillSpec | None = None
    training: TrainingArguments = field(default_factory=task_distill_training)

    def __post_init__(self) -> None:
        if not self.teacher_model:
            raise UserError.of_field("teacher_model", "is required for task distillation (evaluation alone: "
                                                      "do_eval)")
        if isinstance(self.init_from_teacher, str):
            self.init_from_teacher = parse_layer_list(self.init_from_teacher, "init_from_teacher")
        if (self.student_model is None) == (self.init_from_teacher is None):
            raise UserError.of_field("student_model", "or init_from_teacher: give exactly one (a student folder, or "
                                                      "the teacher layers the student starts from)",
                                     also=("init_from_teacher",))
        check_positive("temperature", self.temperature)
        check_range("hard_label_weight", self.hard_label_weight, 0.0, 1.0)
        _check_layer_options(self.layer_map, self.projection, self.attention_loss)

    @property
    def stage(self) -> int:
        return 2 if self.pred_distill else 1

    @property
    def resolved_layer_map(self) -> str:
        """``layer_map``, or its default: the student's own teacher layers with init_from_teacher, else uniform."""
        if self.layer_map is not None:
            return self.layer_map
        return ",".join(map(str, self.init_from_teacher)) if self.init_from_teacher else "uniform"

    @property
    def train_splits(self) -> tuple[str, ...]:
        """The splits the student trains on: the task's train split, and ``unlabeled`` with unlabeled_train."""
        return (self.task.train_split, "unlabeled") if self.unlabeled_train else (self.task.train_split,)

    def input_paths(self) -> dict[str, str | None]:
        return {"teacher_model": self.teacher_model, "student_model": self.student_model,
                "data_dir": self.task.data_dir}


@dataclass(kw_only=True)
class EvalConfig:
    """Evaluate a task model (any classifier folder: a student, a teacher): ``do_eval`` writes its dev metrics to
    ``output_dir/eval_results.txt``, ``do_predict`` GLUE-submission test predictions (``{TASK}.tsv``)."""

    student_model: str  # the model to evaluate (the original flag's name)
    output_dir: str
    task: TaskConfig
    do_eval: bool = True
    do_predict: bool = False
    no_cuda: bool = False
    overwrite_output_dir: bool = False  # replace eval_results.txt / prediction files already there

    def __post_init__(self) -> None:
        if not self.student_model:
            raise UserError.of_field("student_model", "is required: the model to evaluate")
        if not (self.do_eval or self.do_predict):
            raise UserError.of_field("do_eval", "or do_predict must be set: nothing to do")

    def input_paths(self) -> dict[str, str | None]:
        return {"student_model": self.student_model, "data_dir": self.task.data_dir}


__all__ = ["ATTENTION_LOSSES", "PROJECTIONS", "EvalConfig", "GeneralDistillConfig", "TaskDistillConfig",
           "general_distill_training", "task_distill_training"]
