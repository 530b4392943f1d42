"""``tinybert ner``: fine-tune (``--do_train``), evaluate (``--do_eval``) or apply (``--do_predict``) a BERT-family
or NEZHA token classifier on char-per-line BIO, CoNLL-2003, CLUENER or tokens/tags JSON-lines files."""

from __future__ import annotations

import argparse

from tinybert.cli.span_flags import add_span_arguments
from tinybert.config.base import from_namespace
from tinybert.config.span import NerConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_span_arguments(parser, NerConfig, "NER")
    g = parser.add_argument_group("sequence labelling")
    g.add_argument("--ner_format", choices=("auto", "char", "conll", "cluener", "jsonl"), default="auto",
                   help="file format (default: detected from the file)")
    g.add_argument("--labels", help="label file, one per line (default: the training set's labels)")
    strict = g.add_mutually_exclusive_group()
    strict.add_argument("--strict", dest="strict", action="store_true", default=None,
                        help="seqeval strict mode: only well-formed entities count (default for BIOES/BMES labels)")
    strict.add_argument("--no_strict", dest="strict", action="store_false",
                        help="seqeval default (conlleval) mode even for BIOES labels")


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.ner import run_ner

    run_ner(from_namespace(NerConfig, args))
    return 0
