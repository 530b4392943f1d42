"""``tinybert ner``: fine-tune (``--do_train``), evaluate (``--do_eval``) or apply (``--do_predict``) a BERT-family
or NEZHA token classifier on char-per-line BIO, CoNLL-2003, CLUENER or tokens/tags JSON-lines files."""

from __future__ import annotations

import argparse

from tinybert.cli.span_flags import add_ner_arguments, add_span_arguments
from tinybert.config.base import from_namespace
from tinybert.config.span import NerConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_span_arguments(parser, NerConfig, "NER")
    add_ner_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.ner import run_ner

    run_ner(from_namespace(NerConfig, args))
    return 0
