"""``tinybert convert SRC DST``: any supported checkpoint folder -> a Hugging Face folder (safetensors)."""

from __future__ import annotations

import argparse

from tinybert.config.base import from_namespace
from tinybert.config.vocab import HEAD_CHOICES, ConvertConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC", help="model folder in any supported format")
    parser.add_argument("dst", metavar="DST", help="output Hugging Face folder")
    parser.add_argument("--head", choices=HEAD_CHOICES, default="auto",
                        help="model head to write (default: the head the stored weights carry)")
    parser.add_argument("--num_labels", type=int, default=None, help="labels of a classification head")
    parser.add_argument("--dtype", default=None, help="convert weights to float32, float16 or bfloat16")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace an existing non-empty DST")


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.convert import run_convert

    result = run_convert(from_namespace(ConvertConfig, args))
    print(f"{args.src} ({result.source_format}) -> {args.dst}: {result.model_class}, {result.num_parameters:,} "
          "parameters"
          + (f", {result.num_projection_tensors} projection tensors" if result.num_projection_tensors else "")
          + ("" if result.wrote_tokenizer else "; no vocab.txt in the source, none written"))
    return 0
