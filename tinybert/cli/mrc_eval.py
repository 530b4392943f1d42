"""``tinybert mrc-eval DATA.json PREDICTIONS.json [METRIC_FILE]``: the official reading-comprehension metrics,
called as the official scripts are (``cmrc2018_evaluate.py data.json predictions.json metric.txt``, the third
argument optional): CMRC2018 for ``--language zh``, SQuAD v1.1 for ``--language en`` (``auto``: from the text).
Prints the official JSON line and writes it to METRIC_FILE when given."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("data_file", metavar="DATA.json", help="the SQuAD/CMRC2018 JSON file with the reference answers")
    a("prediction_file", metavar="PREDICTIONS.json", help='predictions {"question id": "answer text"}')
    a("metric_file", metavar="METRIC_FILE", nargs="?", default=None, help="also write the result (JSON) here")
    a("--language", choices=("zh", "en", "auto"), default="auto",
      help="zh: CMRC2018 metric; en: SQuAD v1.1 metric; auto: zh when the contexts are mostly Chinese "
           "(default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from tinybert.data.mrc import read_mrc_file, read_predictions, references
    from tinybert.metrics_mrc import is_chinese, official_result, score_predictions
    from tinybert.utils.io import atomic_write_text

    examples = read_mrc_file(args.data_file, check_answers=False)
    predictions = read_predictions(args.prediction_file)
    language = args.language
    if language == "auto":
        language = "zh" if is_chinese([ex.context for ex in examples]) else "en"
    scores = score_predictions(references(examples), predictions, language)
    line = json.dumps(official_result(scores, language, args.prediction_file), ensure_ascii=False)
    print(line)
    if args.metric_file:
        atomic_write_text(args.metric_file, line + "\n")
    return 0
