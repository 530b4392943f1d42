"""``tinybert info DIR``: the detected format, architecture, sizes and parameter count of a model folder."""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="DIR", help="model folder (Hugging Face, original TinyBERT or NEZHA-PyTorch)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _fmt(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {list(v)}" for k, v in value.items()) if value else "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    return "-" if value is None else str(value)


def run(args: argparse.Namespace) -> int:
    from tinybert.models.checkpoint import model_summary

    summary = model_summary(args.path)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {_fmt(value)}")
    return 0
