"""Data augmentation (TinyBERT's ``data_augmentation.py``): a task's ``train.tsv`` -> ``train_aug.tsv``, each row
followed by its variants, words replaced by BERT masked-LM or GloVe candidates (rules in :mod:`tinybert.data.augment`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from tinybert.config.augment import AugmentConfig

logger = logging.getLogger(__name__)


@dataclass
class AugmentResult:
    output: str  # the augmented file
    rows: int  # rows written (originals and variants, the header included)
    seconds: float


def run_augment(cfg: AugmentConfig) -> AugmentResult:
    """Augment the train file of ``cfg.task_dir`` into ``cfg.output_path`` (written atomically)."""
    from tinybert.config.augment import parse_columns
    from tinybert.data.augment import DEFAULT_N, AugmentOptions, Resources, augment_file, check_output_file, file_job
    from tinybert.data.tasks import get_task, read_examples
    from tinybert.errors import UserError, require_dir, require_file
    from tinybert.utils.paths import check_output_location

    spec = get_task(cfg.task_name) if cfg.task_name else None
    data_dir = require_dir(cfg.task_dir, "task data folder")
    train = os.path.join(data_dir, "train.tsv")
    if not os.path.isfile(train):
        raise UserError.at(train, "training file not found; the task folder must hold train.tsv")
    require_file(train, "training file")
    if cfg.glove_embs:
        require_file(cfg.glove_embs, "word vectors file")
    output = cfg.output_path
    check_output_location(output, {"pretrained_bert_model": cfg.pretrained_bert_model, "glove_embs": cfg.glove_embs,
                                   "data_dir" if cfg.data_dir else "glue_dir": train},
                          output_field="output", is_dir=False)
    check_output_file(output)
    if spec is not None:  # rows training would refuse (too few columns, a label outside the task's) are refused now
        read_examples(spec, data_dir, "train")

    language = cfg.language or (spec.language if spec is not None else "en")
    n = cfg.N if cfg.N is not None else DEFAULT_N.get(spec.name, 30) if spec is not None else 30
    options = AugmentOptions(N=n, M=cfg.M, p=cfg.p, seed=cfg.seed, language=language,
                             max_seq_length=cfg.max_seq_length, batch_size=cfg.batch_size)
    options.check()
    columns = parse_columns(cfg.text_columns) if cfg.text_columns else None
    job = file_job(train, spec, options, columns, cfg.header)
    if language == "en" and not cfg.glove_embs:
        logger.warning("no glove_embs: words of several word pieces keep their original form")

    from tinybert.evaluate import pick_device

    device = str(pick_device(cfg.no_cuda))
    resources = Resources(cfg.pretrained_bert_model, cfg.glove_embs, cfg.glove_limit, cfg.do_lower_case, device,
                          bf16=cfg.bf16)
    logger.info("augmenting %s columns %s: N=%d M=%d p=%.2f (%s, %d worker(s)) -> %s", train, list(job.text_columns),
                n, cfg.M, cfg.p, device, cfg.num_workers, output)
    start = time.perf_counter()
    rows = augment_file(resources, job, output, num_workers=cfg.num_workers)
    seconds = time.perf_counter() - start
    logger.info("wrote %d rows to %s in %.1fs", rows, output, seconds)
    return AugmentResult(output, rows, seconds)
