"""General distillation (``general_distill.py``): a student learns a pretrained teacher's attention scores and hidden
states (embedding output included) on pregenerated shards, through a layer map. Read top to bottom."""

from __future__ import annotations

import logging

from tinybert.config.distill import GeneralDistillConfig
from tinybert.data.pregenerated import EpochPregeneratedData, collate_trimmed
from tinybert.distill.layer_map import load_layer_map
from tinybert.distill.spec import general_distillation, with_layer_map
from tinybert.distill.trainer import distillation_trainer
from tinybert.errors import UserError, require_dir
from tinybert.models.checkpoint import check_shared_vocabulary, load_model, position_limit
from tinybert.models.student import build_student, load_student
from tinybert.models.tokenizer import load_tokenizer
from tinybert.models.view import frozen
from tinybert.train import TrainResult, set_seed, start_run

logger = logging.getLogger("tinybert.general_distill")


def describe_pair(teacher_config, student_config) -> str:
    t, s = teacher_config, student_config
    return (f"teacher {t.model_type} {t.num_hidden_layers}L/{t.hidden_size}H/{t.num_attention_heads} heads -> "
            f"student {s.model_type} {s.num_hidden_layers}L/{s.hidden_size}H/{s.num_attention_heads} heads")


def run_general_distill(cfg: GeneralDistillConfig) -> TrainResult:
    """Distil ``cfg.teacher_model`` into a student built from ``cfg.student_model`` (or, with ``continue_train``,
    loaded from it); the latest student is in ``cfg.output_dir`` at every eval step and at the end."""
    # 0. Refuse early, before any loading: an output among the inputs, a finished run, missing data.
    training = start_run(cfg.output_dir, cfg.input_paths(), cfg.training)  # before any work
    require_dir(cfg.pregenerated_data, "pregenerated data directory")
    set_seed(training.seed)  # the teacher's and a new student's initialisation draw from it

    # 1. Teacher (its vocabulary feeds the data), student.
    teacher = frozen(load_model(cfg.teacher_model, head="base"))
    tcfg = teacher.config
    limit = position_limit(tcfg)
    if limit is not None and cfg.max_seq_length > limit:
        raise UserError.of_field("max_seq_length", f"{cfg.max_seq_length} exceeds the teacher's "
                                                   f"max_position_embeddings {limit}", path=cfg.teacher_model)
    tokenizer = load_tokenizer(cfg.teacher_model)
    if cfg.continue_train:
        student = load_student(cfg.student_model, tcfg.hidden_size, head="base", projection=cfg.projection)
        if student.config.vocab_size != tcfg.vocab_size:
            raise UserError.at(cfg.student_model, f"student vocab_size {student.config.vocab_size} differs from the "
                                                  f"teacher's {tcfg.vocab_size}")
        check_shared_vocabulary(cfg.teacher_model, cfg.student_model)  # same tokens in the same order
    else:
        student = build_student(cfg.student_model, tcfg, head="base", projection=cfg.projection)
    scfg = student.config

    # 2. What the student learns from which teacher layer.
    layer_map = load_layer_map(cfg.layer_map, scfg.num_hidden_layers, tcfg.num_hidden_layers)
    logger.info("%s", describe_pair(tcfg, scfg))
    if scfg.num_attention_heads != tcfg.num_attention_heads:
        logger.info("head counts differ (%d vs %d): attention maps are compared averaged over heads",
                    scfg.num_attention_heads, tcfg.num_attention_heads)
    spec = (general_distillation(layer_map, cfg.attention_loss) if cfg.distill_spec is None
            else with_layer_map(cfg.distill_spec, cfg.layer_map, scfg.num_hidden_layers, tcfg.num_hidden_layers))

    # 3. The data and the one training loop; the latest student is published at every eval step and at the end.
    data = EpochPregeneratedData(cfg.pregenerated_data, tokenizer.get_vocab(), cfg.max_seq_length, cfg.reduce_memory)

    def save(model, directory: str) -> None:
        model.save_pretrained(directory, tokenizer=tokenizer)

    trainer, _ = distillation_trainer(training, student, teacher, spec, data, collate_trimmed, save)
    result = trainer.train()
    logger.info("done: %d steps, %.1f samples/s, final loss %s; student in %s", result.global_step,
                result.samples_per_second, f"{result.loss:.4g}" if result.loss is not None else "-", cfg.output_dir)
    return result


__all__ = ["describe_pair", "run_general_distill"]
