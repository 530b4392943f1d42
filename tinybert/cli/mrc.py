"""``tinybert mrc``: fine-tune (``--do_train``), evaluate (``--do_eval``) or apply (``--do_predict``) a BERT-family
or NEZHA extractive reading-comprehension model on SQuAD v1.1 / CMRC2018 JSON files."""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.cli.span_flags import add_span_arguments
from tinybert.config.base import from_namespace
from tinybert.config.span import MrcConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_span_arguments(parser, MrcConfig, "SQuAD/CMRC2018 JSON")
    d = {f.name: f.default for f in dataclasses.fields(MrcConfig)}
    g = parser.add_argument_group("reading comprehension")
    a = g.add_argument
    a("--max_query_length", type=int, default=d["max_query_length"],
      help="question pieces kept (default %(default)s)")
    a("--n_best_size", type=int, default=d["n_best_size"],
      help="best starts and ends searched per window, answers listed in nbest_predictions.json (default %(default)s)")
    a("--max_answer_length", type=int, default=d["max_answer_length"],
      help="longest answer in pieces (default %(default)s)")
    a("--version_2_with_negative", action="store_true",
      help="SQuAD v2: the empty answer wins when [CLS] scores above the best span by --null_score_diff_threshold")
    a("--null_score_diff_threshold", type=float, default=d["null_score_diff_threshold"], help="(default %(default)s)")
    a("--language", choices=("auto", "zh", "en"), default=d["language"],
      help="metric: zh CMRC2018, en SQuAD v1.1, auto from the contexts (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.mrc import run_mrc

    run_mrc(from_namespace(MrcConfig, args))
    return 0
