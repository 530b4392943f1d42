"""Pretraining models: a config from a preset or file, a fresh or a loaded (optionally vocabulary-adapted) model,
and :class:`PretrainingObjective`, the module the training loop trains (masked LM, optionally with NSP).

The masked-LM logits are computed only at the masked positions (about 15% of the tokens), so the vocabulary-sized
decoder costs what it must and no more.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tinybert.config.pretrain import PRESETS, TARGETS, is_preset, preset_path
from tinybert.errors import UserError
from tinybert.utils.io import read_json

logger = logging.getLogger(__name__)

ARCHITECTURE_FIELDS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")


# ----------------------------------------------------------------------------------------------- configs
def read_model_config(config_path: str, model_type: str | None) -> tuple[dict[str, Any], str]:
    """The config dict and the file it came from: a preset name, a JSON file, or a folder holding ``config.json``
    (or ``bert_config.json``)."""
    if is_preset(config_path):
        path = preset_path(config_path, model_type or "nezha")
        if not os.path.isfile(path):
            raise UserError.at(path, f"preset {config_path!r} not found; the tinybert/presets/ folder ships "
                                     "the presets (or pass a JSON file)")
    elif os.path.isdir(config_path):
        names = [os.path.join(config_path, n) for n in ("config.json", "bert_config.json")]
        path = next((p for p in names if os.path.isfile(p)), names[0])
        if not os.path.isfile(path):
            raise UserError.at(config_path, "holds no config.json or bert_config.json; expected a model config")
    elif os.path.isfile(config_path):
        path = config_path
    else:
        raise UserError.at(config_path, f"config not found; expected a JSON file or a preset ({', '.join(PRESETS)})")
    return read_json(path, what="a JSON object (a model config)"), path


def config_model_type(data: Mapping[str, Any]) -> str | None:
    """The model type a config dict declares: its ``model_type``, else ``nezha`` when it carries NEZHA's
    relative-position fields, else None (an original BERT config fits either)."""
    if data.get("model_type"):
        return str(data["model_type"])
    if data.get("use_relative_position") or "max_relative_position" in data:
        return "nezha"
    return None


def build_model_config(data: Mapping[str, Any], model_type: str, vocab_size: int, where: str,
                       against: str | None = None):
    """A ``NezhaConfig`` / ``BertConfig`` from ``data`` with ``vocab_size`` from the vocabulary. ``against`` names
    what decided ``model_type`` when it is not the ``model_type`` field (for the error when the config declares
    another type)."""
    declared = config_model_type(data)
    if declared is not None and declared != model_type:
        if against is None:
            raise UserError(f"{where}: is a {declared} config but model_type is {model_type}; set it to {declared} "
                            f"or give a {model_type} config", field="model_type")
        raise UserError.at(where, f"is a {declared} config but {against} is {model_type}; give a {model_type} "
                                  "config or none")
    if model_type == "nezha":
        from tinybert.models.nezha import NezhaConfig as config_class
    else:
        from transformers import BertConfig as config_class
    known = set(config_class().to_dict())
    values = {k: v for k, v in data.items() if k in known and k != "model_type"}
    if data.get("vocab_size") not in (None, vocab_size):
        logger.info("%s: vocab_size %s replaced by the vocabulary's %d", where, data["vocab_size"], vocab_size)
    values["vocab_size"] = vocab_size
    for name in ARCHITECTURE_FIELDS:
        value = values.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise UserError.at(where, f"{name} must be a positive integer, found {value!r}")
    try:
        return config_class(**values)
    except (TypeError, ValueError) as e:
        raise UserError.at(where, f"invalid config ({e})") from None


# ----------------------------------------------------------------------------------------------- models
def head_for(target: str) -> str:
    return "pretraining" if target == "mlm_nsp" else "mlm"


def new_model(config, target: str, seed: int) -> nn.Module:
    """A freshly initialised pretraining (``mlm_nsp``) or masked-LM (``mlm``) model."""
    from tinybert.models.checkpoint import model_class
    from tinybert.train import set_seed

    set_seed(seed)  # every process builds the same initial weights
    return model_class(config, head_for(target))(config)


def load_pretrained(path: str, target: str, model_type: str | None, tokens: list[str], adapt_vocab: bool,
                    seed: int) -> nn.Module:
    """Load ``path`` (any checkpoint format) for continued pretraining, on the vocabulary ``tokens``.

    The checkpoint's vocabulary must be ``tokens`` (same size, and same tokens when it ships a vocab.txt) unless
    ``adapt_vocab``: then rows of kept tokens are copied and new ones initialised (:mod:`tinybert.data.vocab_adapter`).
    """
    from tinybert.models.checkpoint import load_model, model_class
    from tinybert.models.tokenizer import VOCAB_NAME, read_vocab

    model = load_model(path, head=head_for(target))
    config = model.config
    if model_type is not None and config.model_type != model_type:
        raise UserError(f"{path}: is a {config.model_type} checkpoint but model_type is {model_type}; set it to "
                        f"{config.model_type}", field="model_type")
    own_vocab = os.path.join(path, VOCAB_NAME)
    old_tokens = read_vocab(own_vocab) if os.path.isfile(own_vocab) else None
    if not adapt_vocab:
        if config.vocab_size != len(tokens):
            raise UserError(f"{path}: has a {config.vocab_size}-token vocabulary but the data's vocabulary has "
                            f"{len(tokens)}; map the model onto the new vocabulary with adapt_vocab (the vocabulary "
                            "adapter; build a domain vocab with `tinybert build-vocab`)", field="adapt_vocab")
        if old_tokens is not None and old_tokens != tokens:
            line = next(i for i, (old, new) in enumerate(zip(old_tokens, tokens, strict=True), 1) if old != new)
            raise UserError(f"{own_vocab}: differs from the data's vocabulary at line {line} "
                            f"({old_tokens[line - 1]!r} vs {tokens[line - 1]!r}); pass adapt_vocab to map the model "
                            "onto it", field="adapt_vocab")
        return model
    if old_tokens is None:
        raise UserError(f"{path}: adapt_vocab needs the checkpoint's own vocab.txt in the folder", field="adapt_vocab")
    from tinybert.data.vocab_adapter import adapt_vocab as adapt

    adapted = adapt(model.state_dict(), old_tokens, tokens, initializer_range=config.initializer_range, seed=seed)
    config.vocab_size = len(tokens)
    new = model_class(config, head_for(target))(config)
    result = new.load_state_dict(adapted.state_dict, strict=False)
    buffers = {n for n, _ in new.named_buffers()}
    missing = [k for k in result.missing_keys if k not in buffers]
    if missing or result.unexpected_keys:
        raise RuntimeError(f"vocabulary adaptation lost tensors: missing {missing}, unexpected "
                           f"{result.unexpected_keys}")
    logger.info("adapted %s to the new vocabulary: %d token rows kept, %d initialised", path, adapted.kept,
                adapted.added)
    return new.eval()


# ----------------------------------------------------------------------------------------------- objective
class PretrainingObjective(nn.Module):
    """The trained module: a ``*ForPreTraining`` / ``*ForMaskedLM`` model whose forward returns the losses.

    ``forward(batch)`` with ``input_ids, attention_mask, token_type_ids, lm_label_ids`` (-100 = not predicted) and,
    for ``mlm_nsp``, ``is_next`` (1 = random next sentence, the NSP label) returns ``(loss, scalars)``: ``loss`` is
    the mean cross-entropy over the batch's masked tokens, plus the NSP cross-entropy with ``mlm_nsp``.
    """

    def __init__(self, model: nn.Module, target: str) -> None:
        super().__init__()
        if target not in TARGETS:
            raise UserError.of_field("target", f"{target!r} is unknown; one of: {', '.join(TARGETS)}")
        self.model, self.target = model, target

    def forward(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model = self.model
        encoder = getattr(model, model.base_model_prefix)
        out = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                      token_type_ids=batch["token_type_ids"])
        labels = batch["lm_label_ids"]
        where = labels != -100
        logits = model.cls.predictions(out.last_hidden_state[where]).float()
        targets = labels[where]
        count = max(targets.numel(), 1)
        mlm_loss = F.cross_entropy(logits, targets, reduction="sum") / count
        with torch.no_grad():
            acc = (logits.argmax(-1) == targets).float().sum() / count
        scalars = {"mlm_loss": mlm_loss.detach(), "mlm_acc": acc}
        if self.target == "mlm":
            return mlm_loss, scalars
        nsp_logits = model.cls.seq_relationship(out.pooler_output).float()
        nsp_loss = F.cross_entropy(nsp_logits, batch["is_next"])
        scalars["nsp_loss"] = nsp_loss.detach()
        return mlm_loss + nsp_loss, scalars


def pretraining_step(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    """The loss function the training loop calls (``model`` is the possibly DDP-wrapped objective)."""
    return model(batch)
