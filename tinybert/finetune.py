"""Teacher finetuning: any BERT-family or NEZHA model plus the standard transformers classification head, trained
on a task's gold labels with the one training loop; dev evaluated every ``--eval_step``, the best model kept.

The output folder is a plain Hugging Face folder (``AutoModelForSequenceClassification`` loads it) with the
tokenizer, the task's ``id2label``/``label2id``, ``eval_results.txt`` of the kept model and ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import logging
import os

from torch import nn

from tinybert.config.base import from_namespace
from tinybert.data.task_features import collate
from tinybert.data.tasks import label_maps
from tinybert.errors import UserError
from tinybert.evaluate import (
    DevEvaluator,
    best_metric_key,
    classifier_logits,
    dev_sets,
    encode_split,
    load_task,
    lower_case_flag,
    task_loss,
    write_eval_results,
)
from tinybert.train import Trainer, TrainingArguments, TrainResult, check_output_dir, set_seed

logger = logging.getLogger(__name__)


def _fresh_model(config_path: str, vocab_size: int, num_labels: int, id2label: dict[int, str]) -> nn.Module:
    """A randomly initialised classifier from a config file or folder (the label-only baseline)."""
    from tinybert.models.checkpoint import model_class
    from tinybert.models.student import read_student_config

    config = read_student_config(config_path)
    if config.vocab_size != vocab_size:
        raise UserError.at(config_path, f"vocab_size {config.vocab_size} differs from --vocab's {vocab_size} tokens")
    config.num_labels = num_labels
    config.id2label = dict(id2label)
    config.label2id = {v: k for k, v in id2label.items()}
    return model_class(config, "sequence_classification")(config)


def run_finetune(args: argparse.Namespace) -> TrainResult:
    """Fine-tune ``args.model`` on ``args.task_name`` into ``args.output_dir`` (flags of ``tinybert finetune``)."""
    from tinybert.models.checkpoint import load_model, save_model
    from tinybert.models.tokenizer import load_tokenizer

    if os.path.realpath(args.output_dir) == os.path.realpath(args.model):
        raise UserError(f"--output_dir {args.output_dir} is the --model folder; give a new folder")
    check_output_dir(args.output_dir, args.overwrite_output_dir, args.resume)
    spec = load_task(args)
    from_scratch = getattr(args, "from_scratch", False)
    if from_scratch and not getattr(args, "vocab", None):
        raise UserError("--from_scratch needs --vocab (a model folder or vocab.txt) for the tokenizer")
    tokenizer = load_tokenizer(args.vocab if from_scratch else args.model, lower_case_flag(args))
    dev = dev_sets(spec, args.data_dir, tokenizer, args.max_seq_length)
    train = encode_split(spec, args.data_dir, "train_aug" if args.aug_train else "train", tokenizer,
                         args.max_seq_length)
    id2label, label2id = label_maps(spec)
    set_seed(args.seed)  # the classification head is initialised here
    if from_scratch:
        model = _fresh_model(args.model, len(tokenizer.get_vocab()), spec.num_labels, id2label)
    else:
        model = load_model(args.model, head="sequence_classification", num_labels=spec.num_labels,
                           id2label=id2label, label2id=label2id)
    regression = spec.output_mode == "regression"

    def loss_fn(m: nn.Module, batch: dict) -> object:
        return task_loss(classifier_logits(m, batch), batch["labels"], regression)

    evaluator = DevEvaluator(spec, dev, args.eval_batch_size)

    def save(m: nn.Module, directory: str) -> None:
        save_model(m, directory, tokenizer=tokenizer)
        write_eval_results(directory, evaluator.last)

    trainer = Trainer(from_namespace(TrainingArguments, args), model, train, collate, loss_fn, evaluator=evaluator,
                      metric_for_best=best_metric_key(spec), save_fn=save)
    result = trainer.train()
    logger.info("best %s = %s at step %s; model in %s", best_metric_key(spec), result.best_metric, result.best_step,
                args.output_dir)
    return result
