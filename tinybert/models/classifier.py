"""The one loader of task models: a classifier folder (a fine-tuned teacher, a model to evaluate or report on), and
the student of task distillation (a general student whose classifier is initialised, or a stage-1 student whose
classifier is kept).

Both go through :mod:`tinybert.models.checkpoint` (the one door for weights). With a task spec the folder's labels
are checked against the task's (count, names, order) and the config's ``id2label``/``label2id`` set to the task's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tinybert.errors import UserError, require_dir

if TYPE_CHECKING:
    from torch import nn

    from tinybert.data.tasks import TaskSpec
    from tinybert.models.student import TinyBertStudent

HEAD = "sequence_classification"


def has_weights(path: str | os.PathLike) -> bool:
    """Whether a model folder holds weight files (a config-only folder does not)."""
    from tinybert.models.checkpoint import find_weight_files

    return bool(find_weight_files(os.fspath(path), required=False))


def has_classifier(path: str | os.PathLike) -> bool:
    """Whether a model folder stores a classification head (``classifier.*``)."""
    from tinybert.models.checkpoint import load_extra_tensors

    return bool(load_extra_tensors(os.fspath(path), ("classifier.",)))


def set_task_labels(config, spec: TaskSpec) -> None:
    """Give a model config the task's ``id2label`` / ``label2id``."""
    from tinybert.data.tasks import label_maps

    config.id2label, config.label2id = label_maps(spec)


def load_classifier(path: str | os.PathLike, spec: TaskSpec | None = None, who: str = "model", *,
                    require_head: bool = True) -> nn.Module:
    """A classifier folder as a transformers ``*ForSequenceClassification`` model (eval mode, on the CPU).

    ``spec`` given: its labels must agree with the task's (else a :class:`UserError` naming ``who``), and the config
    takes the task's label names. ``spec`` None: no label check. ``require_head`` (default): a folder with weights but
    no ``classifier.*`` is refused as "not fine-tuned"; without it the head is freshly initialised (with a warning).
    """
    from tinybert.data.tasks import check_label_map
    from tinybert.models.checkpoint import load_model

    p = require_dir(path, f"{who} folder")
    if require_head and has_weights(p) and not has_classifier(p):
        raise UserError.at(p, f"{who} has no classifier (classifier.*): it is not fine-tuned on a task; "
                              f"fine-tune it first with `tinybert finetune --model {p} ...`")
    model = load_model(p, head=HEAD, require_head=require_head)
    if spec is not None:
        check_label_map(model.config, spec, who)
        set_task_labels(model.config, spec)
    return model


def load_task_student(path: str | os.PathLike, spec: TaskSpec, fit_size: int,
                      projection: str | None = None) -> TinyBertStudent:
    """The student of task distillation, projecting to width ``fit_size``: a general student (weights, no
    classifier: one is initialised for the task's labels, drawing from torch's generator) or a stage-1 student (its
    classifier kept, after checking its labels)."""
    from tinybert.data.tasks import check_label_map, label_maps
    from tinybert.models.student import load_student

    p = os.fspath(path)
    if os.path.isfile(p) or (os.path.isdir(p) and not has_weights(p)):
        raise UserError.at(p, "student has no weights (a config alone): task distillation starts from a trained "
                              "general student; run general_distill.py with this config first and pass its "
                              "--output_dir as --student_model")
    require_dir(p, "student folder")
    if has_classifier(p):
        student = load_student(p, fit_size, head=HEAD, projection=projection)
        check_label_map(student.config, spec, "student")
        set_task_labels(student.config, spec)
    else:
        id2label, _ = label_maps(spec)
        student = load_student(p, fit_size, head=HEAD, projection=projection, num_labels=spec.num_labels,
                               id2label=id2label)
    return student


def student_from_teacher(teacher: nn.Module, layers: tuple[int, ...], projection: str = "shared",
                         source: str = "the teacher") -> TinyBertStudent:
    """A task student made of the fine-tuned ``teacher``'s embeddings, its ``layers`` (1-based) and its pooler and
    classifier, with identity projections (the student has the teacher's width)."""
    from tinybert.models.layer_subset import identity_, keep_layers
    from tinybert.models.student import TinyBertStudent

    student = TinyBertStudent(keep_layers(teacher, layers, source), teacher.config.hidden_size, projection)
    for linear in student.projection_modules():
        identity_(linear)
    return student


__all__ = ["HEAD", "has_classifier", "has_weights", "load_classifier", "load_task_student", "set_task_labels",
           "student_from_teacher"]
