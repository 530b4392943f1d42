"""Teacher finetuning: any BERT-family or NEZHA model plus the standard transformers classification head, trained
on a task's gold labels with the one training loop; dev evaluated every ``eval_steps``, the best model kept.

The output folder is a plain Hugging Face folder (``AutoModelForSequenceClassification`` loads it) with the
tokenizer, the task's ``id2label``/``label2id``, ``eval_results.txt`` of the kept model and ``metrics.jsonl``.
"""

from __future__ import annotations

import logging

from torch import nn

from tinybert.config.finetune import FinetuneConfig
from tinybert.data.task_features import collate
from tinybert.data.tasks import label_maps
from tinybert.errors import UserError
from tinybert.evaluate import (
    DevEvaluator,
    best_metric_key,
    classifier_logits,
    dev_sets,
    encode_split,
    task_loss,
    write_eval_results,
)
from tinybert.models.checkpoint import check_sequence_length, load_model, model_class, save_model
from tinybert.models.layer_subset import keep_layers
from tinybert.models.student import read_student_config
from tinybert.models.tokenizer import load_tokenizer
from tinybert.train import Trainer, TrainResult, set_seed, start_run

logger = logging.getLogger(__name__)


def run_finetune(cfg: FinetuneConfig) -> TrainResult:
    """Fine-tune ``cfg.model`` on ``cfg.task`` into ``cfg.output_dir``; return the loop's result (best dev metric)."""
    training = start_run(cfg.output_dir, cfg.input_paths(), cfg.training)  # before any work
    task = cfg.task
    spec = task.spec()
    tokenizer = load_tokenizer(cfg.vocab if cfg.from_scratch else cfg.model, task.do_lower_case)
    dev = dev_sets(spec, task.data_dir, tokenizer, task.max_seq_length)
    train = encode_split(spec, task.data_dir, task.train_split, tokenizer, task.max_seq_length)
    id2label, label2id = label_maps(spec)
    set_seed(training.seed)  # the classification head is initialised here
    if cfg.from_scratch:
        model = _fresh_classifier(cfg.model, len(tokenizer.get_vocab()), spec.num_labels, id2label)
    else:
        model = load_model(cfg.model, head="sequence_classification", num_labels=spec.num_labels,
                           id2label=id2label, label2id=label2id)
        if cfg.keep_layers:
            model = keep_layers(model, cfg.keep_layers, cfg.model)
    check_sequence_length(task.max_seq_length, model.config, cfg.model)
    regression = spec.output_mode == "regression"

    def loss_fn(classifier: nn.Module, batch: dict) -> object:
        return task_loss(classifier_logits(classifier, batch), batch["labels"], regression)

    evaluator = DevEvaluator(spec, dev, task.eval_batch_size)

    def save(classifier: nn.Module, directory: str) -> None:
        save_model(classifier, directory, tokenizer=tokenizer)
        write_eval_results(directory, evaluator.last)

    trainer = Trainer(training, model, train, collate, loss_fn, evaluator=evaluator,
                      metric_for_best=best_metric_key(spec), save_fn=save)
    result = trainer.train()
    logger.info("best %s = %s at step %s; model in %s", best_metric_key(spec), result.best_metric, result.best_step,
                cfg.output_dir)
    return result


def _fresh_classifier(config_path: str, vocab_size: int, num_labels: int, id2label: dict[int, str]) -> nn.Module:
    """A randomly initialised classifier from a config file or folder (the label-only baseline)."""
    config = read_student_config(config_path)
    if config.vocab_size != vocab_size:
        raise UserError.at(config_path, f"vocab_size {config.vocab_size} differs from the {vocab_size} tokens of "
                                        "the tokenizer (vocab)")
    config.num_labels = num_labels
    config.id2label = dict(id2label)
    config.label2id = {v: k for k, v in id2label.items()}
    return model_class(config, "sequence_classification")(config)
