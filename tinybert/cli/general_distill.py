"""``general_distill.py`` / ``tinybert general-distill``: the original TinyBERT flags, plus resume, bf16, layer maps."""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.cli.flags import add_training_arguments
from tinybert.config.base import field_defaults, from_namespace
from tinybert.config.distill import ATTENTION_LOSSES, PROJECTIONS, GeneralDistillConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = {f.name: f.default for f in dataclasses.fields(GeneralDistillConfig)}
    a = parser.add_argument
    a("--pregenerated_data", required=True, help="directory written by pregenerate_training_data.py")
    a("--teacher_model", required=True, help="pretrained BERT-family or NEZHA folder (any supported format)")
    a("--student_model", required=True,
      help="a student config folder (config.json, e.g. student_configs/tinybert_4l_312d), or with --continue_train "
           "a student folder with weights")
    a("--output_dir", required=True, help="where the student (a Hugging Face folder), logs and checkpoints go")
    a("--max_seq_length", type=int, default=d["max_seq_length"],
      help="longest sequence of the data (default %(default)s)")
    a("--reduce_memory", action="store_true", help="memory-map the binary shards instead of reading them into RAM")
    a("--do_lower_case", action="store_true",
      help="accepted for compatibility: lower-casing was decided when the data was pregenerated")
    a("--continue_train", action="store_true", help="start from the weights in --student_model")
    a("--layer_map", default=d["layer_map"],
      help="'uniform' (teacher layers k, 2k, ..., T), 'last', or a JSON file of {kind, student, teacher, weight}")
    a("--projection", choices=PROJECTIONS, default=d["projection"],
      help="one shared student->teacher width projection (original) or one per hidden state (default %(default)s)")
    a("--attention_loss", choices=ATTENTION_LOSSES, default=d["attention_loss"],
      help="'tinybert': the original (masked scores zeroed on both sides, mean over all entries); 'masked': mean "
           "over real query/key pairs only (default %(default)s)")
    add_training_arguments(parser, field_defaults(GeneralDistillConfig, "training"))


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.general_distill import run_general_distill

    run_general_distill(from_namespace(GeneralDistillConfig, args))
    return 0
