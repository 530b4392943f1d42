"""``convert``: any supported checkpoint folder -> a Hugging Face folder (safetensors).

The projections of TinyBERT students (``fit_dense*``) are carried over; the vocabulary (and tokenizer files) are
written when the source has a ``vocab.txt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tinybert.config.vocab import ConvertConfig
from tinybert.errors import UserError
from tinybert.models.checkpoint import detect_format, load_extra_tensors, load_model, save_model
from tinybert.models.tokenizer import VOCAB_NAME, load_tokenizer
from tinybert.utils.paths import check_output_location


@dataclass
class ConvertResult:
    source_format: str  # what detect_format found
    model_class: str
    num_parameters: int
    num_projection_tensors: int
    wrote_tokenizer: bool


def run_convert(cfg: ConvertConfig) -> ConvertResult:
    check_output_location(cfg.dst, {"src": cfg.src}, output_field="dst")
    if os.path.isdir(cfg.dst) and os.listdir(cfg.dst) and not cfg.overwrite_output_dir:
        raise UserError(f"{cfg.dst}: output folder exists and is not empty; pass overwrite_output_dir to replace it",
                        field="overwrite_output_dir")
    source_format = detect_format(cfg.src)
    model = load_model(cfg.src, head=cfg.head, num_labels=cfg.num_labels, dtype=cfg.dtype)
    extra = load_extra_tensors(cfg.src)
    tokenizer = load_tokenizer(cfg.src) if os.path.isfile(os.path.join(cfg.src, VOCAB_NAME)) else None
    save_model(model, cfg.dst, tokenizer=tokenizer, extra_tensors=extra, overwrite=True)
    return ConvertResult(source_format, type(model).__name__, sum(p.numel() for p in model.parameters()), len(extra),
                         tokenizer is not None)
