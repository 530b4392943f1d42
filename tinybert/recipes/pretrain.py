"""NEZHA / BERT pretraining (masked LM, optionally with next-sentence prediction) on pregenerated shards.

Resolve a config (a preset of ``tinybert/presets/`` or a JSON file) or load a checkpoint for continued pretraining
(adapted to a new vocabulary on request), read the pregenerated data epoch by epoch, and hand
:class:`~tinybert.models.pretraining.PretrainingObjective` to the one training loop. The output folder holds a
``NezhaForPreTraining`` / ``BertForPreTraining`` model (``...ForMaskedLM`` with ``target="mlm"``) and the tokenizer.
"""

from __future__ import annotations

import logging

from tinybert.config.pretrain import PretrainConfig
from tinybert.data.pregenerated import EpochPregeneratedData, collate_pretraining
from tinybert.errors import UserError, require_dir
from tinybert.models.checkpoint import check_sequence_length, save_model
from tinybert.models.pretraining import (
    ARCHITECTURE_FIELDS,
    PretrainingObjective,
    build_model_config,
    config_model_type,
    load_pretrained,
    new_model,
    pretraining_step,
    read_model_config,
)
from tinybert.models.tokenizer import load_tokenizer, read_vocab, vocab_path
from tinybert.train import Trainer, TrainResult, start_run

logger = logging.getLogger(__name__)


def run_pretraining(cfg: PretrainConfig) -> TrainResult:
    """Pretrain (or continue pretraining) into ``cfg.output_dir``; return the loop's result."""
    training = start_run(cfg.output_dir, cfg.input_paths(), cfg.training)  # before any work
    require_dir(cfg.dataset_path, "pregenerated data directory (dataset_path)")
    if cfg.pretrained_model_path:
        require_dir(cfg.pretrained_model_path, "model folder (pretrained_model_path)")
    vocab_file = cfg.vocab_path or vocab_path(cfg.pretrained_model_path)
    tokens = read_vocab(vocab_path(vocab_file))
    tokenizer = load_tokenizer(vocab_file, do_lower_case=cfg.do_lower_case)

    if cfg.pretrained_model_path:
        model = load_pretrained(cfg.pretrained_model_path, cfg.target, cfg.model_type, tokens, cfg.adapt_vocab,
                                training.seed)
        if cfg.config_path:  # UER passes both; the checkpoint's config decides, the given one must agree
            data, where = read_model_config(cfg.config_path, model.config.model_type)
            build_model_config(data, model.config.model_type, len(tokens), where,
                               against=f"the checkpoint {cfg.pretrained_model_path}")
            differ = [f"{name} {data[name]} vs {getattr(model.config, name)}" for name in ARCHITECTURE_FIELDS
                      if name in data and data[name] != getattr(model.config, name)]
            if differ:
                raise UserError(f"{where}: disagrees with {cfg.pretrained_model_path} ({'; '.join(differ)}); drop "
                                "config_path to continue from the checkpoint's own config", field="config_path")
        source = f"continuing from {cfg.pretrained_model_path}"
    else:
        data, where = read_model_config(cfg.config_path or "base", cfg.model_type)
        model_type = cfg.model_type or config_model_type(data) or "nezha"
        model = new_model(build_model_config(data, model_type, len(tokens), where), cfg.target, training.seed)
        source = f"from scratch ({where})"
    config = model.config
    check_sequence_length(cfg.max_seq_length, config)
    data = EpochPregeneratedData(cfg.dataset_path, tokens, cfg.max_seq_length, cfg.reduce_memory)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("pretraining %s %s, %dL/%dH/%d heads, %.1fM parameters, vocab %d, target %s, %d examples per epoch",
                config.model_type, source, config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                n_params / 1e6, config.vocab_size, cfg.target, len(data))

    def save(objective: PretrainingObjective, directory: str) -> None:
        save_model(objective.model, directory, tokenizer=tokenizer)

    trainer = Trainer(training, PretrainingObjective(model, cfg.target), data, collate_pretraining, pretraining_step,
                      save_fn=save)
    result = trainer.train()
    logger.info("done: %d steps, %.1f samples/s, final loss %s; model in %s", result.global_step,
                result.samples_per_second, f"{result.loss:.4g}" if result.loss is not None else "-", cfg.output_dir)
    return result
