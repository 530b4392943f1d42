"""``tinybert mrc-distill``: task distillation of a reading-comprehension student (stage 1; ``--pred_distill``
stage 2), or with ``--do_eval`` alone the evaluation of a student."""

from __future__ import annotations

import argparse

from tinybert.cli.span_flags import add_mrc_arguments, add_span_arguments
from tinybert.config.base import from_namespace
from tinybert.config.span import MrcDistillConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_span_arguments(parser, MrcDistillConfig, "SQuAD/CMRC2018 JSON", distill=True)
    add_mrc_arguments(parser, MrcDistillConfig)


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.span_distill import run_mrc_distill

    run_mrc_distill(from_namespace(MrcDistillConfig, args, do_train=not args.do_eval))
    return 0
