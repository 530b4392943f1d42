"""The loss registry: loss-term name -> function, the scalar it is logged as, and what it needs of the teacher and
the student.

A term function takes the step's :class:`TermInputs` and its options (keyword arguments, from
:attr:`tinybert.distill.spec.LossTerm.options`) and returns a scalar tensor. What it declares it needs
(:data:`OUTPUTS`: ``scores`` of the mapped attention layers, ``hidden`` states of the mapped layers, ``logits``) is
all :class:`~tinybert.distill.objective.DistillObjective` computes: a teacher or student pass runs only for what
some term of the spec uses. Gold labels (``batch["labels"]``) are always at hand.

Adding a term is one function with :func:`register_loss` on it; nothing in the loop, the objective or a recipe
changes::

    @register_loss("token_soft_ce", scalar="cls_loss", teacher=("logits",), student=("logits",))
    def token_soft_ce(inputs, temperature=1.0):
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch

from tinybert.distill.layer_map import LayerMap
from tinybert.distill.losses import attention_mse, hidden_mse, regression_mse, soft_cross_entropy
from tinybert.errors import UserError
from tinybert.evaluate import task_loss
from tinybert.models.view import DistillOutputs

OUTPUTS = ("scores", "hidden", "logits")


@dataclass(frozen=True)
class TermInputs:
    """What one step gives a term: the batch, both sides' outputs (``teacher`` None when no term needs a teacher
    pass, e.g. cached logits) and the teacher's logits (a normal float tensor, from the cache or the pass)."""

    batch: Mapping[str, torch.Tensor]
    student: DistillOutputs
    teacher: DistillOutputs | None
    teacher_logits: torch.Tensor | None
    layer_map: LayerMap


@dataclass(frozen=True)
class LossDef:
    fn: Callable[..., torch.Tensor]
    scalar: str  # the name it is logged under (metrics.jsonl, TensorBoard)
    teacher: frozenset[str]  # what of OUTPUTS it needs from the teacher
    student: frozenset[str]


LOSSES: dict[str, LossDef] = {}


def register_loss(name: str, *, scalar: str, teacher: Iterable[str] = (), student: Iterable[str] = ()
                  ) -> Callable[[Callable[..., torch.Tensor]], Callable[..., torch.Tensor]]:
    """Decorator: register ``fn(inputs: TermInputs, **options) -> tensor`` as loss term ``name``."""
    needs = frozenset(teacher), frozenset(student)
    unknown = (needs[0] | needs[1]) - set(OUTPUTS)
    if unknown:
        raise ValueError(f"loss term {name!r}: unknown outputs {sorted(unknown)}; expected some of {OUTPUTS}")

    def add(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        if name in LOSSES:
            raise ValueError(f"loss term {name!r} is already registered (by {LOSSES[name].fn.__module__})")
        LOSSES[name] = LossDef(fn, scalar, *needs)
        return fn

    return add


def loss_def(name: str) -> LossDef:
    try:
        return LOSSES[name]
    except KeyError:
        raise UserError(f"unknown loss term {name!r}; registered: {', '.join(sorted(LOSSES))}") from None


# ----------------------------------------------------------------------------------------------------- TinyBERT's


@register_loss("attention", scalar="att_loss", teacher=("scores",), student=("scores",))
def attention_term(inputs: TermInputs, mode: str = "tinybert") -> torch.Tensor:
    """``0 + sum_i w_i * attention_mse(student scores, teacher scores)`` over the map's attention entries."""
    mask = inputs.batch.get("attention_mask")
    total = torch.zeros((), device=inputs.batch["input_ids"].device)
    for m in inputs.layer_map.of_kind("attention"):
        total = total + m.weight * attention_mse(inputs.student.attention_scores[m.student],
                                                 inputs.teacher.attention_scores[m.teacher], mode, mask)
    return total


@register_loss("hidden", scalar="rep_loss", teacher=("hidden",), student=("hidden",))
def hidden_term(inputs: TermInputs) -> torch.Tensor:
    """``0 + sum_i w_i * hidden_mse(projected student state, teacher state)`` over the map's hidden entries
    (hidden state 0 is the embedding output)."""
    total = torch.zeros((), device=inputs.batch["input_ids"].device)
    for m in inputs.layer_map.of_kind("hidden"):
        total = total + m.weight * hidden_mse(inputs.student.hidden_states[m.student],
                                              inputs.teacher.hidden_states[m.teacher])
    return total


@register_loss("soft_ce", scalar="cls_loss", teacher=("logits",), student=("logits",))
def soft_ce_term(inputs: TermInputs, temperature: float = 1.0) -> torch.Tensor:
    """Soft cross-entropy of the student's against the teacher's logits at ``temperature``."""
    return soft_cross_entropy(inputs.student.logits, inputs.teacher_logits, temperature)


@register_loss("regression_mse", scalar="cls_loss", teacher=("logits",), student=("logits",))
def regression_mse_term(inputs: TermInputs) -> torch.Tensor:
    """Regression (STS-B): MSE to the teacher's predictions, never to the gold labels."""
    return regression_mse(inputs.student.logits, inputs.teacher_logits)


@register_loss("hard_ce", scalar="hard_loss", student=("logits",))
def hard_ce_term(inputs: TermInputs) -> torch.Tensor:
    """Cross-entropy to the gold labels (unlabelled rows ignored)."""
    return task_loss(inputs.student.logits, inputs.batch["labels"], regression=False)


@register_loss("hard_mse", scalar="hard_loss", student=("logits",))
def hard_mse_term(inputs: TermInputs) -> torch.Tensor:
    """Regression: MSE to the gold scores."""
    return task_loss(inputs.student.logits, inputs.batch["labels"], regression=True)


__all__ = ["LOSSES", "OUTPUTS", "LossDef", "TermInputs", "loss_def", "register_loss"]
