"""``tinybert pretrain-data``: pretraining shards for NEZHA/BERT (flags in the spirit of BERT's
create_pretraining_data.py), in the same format as ``tinybert pregenerate``.

Each of the ``--dupe_factor`` copies of the corpus (different NSP pairs and masks) is written as one epoch
(``epoch_0`` .. ``epoch_{dupe_factor-1}``); a trainer in epoch ``e`` reads ``epoch_{e mod dupe_factor}``.
``--dynamic_masking`` stores unmasked instances and the loader masks them afresh for every epoch.
"""

from __future__ import annotations

import argparse
import logging
import time

from tinybert.cli.pregenerate import add_instance_arguments, build_config

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input_file", required=True, nargs="+",
                        help="corpus files or globs (also comma-separated): one sentence per line, blank lines "
                             "between documents")
    parser.add_argument("--output_dir", required=True, help="where the shards are written")
    parser.add_argument("--vocab_file", required=True, help="vocab.txt (or a model folder holding one)")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--random_seed", type=int, default=12345)
    parser.add_argument("--dupe_factor", type=int, default=None,
                        help="copies of the corpus with different masks, one epoch each (default 10; 1 with "
                             "--dynamic_masking)")
    parser.add_argument("--dynamic_masking", action="store_true",
                        help="store unmasked instances; PregeneratedDataset masks afresh per (seed, epoch, index)")
    add_instance_arguments(parser)
    parser.set_defaults(max_predictions_per_seq=20)


def run(args: argparse.Namespace) -> int:
    from tinybert.data.pretraining import expand_inputs, generate_pretraining_data
    from tinybert.data.shards import prepare_output_dir
    from tinybert.errors import UserError
    from tinybert.models.tokenizer import load_tokenizer

    dupe = args.dupe_factor if args.dupe_factor is not None else (1 if args.dynamic_masking else 10)
    if dupe < 1:
        raise UserError(f"--dupe_factor {dupe} must be at least 1")
    config = build_config(args, args.max_seq_length, dynamic=args.dynamic_masking)
    config.validate()
    files = expand_inputs(args.input_file)
    tokenizer = load_tokenizer(args.vocab_file, do_lower_case=args.do_lower_case)
    prepare_output_dir(args.output_dir, args.overwrite_output_dir)
    start = time.perf_counter()
    metrics = generate_pretraining_data(
        files, tokenizer, args.output_dir, config=config, seed=args.random_seed, num_epochs=dupe,
        num_workers=args.num_workers, output_format=args.output_format, chunk_chars=args.chunk_chars,
        progress=not args.no_progress)
    n = sum(m["num_training_examples"] for m in metrics)
    logger.info("wrote %d instances (%d copies) to %s in %.1fs", n, dupe, args.output_dir,
                time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    import sys

    from tinybert.cli import run_command

    sys.exit(run_command("pretrain-data", prog="python -m tinybert.cli.create_pretraining_data"))
