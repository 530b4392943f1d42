"""``tinybert pretrain-data``: pretraining shards for NEZHA/BERT (flags in the spirit of BERT's
create_pretraining_data.py), mapped onto :class:`~tinybert.config.pregenerate.PretrainDataConfig` and run by
:func:`tinybert.recipes.pretrain_data.run_pretrain_data`; the same format as ``tinybert pregenerate``.
"""

from __future__ import annotations

import argparse

from tinybert.cli.pregenerate import add_instance_arguments
from tinybert.config.base import from_namespace
from tinybert.config.pregenerate import PretrainDataConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--input_file", required=True, nargs="+",
      help="corpus files or globs (also comma-separated): one sentence per line, blank lines between documents")
    a("--output_dir", required=True, help="where the shards are written")
    a("--vocab_file", required=True, help="vocab.txt (or a model folder holding one)")
    a("--max_seq_length", type=int, default=PretrainDataConfig.max_seq_length)
    a("--random_seed", type=int, default=PretrainDataConfig.random_seed)
    a("--dupe_factor", type=int, default=None,
      help="copies of the corpus with different masks, one epoch each (default 10; 1 with --dynamic_masking)")
    a("--dynamic_masking", action="store_true",
      help="store unmasked instances; PregeneratedDataset masks afresh per (seed, epoch, index)")
    add_instance_arguments(parser, PretrainDataConfig)


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.pretrain_data import run_pretrain_data

    run_pretrain_data(from_namespace(PretrainDataConfig, args))
    return 0


if __name__ == "__main__":
    import sys

    from tinybert.cli import run_command

    sys.exit(run_command("pretrain-data", prog="python -m tinybert.cli.create_pretraining_data"))
