"""``tinybert build-vocab``: a BERT WordPiece ``vocab.txt`` learnt from a corpus (:mod:`tinybert.data.vocab`)."""

from __future__ import annotations

import argparse

from tinybert.config.base import from_namespace
from tinybert.config.vocab import BuildVocabConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input_file", required=True, nargs="+", help="corpus files or globs (UTF-8 text)")
    parser.add_argument("--output_dir", required=True, help="where vocab.txt (and tokenizer_config.json) are written")
    parser.add_argument("--vocab_size", type=int, default=30000, help="size of the vocabulary, specials included")
    parser.add_argument("--min_count", type=int, default=2, help="least frequency for a learnt piece")
    parser.add_argument("--do_lower_case", action=argparse.BooleanOptionalAction, default=True,
                        help="lower-case and strip accents (default on; --no-do_lower_case for a cased vocab)")
    parser.add_argument("--limit_alphabet", type=int, default=None,
                        help="keep at most this many distinct characters (default: all; Chinese needs thousands)")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace an existing vocab.txt")


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.build_vocab import run_build_vocab

    run_build_vocab(from_namespace(BuildVocabConfig, args))
    return 0
