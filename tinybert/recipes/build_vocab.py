"""``build-vocab``: a WordPiece vocabulary learnt from a corpus, written as a tokenizer folder (vocab.txt +
tokenizer_config.json) that :func:`tinybert.models.tokenizer.load_tokenizer` and ``pretrain-data`` read."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from tinybert.config.vocab import BuildVocabConfig
from tinybert.data.pretraining import expand_inputs
from tinybert.data.vocab import build_vocab
from tinybert.errors import UserError
from tinybert.models.tokenizer import VOCAB_NAME, save_vocab
from tinybert.utils.io import atomic_write_json
from tinybert.utils.paths import check_output_location

logger = logging.getLogger(__name__)


@dataclass
class VocabResult:
    path: str  # the vocab.txt written
    num_tokens: int


def run_build_vocab(cfg: BuildVocabConfig) -> VocabResult:
    files = expand_inputs(cfg.input_file)
    for path in files:
        check_output_location(cfg.output_dir, {"input_file": path})
    out = os.path.join(cfg.output_dir, VOCAB_NAME)
    if os.path.exists(out) and not cfg.overwrite_output_dir:
        raise UserError(f"{out}: already exists; pass overwrite_output_dir to replace it or choose another "
                        "output_dir", field="overwrite_output_dir")
    tokens = build_vocab(files, cfg.vocab_size, cfg.min_count, cfg.do_lower_case, cfg.limit_alphabet)
    os.makedirs(cfg.output_dir, exist_ok=True)
    save_vocab(tokens, out)
    atomic_write_json(os.path.join(cfg.output_dir, "tokenizer_config.json"),
                      {"do_lower_case": cfg.do_lower_case, "tokenizer_class": "BertTokenizer"})
    logger.info("wrote %d tokens to %s", len(tokens), out)
    return VocabResult(out, len(tokens))
