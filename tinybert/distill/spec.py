"""Distillation as data: which loss terms (with weights and options), through which layer map, what trains, whether
the teacher's logits are cached, what evaluates, and what is published.

A :class:`DistillSpec` is plain data: it prints and serialises to a JSON-able dict (:meth:`DistillSpec.to_dict`),
and the one objective (:class:`tinybert.distill.objective.DistillObjective`) computes exactly what its terms need.
The TinyBERT stages are presets of it, not branches of code:

- :func:`general_distillation` / :func:`task_stage1`: attention-score and hidden-state MSE through the layer map
  (``att_loss``, ``rep_loss``; ``loss = att + rep``); embeddings, encoder and projections train, the pooler and any
  head are frozen; the latest student is published at every eval step.
- :func:`task_stage2`: soft cross-entropy to the teacher's logits at a temperature (regression: MSE to the teacher's
  predictions, never the gold labels), plus optionally a gold-label term (``(1 - w) * soft + w * hard``); everything
  but the projections trains; the teacher's logits are cached; dev decides, and the best student is published.

Loss terms are looked up by name in :data:`tinybert.distill.terms.LOSSES`; a new term is one function and one
registry entry there. This module imports no torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from tinybert.config.base import check_choice, check_positive, check_range
from tinybert.distill.layer_map import LayerMap, LayerMatch

# what trains: the name of the rule, and what it freezes (see tinybert.distill.objective.frozen_parameters)
TRAINABLE = {
    "encoder+projections": "the pooler and any head are frozen (the intermediate losses give them no gradient)",
    "all but projections": "the width projections are frozen (the prediction losses give them no gradient)",
    "all": "nothing is frozen",
}
EVALUATORS = ("none", "dev")  # dev: every dev split of the task, every eval_steps and at the end
PUBLISH = ("latest", "best")  # latest: at every eval step and at the end; best: by the task's main dev metric


@dataclass
class LossTerm:
    """One weighted term of the objective: ``weight * LOSSES[name](inputs, **options)``."""

    name: str
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "options": dict(self.options)}


@dataclass
class DistillSpec:
    """What a distillation run optimises and how the run around it behaves; see the module docstring."""

    terms: list[LossTerm]
    layer_map: LayerMap = field(default_factory=LayerMap)  # used by the layer-mapped terms (attention, hidden)
    trainable: str = "encoder+projections"  # a key of TRAINABLE
    cache_teacher_logits: bool = False  # the teacher's logits over the training set computed once, then looked up
    evaluator: str = "none"  # one of EVALUATORS
    publish: str = "latest"  # one of PUBLISH

    def __post_init__(self) -> None:
        self.terms = list(self.terms)
        if not self.terms:
            raise ValueError("a distillation spec needs at least one loss term")
        if not isinstance(self.layer_map, LayerMap):
            self.layer_map = LayerMap(self.layer_map)
        check_choice("trainable", self.trainable, TRAINABLE)
        check_choice("evaluator", self.evaluator, EVALUATORS)
        check_choice("publish", self.publish, PUBLISH)
        if self.publish == "best" and self.evaluator == "none":
            raise ValueError("publishing the best student needs an evaluator (evaluator='dev')")

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-able form (what the run logs at its start)."""
        return {"terms": [t.to_dict() for t in self.terms], "layer_map": self.layer_map.to_json(),
                "trainable": self.trainable, "cache_teacher_logits": self.cache_teacher_logits,
                "evaluator": self.evaluator, "publish": self.publish}

    def describe(self) -> str:
        """One line: the terms with weights and options, the layer map, and the run's policies."""
        terms = " + ".join(
            (f"{t.weight:g}*" if t.weight != 1 else "") + t.name
            + (f"({', '.join(f'{k}={v}' for k, v in sorted(t.options.items()))})" if t.options else "")
            for t in self.terms)
        parts = [terms] + ([f"layer map: {self.layer_map.describe()}"] if self.layer_map else [])
        parts += [f"trainable: {self.trainable}",
                  f"teacher logits cached: {'yes' if self.cache_teacher_logits else 'no'}",
                  f"evaluator: {self.evaluator}", f"publish: {self.publish}"]
        return "; ".join(parts)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DistillSpec:
        """The inverse of :meth:`to_dict`."""
        return cls(terms=[LossTerm(t["name"], t.get("weight", 1.0), dict(t.get("options", {}))) for t in raw["terms"]],
                   layer_map=LayerMap(LayerMatch(**m) for m in raw.get("layer_map", [])),
                   **{k: raw[k] for k in ("trainable", "cache_teacher_logits", "evaluator", "publish") if k in raw})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def trainer_options(self, evaluator: Any = None, metric_for_best: str | None = None) -> dict[str, Any]:
        """The training loop's evaluation and publishing arguments (``evaluator``, ``metric_for_best``,
        ``save_every_eval``) for this spec: ``latest`` publishes at every eval step and at the end, ``best`` when
        ``metric_for_best`` improves."""
        return {"evaluator": evaluator if self.evaluator != "none" else None,
                "metric_for_best": metric_for_best if self.publish == "best" else None,
                "save_every_eval": self.publish == "latest"}


def with_layer_map(spec: DistillSpec, layer_map: str, student_layers: int, teacher_layers: int) -> DistillSpec:
    """``spec`` itself when it has a layer map, else a copy with ``layer_map`` (uniform, last or a JSON file)
    resolved for these layer counts."""
    if spec.layer_map:
        return spec
    from tinybert.distill.layer_map import load_layer_map

    return dataclasses.replace(spec, layer_map=load_layer_map(layer_map, student_layers, teacher_layers))


# ----------------------------------------------------------------------------------------------------- presets


def general_distillation(layer_map: LayerMap, attention_mode: str = "tinybert") -> DistillSpec:
    """TinyBERT general distillation: attention scores and hidden states (embedding output included) through the
    layer map; the latest student published at every eval step."""
    return DistillSpec(terms=[LossTerm("attention", options={"mode": attention_mode}), LossTerm("hidden")],
                       layer_map=layer_map, trainable="encoder+projections", evaluator="none", publish="latest")


def task_stage1(layer_map: LayerMap, attention_mode: str = "tinybert") -> DistillSpec:
    """Task distillation stage 1 (intermediate layers): the general-distillation objective on task data. There is no
    meaningful dev metric, so the latest student is published (as the original saved it)."""
    return general_distillation(layer_map, attention_mode)


def task_stage2(temperature: float = 1.0, hard_label_weight: float = 0.0, regression: bool = False,
                cache_teacher_logits: bool = True) -> DistillSpec:
    """Task distillation stage 2 (prediction layer): ``soft`` alone when ``hard_label_weight`` is 0, else
    ``(1 - w) * soft + w * hard``; soft is the soft cross-entropy at ``temperature`` (regression: MSE to the
    teacher's predictions), hard the gold-label loss. The best student by the task's main dev metric is published."""
    check_positive("temperature", temperature)
    check_range("hard_label_weight", hard_label_weight, 0.0, 1.0)
    w = hard_label_weight
    soft = LossTerm("regression_mse") if regression else LossTerm("soft_ce", options={"temperature": temperature})
    terms = [soft]
    if w != 0:
        soft.weight = 1 - w
        terms.append(LossTerm("hard_mse" if regression else "hard_ce", weight=w))
    return DistillSpec(terms=terms, trainable="all but projections", cache_teacher_logits=cache_teacher_logits,
                       evaluator="dev", publish="best")


__all__ = ["EVALUATORS", "PUBLISH", "TRAINABLE", "DistillSpec", "LossTerm", "general_distillation", "task_stage1",
           "task_stage2", "with_layer_map"]
