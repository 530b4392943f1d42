"""Evaluation and prediction of token-level (NER) and span (reading comprehension) models, and the plumbing their
recipes share: the split files of a job, the models (a folder with a head, or a fresh one of a config's size),
the losses, and batched inference over windows.

- :func:`window_outputs`: a model's per-position outputs over a :class:`~tinybert.data.task_features.TaskDataset`
  of windows (length-sorted batches, dynamic padding, ``inference_mode``), each row cut to its own length.
- :class:`NerEvaluator` (the training loop's evaluator; entity P/R/F1, per type, token accuracy) and its
  :meth:`NerEvaluator.predict_tags`.
- :class:`MrcEvaluator` (EM, F1, their average; the language's official metric) and its
  :meth:`MrcEvaluator.predict`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tinybert.data.task_features import IGNORE_INDEX, TaskDataset, collate, model_inputs
from tinybert.errors import UserError

logger = logging.getLogger(__name__)

TOKEN_HEAD = "token_classification"
SPAN_HEAD = "question_answering"


# ----------------------------------------------------------------------------------------------------- plumbing


def split_file(explicit: str | None, data_dir: str | None, split: str, find: Callable[[str, str], str | None],
               field: str, required: bool) -> str | None:
    """The file of ``split``: ``explicit`` if given, else ``find(data_dir, split)``; a required one missing is a
    :class:`UserError` naming ``field``."""
    if explicit:
        return explicit
    path = find(data_dir, split) if data_dir else None
    if path is None and required:
        where = f"no {split} file in data_dir {data_dir}" if data_dir else "no data_dir"
        raise UserError.of_field(field, f"is needed ({where}); give {field} or a data_dir holding it")
    return path


def open_span_job(cfg: Any, find: Callable[[str, str], str | None]) -> tuple[Any, str | None, str | None, str | None]:
    """What ``tinybert ner`` and ``tinybert mrc`` check before any work, and their files: the output not among the
    inputs (and, when training, no finished run in it: :func:`tinybert.train.start_run`), then the train, dev and
    predict files each of ``do_train``/``do_eval``/``do_predict`` needs. Returns ``(training, train, dev, predict)``."""
    import dataclasses

    from tinybert.train import start_run
    from tinybert.utils.paths import check_output_location

    if cfg.do_train:
        training = start_run(cfg.output_dir, cfg.input_paths(), cfg.training)
    else:
        check_output_location(cfg.output_dir, cfg.input_paths())
        training = dataclasses.replace(cfg.training, output_dir=cfg.output_dir)
    files = (split_file(getattr(cfg, f"{name}_file"), cfg.data_dir, split, find, f"{name}_file", needed)
             for name, split, needed in (("train", "train", cfg.do_train), ("dev", "dev", cfg.do_eval),
                                         ("predict", "test", cfg.do_predict)))
    return (training, *files)


def unwrap(model: nn.Module) -> nn.Module:
    """The transformers model inside a TinyBERT student (a plain model as it is)."""
    from tinybert.models.student import TinyBertStudent

    return model.model if isinstance(model, TinyBertStudent) else model


def build_model(cfg: Any, head: str, vocab_size: int, id2label: Mapping[int, str] | None = None) -> nn.Module:
    """``cfg.model`` with ``head`` (fresh head weights when the folder has none), or with ``cfg.from_scratch`` a
    randomly initialised model of that config's size (the label-only baseline)."""
    from tinybert.models.checkpoint import load_model, model_class
    from tinybert.models.student import read_student_config

    labels = {"num_labels": len(id2label), "id2label": dict(id2label),
              "label2id": {v: k for k, v in id2label.items()}} if id2label is not None else {}
    if not cfg.from_scratch:
        return load_model(cfg.model, head=head, **labels)
    config = read_student_config(cfg.model)
    if config.vocab_size != vocab_size:
        raise UserError.at(cfg.model, f"vocab_size {config.vocab_size} differs from the {vocab_size} tokens of the "
                                      f"tokenizer (vocab)")
    for key, value in labels.items():
        setattr(config, key, value)
    return model_class(config, head)(config)


def token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the labelled positions (first pieces) of a token-classification batch."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=IGNORE_INDEX)


def span_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start: torch.Tensor,
              end: torch.Tensor) -> torch.Tensor:
    """Mean of the start and end cross-entropies (BERT's reading-comprehension loss)."""
    return (F.cross_entropy(start_logits.float(), start) + F.cross_entropy(end_logits.float(), end)) / 2


def token_logits(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return (unwrap(model)(**model_inputs(dict(batch))).logits,)


def span_logits(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    out = unwrap(model)(**model_inputs(dict(batch)))
    return out.start_logits, out.end_logits


def window_outputs(model: nn.Module, dataset: TaskDataset, batch_size: int,
                   forward: Callable[[nn.Module, Mapping[str, torch.Tensor]], tuple[torch.Tensor, ...]],
                   desc: str = "eval") -> list[tuple[np.ndarray, ...]]:
    """``forward``'s outputs (float32, each (batch, length, ...)) for every row of ``dataset``, in dataset order, cut
    to the row's length; eval mode under ``inference_mode`` (the model's mode restored after)."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise UserError.of_field("eval_batch_size", f"must be >= 1, got {batch_size}")
    device = next(model.parameters()).device
    lengths = dataset.features["lengths"].numpy()
    order = np.argsort(-lengths, kind="stable")
    out: list[tuple[np.ndarray, ...]] = [()] * len(order)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for lo in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False):
                rows = order[lo:lo + batch_size]
                batch = {k: v.to(device) for k, v in collate([dataset[int(i)] for i in rows]).items()}
                results = [t.float().cpu().numpy() for t in forward(model, batch)]
                for j, row in enumerate(rows.tolist()):
                    out[row] = tuple(r[j, :lengths[row]] for r in results)
    finally:
        model.train(was_training)
    return out


# ----------------------------------------------------------------------------------------------------- NER


class NerEvaluator:
    """Entity precision/recall/F1 (micro, and per type), token accuracy of a token classifier on one NER file;
    the training loop's evaluator. ``last`` holds the latest metrics."""

    def __init__(self, ner_file: Any, tokenizer: Any, id2label: Mapping[int, str], max_seq_length: int,
                 stride: int | None, batch_size: int, strict: bool | None = None, gold: bool = True,
                 labels_from: str = "the model (its id2label)") -> None:
        """``gold`` False: only tag the file (its tags, if any, are neither checked nor used); ``labels_from``
        names where the labels came from in the error about an unknown gold label."""
        from tinybert.data.ner import check_labels, encode_ner
        from tinybert.metrics_ner import is_bioes

        self.file, self.batch_size = ner_file, batch_size
        self.id2label = {int(k): v for k, v in id2label.items()}
        label2id = {v: k for k, v in self.id2label.items()}
        sentences = ner_file.sentences
        if gold and ner_file.labelled:
            check_labels(ner_file, label2id, labels_from)
        elif not gold:
            sentences = [dataclasses.replace(s, tags=None) for s in sentences]
        self.strict = is_bioes(label2id) if strict is None else strict
        self.features = encode_ner(sentences, tokenizer, label2id, max_seq_length, stride)
        self.dataset = TaskDataset({k: v for k, v in self.features.items() if k != "sentence"})
        self.last: dict[str, float] = {}

    def predict_tags(self, model: nn.Module) -> list[list[str]]:
        from tinybert.data.ner import assemble

        outputs = window_outputs(model, self.dataset, self.batch_size, token_logits, desc="ner")
        ids = assemble(self.features, [o[0].argmax(axis=-1) for o in outputs],
                       [len(s.tokens) for s in self.file.sentences])
        return [[self.id2label[i] for i in row] for row in ids]

    def evaluate(self, model: nn.Module, step: int | None = None) -> dict[str, float]:
        from tinybert.metrics_ner import entity_scores, token_accuracy

        gold = [s.tags for s in self.file.sentences]
        pred = self.predict_tags(model)
        result = entity_scores(gold, pred, strict=self.strict)
        result["token_acc"] = token_accuracy(gold, pred)
        if step is not None:
            result["global_step"] = float(step)
        self.last = result
        logger.info("dev: entity f1 %.4f (precision %.4f, recall %.4f)", result["f1"], result["precision"],
                    result["recall"])
        return result


# ----------------------------------------------------------------------------------------------------- MRC


class MrcEvaluator:
    """EM, F1 and their average (percent; CMRC2018's metric for Chinese, SQuAD v1.1's for English) of a span model
    on one SQuAD/CMRC file; the training loop's evaluator. ``last`` / ``last_predictions`` hold the latest."""

    def __init__(self, examples: Sequence[Any], tokenizer: Any, cfg: Any) -> None:
        from tinybert.data.mrc import encode_mrc
        from tinybert.metrics_mrc import is_chinese

        self.cfg, self.examples = cfg, list(examples)
        self.features = encode_mrc(self.examples, tokenizer, cfg.max_seq_length, cfg.doc_stride or 128,
                                   cfg.max_query_length)
        arrays = {k: v for k, v in self.features.arrays.items() if k not in ("start_positions", "end_positions")}
        self.dataset = TaskDataset(arrays)
        self.language = cfg.language if cfg.language != "auto" else (
            "zh" if is_chinese([ex.context for ex in self.examples]) else "en")
        self.last: dict[str, float] = {}
        self.last_predictions: tuple[dict[str, str], dict[str, Any]] = ({}, {})

    def predict(self, model: nn.Module) -> tuple[dict[str, str], dict[str, Any]]:
        """({question id: answer}, n-best lists) from the model's start/end logits."""
        from tinybert.data.mrc import best_answers

        outputs = window_outputs(model, self.dataset, self.cfg.eval_batch_size, span_logits, desc="mrc")
        shape = self.features.arrays["input_ids"].shape
        starts, ends = np.full(shape, -1e4, dtype=np.float32), np.full(shape, -1e4, dtype=np.float32)
        for r, (start, end) in enumerate(outputs):
            starts[r, :len(start)], ends[r, :len(end)] = start, end
        self.last_predictions = best_answers(self.features, starts, ends, self.cfg.n_best_size,
                                             self.cfg.max_answer_length, self.cfg.version_2_with_negative,
                                             self.cfg.null_score_diff_threshold)
        return self.last_predictions

    def evaluate(self, model: nn.Module, step: int | None = None) -> dict[str, float]:
        from tinybert.data.mrc import references
        from tinybert.metrics_mrc import score_predictions

        predictions, _ = self.predict(model)
        scores = score_predictions(references(self.examples), predictions, self.language, warn=False)
        result = {"em": scores["EM"], "f1": scores["F1"], "average": scores["AVERAGE"]}
        if step is not None:
            result["global_step"] = float(step)
        self.last = result
        logger.info("dev: EM %.3f F1 %.3f (%s metric)", result["em"], result["f1"],
                    "CMRC2018" if self.language == "zh" else "SQuAD v1.1")
        return result


# ----------------------------------------------------------------------------------------------------- outputs


def ner_outputs(cfg: Any, model: nn.Module, tokenizer: Any, dev: Any, predict_path: str | None
                ) -> tuple[dict[str, float], str | None]:
    """With ``cfg.do_eval``: dev metrics into ``output_dir/eval_results.txt``; with ``cfg.do_predict``: the tags
    of ``predict_path`` in its own format (``output_dir/test_predictions.<ext>``). Returns (metrics, that file)."""
    from tinybert.data.ner import read_ner_file, write_ner_file
    from tinybert.evaluate import write_eval_results

    os.makedirs(cfg.output_dir, exist_ok=True)
    settings = (tokenizer, unwrap(model).config.id2label, cfg.max_seq_length, cfg.doc_stride, cfg.eval_batch_size,
                cfg.strict)
    metrics: dict[str, float] = {}
    path = None
    if cfg.do_eval and dev is not None:
        metrics = NerEvaluator(dev, *settings).evaluate(model)
        write_eval_results(cfg.output_dir, metrics)
    if cfg.do_predict and predict_path:
        test = read_ner_file(predict_path, cfg.ner_format)
        tags = NerEvaluator(test, *settings, gold=False).predict_tags(model)
        path = os.path.join(cfg.output_dir, "test_predictions" + os.path.splitext(predict_path)[1])
        write_ner_file(path, test, tags)
        logger.info("wrote %d tagged sentences to %s", len(tags), path)
    return metrics, path


def mrc_outputs(cfg: Any, model: nn.Module, tokenizer: Any, dev: Any, predict_path: str | None
                ) -> tuple[dict[str, float], str | None]:
    """With ``cfg.do_eval``: dev EM/F1 into ``output_dir/eval_results.txt`` and the dev answers into
    ``dev_predictions.json``; with ``cfg.do_predict``: ``predictions.json`` and ``nbest_predictions.json`` of
    ``predict_path``. Returns (metrics, the predictions file)."""
    from tinybert.data.mrc import read_mrc_file, write_predictions
    from tinybert.evaluate import write_eval_results

    os.makedirs(cfg.output_dir, exist_ok=True)
    metrics: dict[str, float] = {}
    path = None
    if cfg.do_eval and dev is not None:
        evaluator = MrcEvaluator(dev, tokenizer, cfg)
        metrics = evaluator.evaluate(model)
        write_eval_results(cfg.output_dir, metrics)
        write_predictions(cfg.output_dir, *evaluator.last_predictions, prefix="dev_")
    if cfg.do_predict and predict_path:
        predictions, nbest = MrcEvaluator(read_mrc_file(predict_path), tokenizer, cfg).predict(model)
        path, _ = write_predictions(cfg.output_dir, predictions, nbest)
        logger.info("wrote %d answers to %s", len(predictions), path)
    return metrics, path
