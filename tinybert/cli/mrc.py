"""``tinybert mrc``: fine-tune (``--do_train``), evaluate (``--do_eval``) or apply (``--do_predict``) a BERT-family
or NEZHA extractive reading-comprehension model on SQuAD v1.1 / CMRC2018 JSON files."""

from __future__ import annotations

import argparse

from tinybert.cli.span_flags import add_mrc_arguments, add_span_arguments
from tinybert.config.base import from_namespace
from tinybert.config.span import MrcConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_span_arguments(parser, MrcConfig, "SQuAD/CMRC2018 JSON")
    add_mrc_arguments(parser, MrcConfig)


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.mrc import run_mrc

    run_mrc(from_namespace(MrcConfig, args))
    return 0
