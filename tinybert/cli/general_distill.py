"""``general_distill.py`` / ``tinybert general-distill``: the original TinyBERT flags, plus resume, bf16, layer maps."""

from __future__ import annotations

import argparse
import logging

logger = logging.getLogger("tinybert.general_distill")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tinybert.cli.flags import add_training_arguments

    a = parser.add_argument
    a("--pregenerated_data", required=True, help="directory written by pregenerate_training_data.py")
    a("--teacher_model", required=True, help="pretrained BERT-family or NEZHA folder (any supported format)")
    a("--student_model", required=True,
      help="a student config folder (config.json, e.g. student_configs/tinybert_4l_312d), or with --continue_train "
           "a student folder with weights")
    a("--output_dir", required=True, help="where the student (a Hugging Face folder), logs and checkpoints go")
    a("--max_seq_length", type=int, default=128, help="longest sequence of the data (default %(default)s)")
    a("--reduce_memory", action="store_true", help="memory-map the binary shards instead of reading them into RAM")
    a("--do_lower_case", action="store_true",
      help="accepted for compatibility: lower-casing was decided when the data was pregenerated")
    a("--continue_train", action="store_true", help="start from the weights in --student_model")
    a("--layer_map", default="uniform",
      help="'uniform' (teacher layers k, 2k, ..., T), 'last', or a JSON file of {kind, student, teacher, weight}")
    a("--projection", choices=("shared", "per_layer"), default="shared",
      help="one shared student->teacher width projection (original) or one per hidden state (default %(default)s)")
    a("--attention_loss", choices=("tinybert", "masked"), default="tinybert",
      help="'tinybert': the original (masked scores zeroed on both sides, mean over all entries); 'masked': mean "
           "over real query/key pairs only (default %(default)s)")
    add_training_arguments(
        parser,
        defaults={"learning_rate": 5e-5, "weight_decay": 1e-4, "num_train_epochs": 3.0, "eval_steps": 1000,
                  "save_steps": 1000, "train_batch_size": 32},
    )


def describe_pair(teacher_config, student_config) -> str:
    t, s = teacher_config, student_config
    return (
        f"teacher {t.model_type} {t.num_hidden_layers}L/{t.hidden_size}H/{t.num_attention_heads} heads -> "
        f"student {s.model_type} {s.num_hidden_layers}L/{s.hidden_size}H/{s.num_attention_heads} heads"
    )


def run(args: argparse.Namespace) -> int:
    from tinybert.config.base import from_namespace
    from tinybert.data.pregenerated import EpochPregeneratedData, collate_trimmed
    from tinybert.distill.layer_map import load_layer_map
    from tinybert.distill.objective import IntermediateObjective
    from tinybert.errors import UserError, require_dir
    from tinybert.models.checkpoint import load_model, position_limit
    from tinybert.models.student import build_student, load_student
    from tinybert.models.tokenizer import load_tokenizer
    from tinybert.models.view import frozen
    from tinybert.train import Trainer, TrainingArguments, check_output_dir, set_seed

    targs = from_namespace(TrainingArguments, args, output_dir=args.output_dir)
    check_output_dir(args.output_dir, args.overwrite_output_dir, args.resume)  # before any work
    require_dir(args.pregenerated_data, "pregenerated data directory")
    set_seed(args.seed)

    teacher = frozen(load_model(args.teacher_model, head="base"))
    tcfg = teacher.config
    limit = position_limit(tcfg)
    if limit is not None and args.max_seq_length > limit:
        raise UserError.at(args.teacher_model, f"--max_seq_length {args.max_seq_length} exceeds the teacher's "
                                               f"max_position_embeddings {limit}")
    tokenizer = load_tokenizer(args.teacher_model)
    vocab = tokenizer.get_vocab()  # {token: id}, already read and checked by load_tokenizer
    if args.continue_train:
        student = load_student(args.student_model, tcfg.hidden_size, head="base", projection=args.projection)
        if student.config.vocab_size != tcfg.vocab_size:
            raise UserError.at(args.student_model, f"student vocab_size {student.config.vocab_size} differs from the "
                                                   f"teacher's {tcfg.vocab_size}")
    else:
        student = build_student(args.student_model, tcfg, head="base", projection=args.projection)
    scfg = student.config
    layer_map = load_layer_map(args.layer_map, scfg.num_hidden_layers, tcfg.num_hidden_layers)
    logger.info("%s", describe_pair(tcfg, scfg))
    logger.info("layer map: %s", layer_map.describe())
    if scfg.num_attention_heads != tcfg.num_attention_heads:
        logger.info("head counts differ (%d vs %d): attention maps are compared averaged over heads",
                    scfg.num_attention_heads, tcfg.num_attention_heads)
    for p in student.non_encoder_parameters():  # pooler: unused by the intermediate losses
        p.requires_grad_(False)

    data = EpochPregeneratedData(args.pregenerated_data, vocab, args.max_seq_length, args.reduce_memory)
    objective = IntermediateObjective(teacher, layer_map, args.attention_loss)

    def save(model, directory: str) -> None:
        model.save_pretrained(directory, tokenizer=tokenizer)

    trainer = Trainer(
        targs, student, data, collate_trimmed, objective, frozen=[teacher], save_fn=save,
        save_every_eval=True,  # the latest student in output_dir at every --eval_step (and at the end)
    )
    result = trainer.train()
    logger.info("done: %d steps, %.1f samples/s, final loss %s; student in %s", result.global_step,
                result.samples_per_second, f"{result.loss:.4g}" if result.loss is not None else "-", args.output_dir)
    return 0
