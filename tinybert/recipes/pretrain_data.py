"""Pretraining data for NEZHA/BERT (``tinybert pretrain-data``): ``dupe_factor`` copies of the corpus, one epoch each,
in the same format as pregeneration; a trainer in epoch ``e`` reads ``epoch_{e mod dupe_factor}``. With
``dynamic_masking`` the instances are stored unmasked and the loader masks them afresh every epoch.
"""

from __future__ import annotations

import logging

from tinybert.config.pregenerate import PretrainDataConfig
from tinybert.data.pretraining import ShardsWritten

logger = logging.getLogger(__name__)


def run_pretrain_data(cfg: PretrainDataConfig) -> ShardsWritten:
    """Write ``cfg.copies`` epochs of instances from ``cfg.input_file`` to ``cfg.output_dir``."""
    from tinybert.data.pretraining import expand_inputs, write_corpus_shards
    from tinybert.utils.paths import check_output_location

    files = expand_inputs(cfg.input_file, field="input_file")
    check_output_location(cfg.output_dir, {"vocab_file": cfg.vocab_file})
    for path in files:
        check_output_location(cfg.output_dir, {"input_file": path})
    result = write_corpus_shards(
        files, cfg.vocab_file, cfg.output_dir, do_lower_case=cfg.do_lower_case, overwrite=cfg.overwrite_output_dir,
        config=cfg.instances, seed=cfg.random_seed, num_epochs=cfg.copies, num_workers=cfg.num_workers,
        output_format=cfg.output_format, chunk_chars=cfg.chunk_chars, progress=not cfg.no_progress)
    logger.info("wrote %d instances (%d copies) to %s in %.1fs", result.num_instances, cfg.copies, cfg.output_dir,
                result.seconds)
    return result
