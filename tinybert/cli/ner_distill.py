"""``tinybert ner-distill``: task distillation of an NER student (stage 1; ``--pred_distill`` stage 2), or with
``--do_eval`` alone the evaluation of a student."""

from __future__ import annotations

import argparse

from tinybert.cli.span_flags import add_ner_arguments, add_span_arguments
from tinybert.config.base import from_namespace
from tinybert.config.span import NerDistillConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_span_arguments(parser, NerDistillConfig, "NER", distill=True)
    add_ner_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.span_distill import run_ner_distill

    run_ner_distill(from_namespace(NerDistillConfig, args, do_train=not args.do_eval))
    return 0
