"""Extractive reading comprehension (SQuAD v1.1 / CMRC2018 JSON): fine-tune a BERT-family or NEZHA span model
(``do_train``), evaluate it (``do_eval``: the official metric of the language, EM / F1 / their average, in
``eval_results.txt``, the dev answers in ``dev_predictions.json``) and answer a file (``do_predict``:
``predictions.json`` and ``nbest_predictions.json``, which ``tinybert mrc-eval`` scores).

The best dev model by the average of EM and F1 is kept. Windows, offsets, the n-best search:
:mod:`tinybert.data.mrc`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from torch import nn

from tinybert.config.span import MrcConfig
from tinybert.data.mrc import encode_mrc, read_mrc_file
from tinybert.data.task_features import TaskDataset, collate
from tinybert.evaluate import write_eval_results
from tinybert.models.checkpoint import load_model, save_model
from tinybert.models.tokenizer import load_tokenizer
from tinybert.span_eval import SPAN_HEAD, MrcEvaluator, build_model, mrc_outputs, open_span_job, span_logits, span_loss
from tinybert.train import Trainer, TrainResult, set_seed

logger = logging.getLogger(__name__)


@dataclass
class MrcResult:
    train: TrainResult | None = None
    eval_metrics: dict[str, float] = field(default_factory=dict)
    predictions_file: str | None = None


def find_json(data_dir: str, split: str) -> str | None:
    path = os.path.join(data_dir, split + ".json")
    return path if os.path.isfile(path) else None


def run_mrc(cfg: MrcConfig) -> MrcResult:
    """Fine-tune / evaluate / predict as ``cfg`` asks; see the module docstring."""
    training, train_path, dev_path, predict_path = open_span_job(cfg, find_json)  # before any work
    dev = read_mrc_file(dev_path) if dev_path else None
    tokenizer = load_tokenizer(cfg.vocab if cfg.from_scratch else cfg.model, cfg.do_lower_case)
    result = MrcResult()

    model_dir = cfg.model
    if cfg.do_train:
        train = read_mrc_file(train_path)
        features = encode_mrc(train, tokenizer, cfg.max_seq_length, cfg.doc_stride or 128, cfg.max_query_length)
        logger.info("%s: %d questions in %d windows", train_path, len(train), len(features.example))
        dataset = TaskDataset(features.arrays)
        set_seed(training.seed)  # the span head is initialised here
        model = build_model(cfg, SPAN_HEAD, len(tokenizer.get_vocab()))
        evaluator = MrcEvaluator(dev, tokenizer, cfg) if dev is not None else None

        def loss_fn(reader: nn.Module, batch: dict) -> object:
            start, end = span_logits(reader, batch)
            return span_loss(start, end, batch["start_positions"], batch["end_positions"])

        def save(reader: nn.Module, directory: str) -> None:
            save_model(reader, directory, tokenizer=tokenizer)
            if evaluator is not None:
                write_eval_results(directory, evaluator.last)

        trainer = Trainer(training, model, dataset, collate, loss_fn, evaluator=evaluator,
                          metric_for_best="average" if evaluator is not None else None, save_fn=save)
        result.train = trainer.train()
        logger.info("best (EM + F1) / 2 = %s at step %s; model in %s", result.train.best_metric,
                    result.train.best_step, cfg.output_dir)
        model_dir = cfg.output_dir

    if cfg.do_eval or cfg.do_predict:
        model = load_model(model_dir, head=SPAN_HEAD, require_head=True)
        result.eval_metrics, result.predictions_file = mrc_outputs(cfg, model, tokenizer, dev, predict_path)
    return result
