"""Pregeneration (TinyBERT's ``pregenerate_training_data.py``): a corpus -> masked-LM/NSP training shards.

Same corpus and seed give byte-identical files whatever ``num_workers``; see :mod:`tinybert.data.pretraining` for how
instances are built and :mod:`tinybert.data.shards` for the files.
"""

from __future__ import annotations

import logging

from tinybert.config.pregenerate import PregenerateConfig
from tinybert.data.pretraining import ShardsWritten

logger = logging.getLogger(__name__)

PregenerateResult = ShardsWritten


def run_pregenerate(cfg: PregenerateConfig) -> PregenerateResult:
    """Write ``cfg.epochs_to_generate`` epochs of instances from ``cfg.train_corpus`` to ``cfg.output_dir``."""
    from tinybert.data.pretraining import expand_inputs, write_corpus_shards
    from tinybert.utils.paths import check_output_location

    check_output_location(cfg.output_dir, {"train_corpus": cfg.train_corpus, "bert_model": cfg.bert_model})
    corpus = expand_inputs([cfg.train_corpus], field="train_corpus")
    result = write_corpus_shards(
        corpus, cfg.bert_model, cfg.output_dir, do_lower_case=cfg.do_lower_case, overwrite=cfg.overwrite_output_dir,
        config=cfg.instances, seed=cfg.seed, num_epochs=cfg.epochs_to_generate, num_workers=cfg.num_workers,
        output_format=cfg.output_format, shard_size=cfg.shard_size, chunk_chars=cfg.chunk_chars,
        progress=not cfg.no_progress)
    logger.info("wrote %d instances over %d epoch(s) to %s in %.1fs (%.0f instances/s)", result.num_instances,
                len(result.epochs), cfg.output_dir, result.seconds, result.num_instances / max(result.seconds, 1e-9))
    return result
