"""The TinyBERT student: a transformers BERT (or NEZHA) model plus projections from student width to teacher width.

The projections map each student hidden state (embedding output included) to the teacher's width for the hidden-state
loss: one shared ``fit_dense`` (the original TinyBERT) or one per hidden state ``fit_denses.0..L`` (TinyBERT v2).
They are saved beside the model in ``projections.safetensors`` (older folders: inside ``model.safetensors``) under
exactly those names, and ``config.json`` records ``tinybert_projection = {"type", "fit_size"}``. Plain transformers
loads the folder with ``AutoModel`` / ``AutoModelForSequenceClassification`` silently (it never opens the
projections file), giving identical outputs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import torch
from torch import nn

from tinybert.errors import UserError, require_file
from tinybert.models.view import DistillOutputs, distill_forward
from tinybert.utils.io import read_json

logger = logging.getLogger(__name__)

PROJECTIONS = ("shared", "per_layer")
# the fields a student config must state (transformers' defaults are BERT-base's: 768 wide, 12 layers)
REQUIRED_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
CONFIG_KEY = "tinybert_projection"


class TinyBertStudent(nn.Module):
    """A transformers model (``.model``) and its width projections; ``forward`` is the distillation view."""

    def __init__(self, model: nn.Module, fit_size: int, projection: str = "shared") -> None:
        super().__init__()
        if projection not in PROJECTIONS:
            raise UserError(f"--projection {projection!r}: expected one of {', '.join(PROJECTIONS)}")
        self.model = model
        self.fit_size = int(fit_size)
        self.projection = projection
        width, layers = model.config.hidden_size, model.config.num_hidden_layers
        if projection == "shared":
            self.fit_dense = nn.Linear(width, self.fit_size)
        else:
            self.fit_denses = nn.ModuleList(nn.Linear(width, self.fit_size) for _ in range(layers + 1))
        std = getattr(model.config, "initializer_range", 0.02)
        for m in self.projection_modules():
            nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)

    @property
    def config(self):
        return self.model.config

    def non_encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the embeddings and encoder (pooler, task or LM heads): unused by the intermediate
        losses, so general distillation and task stage 1 freeze them (under DDP every trainable one needs a grad)."""
        keep = {id(p) for n, p in self.model.base_model.named_parameters() if n.startswith(("embeddings.", "encoder."))}
        return [p for p in self.model.parameters() if id(p) not in keep]

    def projection_modules(self) -> list[nn.Linear]:
        return [self.fit_dense] if self.projection == "shared" else list(self.fit_denses)

    def project(self, index: int, hidden: torch.Tensor) -> torch.Tensor:
        layer = self.fit_dense if self.projection == "shared" else self.fit_denses[index]
        return layer(hidden)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        *,
        scores: bool | Sequence[int] = False,
        hidden: bool | Sequence[int] = False,
        logits: bool = False,
    ) -> DistillOutputs:
        """The distillation view of the student; hidden states come back projected to the teacher's width.

        ``hidden`` may list the hidden-state indices wanted: only those are projected (the others are ``None``).
        """
        out = distill_forward(
            self.model, input_ids, attention_mask, token_type_ids, scores=scores, hidden=bool(hidden), logits=logits
        )
        if out.hidden_states is not None:
            wanted = range(len(out.hidden_states)) if hidden is True else set(hidden)
            out.hidden_states = tuple(
                self.project(i, h) if i in wanted else None for i, h in enumerate(out.hidden_states)
            )
        return out

    def projection_tensors(self) -> dict[str, torch.Tensor]:
        prefix = "fit_dense." if self.projection == "shared" else "fit_denses."
        module = self.fit_dense if self.projection == "shared" else self.fit_denses
        return {prefix + k: v.detach().contiguous() for k, v in module.state_dict().items()}

    def save_pretrained(self, path: str | os.PathLike, tokenizer=None) -> None:
        """Write a Hugging Face folder (safetensors) with the projections as extra tensors."""
        from tinybert.models.checkpoint import save_model

        setattr(self.model.config, CONFIG_KEY, {"type": self.projection, "fit_size": self.fit_size})
        save_model(self.model, path, tokenizer=tokenizer, extra_tensors=self.projection_tensors())


def read_student_config(path: str | os.PathLike):
    """A student config from a folder holding ``config.json`` (or ``bert_config.json``) or from a JSON file.

    A config without ``model_type`` (the original TinyBERT student configs have none) is a BERT config.
    """
    from transformers import AutoConfig, BertConfig

    p = os.fspath(path)
    if os.path.isdir(p):
        for name in ("config.json", "bert_config.json"):
            if os.path.isfile(os.path.join(p, name)):
                p = os.path.join(p, name)
                break
        else:
            raise UserError.at(p, "no config.json in the student folder")
    require_file(p, "student config")
    raw = read_json(p, what="a JSON object (a model config)")
    missing = [name for name in REQUIRED_FIELDS if name not in raw]
    if missing:  # transformers would fill them with BERT-base's sizes without a word
        raise UserError.at(p, f"the student config lacks {', '.join(missing)}; a student config must state its size "
                              f"({', '.join(REQUIRED_FIELDS)}), e.g. student_configs/tinybert_4l_312d/config.json")
    for name in REQUIRED_FIELDS:
        value = raw[name]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise UserError.at(p, f"{name} must be a positive integer, found {value!r}")
    model_type = raw.pop("model_type", "bert")
    try:
        config = AutoConfig.for_model(model_type, **raw) if model_type != "bert" else BertConfig(**raw)
    except (TypeError, ValueError) as e:
        raise UserError.at(p, str(e).splitlines()[0]) from None
    if config.hidden_size % config.num_attention_heads:
        raise UserError.at(
            p, f"hidden_size {config.hidden_size} is not divisible by num_attention_heads {config.num_attention_heads}"
        )
    return config


def build_student(
    config_path: str | os.PathLike,
    teacher_config,
    head: str = "base",
    projection: str = "shared",
    num_labels: int | None = None,
    id2label: dict[int, str] | None = None,
) -> TinyBertStudent:
    """A freshly initialised student from a student config, projecting to the teacher's width."""
    from tinybert.models.checkpoint import model_class

    config = read_student_config(config_path)
    if config.vocab_size != teacher_config.vocab_size:
        raise UserError.at(
            config_path,
            f"student vocab_size {config.vocab_size} differs from the teacher's {teacher_config.vocab_size}; "
            "set the student config's vocab_size to the teacher's",
        )
    if num_labels is not None:
        config.num_labels = num_labels
    if id2label is not None:
        config.id2label = dict(id2label)
        config.label2id = {v: k for k, v in config.id2label.items()}
    model = model_class(config, head)(config)
    return TinyBertStudent(model, teacher_config.hidden_size, projection)


def load_student(
    path: str | os.PathLike,
    fit_size: int,
    head: str = "base",
    projection: str | None = None,
    num_labels: int | None = None,
    id2label: dict[int, str] | None = None,
) -> TinyBertStudent:
    """Load a student folder (ours, an original TinyBERT folder, or any BERT/NEZHA folder) with its projections.

    The stored projections are used when they fit (same kind, same teacher width); otherwise fresh ones are made
    and a warning says so (e.g. a general student distilled from another teacher).
    """
    from tinybert.models.checkpoint import load_extra_tensors, load_model

    model = load_model(path, head=head, num_labels=num_labels, id2label=id2label)
    extra = load_extra_tensors(path)
    stored = "per_layer" if any(k.startswith("fit_denses.") for k in extra) else ("shared" if extra else None)
    kind = projection or stored or "shared"
    student = TinyBertStudent(model, fit_size, kind)
    if stored == kind:
        try:
            prefix = "fit_dense." if kind == "shared" else "fit_denses."
            module = student.fit_dense if kind == "shared" else student.fit_denses
            module.load_state_dict({k[len(prefix) :]: v for k, v in extra.items() if k.startswith(prefix)})
        except RuntimeError:
            logger.warning("%s: stored projections do not fit width %d; starting new ones", path, fit_size)
    elif stored is not None:
        logger.warning("%s: stored %s projections replaced by new %s ones", path, stored, kind)
    return student
