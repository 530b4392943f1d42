"""Sequence labelling (NER): fine-tune a BERT-family or NEZHA token classifier (``do_train``), evaluate it
(``do_eval``: entity precision/recall/F1 as seqeval, per type, in ``eval_results.txt``) and tag a file
(``do_predict``: ``test_predictions.<ext>`` in the input's own format).

The label list comes from the training set (or ``labels``) and is saved in the model's config (``id2label``); the
best dev model by entity F1 is kept. Files: see :mod:`tinybert.data.ner`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from torch import nn

from tinybert.config.span import NerConfig
from tinybert.data.ner import (
    check_labels,
    encode_ner,
    find_split,
    label_list,
    read_label_file,
    read_ner_file,
)
from tinybert.data.task_features import TaskDataset, collate
from tinybert.evaluate import write_eval_results
from tinybert.models.checkpoint import load_model, save_model
from tinybert.models.tokenizer import load_tokenizer
from tinybert.span_eval import (
    TOKEN_HEAD,
    NerEvaluator,
    build_model,
    ner_outputs,
    open_span_job,
    token_logits,
    token_loss,
)
from tinybert.train import Trainer, TrainResult, set_seed

logger = logging.getLogger(__name__)


@dataclass
class NerResult:
    train: TrainResult | None = None
    eval_metrics: dict[str, float] = field(default_factory=dict)
    predictions_file: str | None = None


def run_ner(cfg: NerConfig) -> NerResult:
    """Fine-tune / evaluate / predict as ``cfg`` asks; see the module docstring."""
    training, train_path, dev_path, predict_path = open_span_job(cfg, find_split)  # before any work
    dev = read_ner_file(dev_path, cfg.ner_format) if dev_path else None
    tokenizer = load_tokenizer(cfg.vocab if cfg.from_scratch else cfg.model, cfg.do_lower_case)
    result = NerResult()

    model_dir = cfg.model
    if cfg.do_train:
        train = read_ner_file(train_path, cfg.ner_format)
        labels = read_label_file(cfg.labels) if cfg.labels else label_list([train])
        id2label = dict(enumerate(labels))
        label2id = {tag: i for i, tag in id2label.items()}
        source = f"labels ({cfg.labels})" if cfg.labels else "the training set"
        check_labels(train, label2id, source)
        logger.info("%s: %d sentences, %d labels: %s", train_path, len(train.sentences), len(labels), labels)
        dataset = TaskDataset(encode_ner(train.sentences, tokenizer, label2id, cfg.max_seq_length, cfg.doc_stride))
        set_seed(training.seed)  # the classification head is initialised here
        model = build_model(cfg, TOKEN_HEAD, len(tokenizer.get_vocab()), id2label)
        evaluator = (NerEvaluator(dev, tokenizer, id2label, cfg.max_seq_length, cfg.doc_stride, cfg.eval_batch_size,
                                  cfg.strict, labels_from=source) if dev is not None else None)

        def loss_fn(tagger: nn.Module, batch: dict) -> object:
            return token_loss(token_logits(tagger, batch)[0], batch["labels"])

        def save(tagger: nn.Module, directory: str) -> None:
            save_model(tagger, directory, tokenizer=tokenizer)
            if evaluator is not None:
                write_eval_results(directory, evaluator.last)

        trainer = Trainer(training, model, dataset, collate, loss_fn, evaluator=evaluator,
                          metric_for_best="f1" if evaluator is not None else None, save_fn=save)
        result.train = trainer.train()
        logger.info("best entity f1 = %s at step %s; model in %s", result.train.best_metric, result.train.best_step,
                    cfg.output_dir)
        model_dir = cfg.output_dir

    if cfg.do_eval or cfg.do_predict:
        model = load_model(model_dir, head=TOKEN_HEAD, require_head=True)
    result.eval_metrics, result.predictions_file = ner_outputs(cfg, model, tokenizer, dev, predict_path)
    return result
