"""A shallower model made of a deeper one's layers: the embeddings, the chosen encoder layers (in their order) and
every head are kept, the other layers dropped.

This is the common start for a student of the teacher's width (DistilBERT took every other layer of BERT): a
student that begins with the teacher's embeddings and some of its layers knows the language, and the task, from
step 0, where a randomly initialised one knows neither. ``task_distill.py --init_from_teacher 2,4`` and
``tinybert finetune --keep_layers 2,4`` (the label-only student of the same start) both come here.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import nn

from tinybert.errors import UserError


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer layers of a BERT-family or NEZHA model (``base_model.encoder.layer``)."""
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise UserError(f"{type(model).__name__} has no encoder.layer list: cannot choose its layers")
    return layers


def keep_layers(model: nn.Module, layers: Sequence[int], source: str = "the model") -> nn.Module:
    """A copy of ``model`` with only encoder layers ``layers`` (1-based, increasing); ``model`` is left as it was.

    The copy's config says how it was made (``tinybert_layers_from``), so a published student records its origin.
    """
    total = model.config.num_hidden_layers
    bad = [n for n in layers if not 1 <= n <= total]
    if bad or not layers:
        raise UserError(f"{source}: layer {bad[0] if bad else '(none)'} does not exist; it has layers 1..{total}")
    encoder, full = model.base_model.encoder, encoder_layers(model)
    encoder.layer = nn.ModuleList(full[n - 1] for n in layers)  # copy only the kept layers, not the whole stack
    try:
        small = copy.deepcopy(model)
    finally:
        encoder.layer = full
    for index, layer in enumerate(small.base_model.encoder.layer):
        for module in layer.modules():  # transformers' attention knows its place (caches, our score capture)
            if hasattr(module, "layer_idx"):
                module.layer_idx = index
    small.config.num_hidden_layers = len(layers)
    small.config.tinybert_layers_from = {"layers": list(layers), "of": total}
    return small


def identity_(linear: nn.Linear) -> None:
    """Make a square projection the identity, so a student of the teacher's width starts with hidden states already
    in the teacher's space (a random projection would hide what the copied layers know from the hidden-state loss)."""
    if linear.in_features != linear.out_features:
        raise ValueError(f"identity needs a square projection, not {linear.in_features}->{linear.out_features}")
    nn.init.eye_(linear.weight)
    nn.init.zeros_(linear.bias)


__all__ = ["encoder_layers", "identity_", "keep_layers"]
