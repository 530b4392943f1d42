"""``tinybert predict MODEL_DIR --input FILE|- [--output FILE]``: labels and probabilities for every input row.

MODEL_DIR is a classifier folder (PyTorch) or an ONNX folder from ``tinybert export``. The input is a TSV, CSV or
JSONL file (columns as for the generic task: ``--text_columns``, ``--id_column``), a text file of lines, or ``-``
for standard input (lines unless ``--input_format``). The output (default: standard output) is JSON lines
(``{"id", "label", "probabilities"}``) or TSV, in input order.
"""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.config.export import OUTPUT_FORMATS, QUANTIZE, PredictConfig
from tinybert.data.inputs import FORMATS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = {f.name: f.default for f in dataclasses.fields(PredictConfig)}
    a = parser.add_argument
    a("model_dir", help="a classifier folder, or an ONNX folder written by `tinybert export`")
    a("--input", required=True, help="a .tsv/.csv/.jsonl/.txt file, or - for standard input")
    a("--output", default=d["output"], help="output file (.jsonl or .tsv), or - for standard output (default)")
    a("--input_format", choices=FORMATS, default=None, help="default: from the extension; standard input: lines")
    a("--output_format", choices=OUTPUT_FORMATS, default=None, help="default: from the extension; else jsonl")
    a("--text_columns", default=None, help="one or two text columns, 0-based indices or names (default: 0; JSONL: "
                                           "text)")
    a("--id_column", default=None, help="the column holding each row's id (default: JSONL 'id', else the row's "
                                        "0-based position)")
    a("--header", action="store_true", help="TSV/CSV: the first row is a header (implied by column names)")
    a("--batch_size", type=int, default=d["batch_size"], help="(default %(default)s)")
    a("--max_seq_length", type=int, default=d["max_seq_length"], help="(default %(default)s)")
    a("--quantize", choices=QUANTIZE, default=None,
      help="int8: the ONNX folder's model.int8.onnx, or a PyTorch model quantized dynamically (torch.ao) on load")
    a("--threads", type=int, default=d["threads"], help="ONNX Runtime threads; 0: torch's (default %(default)s)")
    a("--no_progress_bar", dest="progress_bar", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import sys

    from tinybert.config.base import from_namespace
    from tinybert.recipes.predict import run_predict

    result = run_predict(from_namespace(PredictConfig, args))
    if result.output != "-":
        print(f"{result.rows} predictions ({result.backend}) written to {result.output}", file=sys.stderr)
    return 0
