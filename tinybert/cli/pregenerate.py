"""``tinybert pregenerate``: the original TinyBERT ``pregenerate_training_data.py`` (same flags, same instances).

Writes compact binary shards (default) or the original ``epoch_N.json`` lines (``--output_format json``) plus
``epoch_N_metrics.json`` per epoch; see :mod:`tinybert.data.shards` for the layout and :mod:`tinybert.data.pretraining`
for how instances are built. Same corpus + same ``--seed`` gives byte-identical files whatever ``--num_workers``.
"""

from __future__ import annotations

import argparse
import logging
import time

logger = logging.getLogger(__name__)

DEFAULT_SEED = 42


def add_instance_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared with ``tinybert pretrain-data``."""
    parser.add_argument("--do_lower_case", action=argparse.BooleanOptionalAction, default=None,
                        help="lower-case the text (default: the model folder's setting, else guessed from the vocab)")
    parser.add_argument("--do_whole_word_mask", action="store_true",
                        help="mask whole words (a word and its ## continuation pieces) instead of single pieces")
    parser.add_argument("--chinese_wwm", action="store_true",
                        help="whole-word masking over words found by jieba (Chinese; needs `pip install jieba`)")
    parser.add_argument("--language", choices=("en", "zh"), default="en",
                        help="zh with --do_whole_word_mask means --chinese_wwm")
    parser.add_argument("--num_workers", type=int, default=1, help="worker processes (output does not depend on it)")
    parser.add_argument("--short_seq_prob", type=float, default=0.1,
                        help="probability of a shorter target length for an instance")
    parser.add_argument("--masked_lm_prob", type=float, default=0.15, help="fraction of tokens to predict")
    parser.add_argument("--max_predictions_per_seq", type=int, default=20, help="at most this many predictions")
    parser.add_argument("--one_seq", action="store_true", help="single-segment instances (no next-sentence pairs)")
    parser.add_argument("--output_format", choices=("binary", "json"), default="binary",
                        help="binary shards (compact, default) or the original epoch_N.json lines")
    parser.add_argument("--overwrite_output_dir", action="store_true",
                        help="replace pregenerated data already in --output_dir")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    parser.add_argument("--chunk_chars", type=int, default=200_000,
                        help="characters of consecutive documents per unit of work; also the window random-next "
                             "segments are drawn from (part of the seed: changing it changes the output)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train_corpus", required=True,
                        help="UTF-8 text: one sentence per line, documents separated by blank lines")
    parser.add_argument("--output_dir", required=True, help="where epoch_N shards and metrics are written")
    parser.add_argument("--bert_model", required=True, help="the teacher's model folder (its vocab.txt) or a vocab.txt")
    parser.add_argument("--reduce_memory", action="store_true",
                        help="smaller shards in memory (memory is bounded either way: the corpus is streamed)")
    parser.add_argument("--epochs_to_generate", type=int, default=3, help="epochs of data, each masked afresh")
    parser.add_argument("--max_seq_len", type=int, default=128)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (same seed, same output)")
    add_instance_arguments(parser)


def build_config(args: argparse.Namespace, max_seq_len: int, dynamic: bool = False):
    from tinybert.data.pretraining import InstanceConfig

    chinese = args.chinese_wwm or (args.language == "zh" and args.do_whole_word_mask)
    if args.num_workers < 1:
        from tinybert.errors import UserError

        raise UserError(f"--num_workers {args.num_workers} must be at least 1")
    if args.chunk_chars < 1:
        from tinybert.errors import UserError

        raise UserError(f"--chunk_chars {args.chunk_chars} must be positive")
    return InstanceConfig(max_seq_len=max_seq_len, short_seq_prob=args.short_seq_prob,
                          masked_lm_prob=args.masked_lm_prob, max_predictions_per_seq=args.max_predictions_per_seq,
                          whole_word_mask=args.do_whole_word_mask or chinese, chinese_wwm=chinese,
                          one_seq=args.one_seq, dynamic_masking=dynamic)


def run(args: argparse.Namespace) -> int:
    from tinybert.data.pretraining import expand_inputs, generate_pretraining_data
    from tinybert.data.shards import prepare_output_dir
    from tinybert.errors import UserError
    from tinybert.models.tokenizer import load_tokenizer

    if args.epochs_to_generate < 1:
        raise UserError(f"--epochs_to_generate {args.epochs_to_generate} must be at least 1")
    config = build_config(args, args.max_seq_len)
    config.validate()
    corpus = expand_inputs([args.train_corpus])
    tokenizer = load_tokenizer(args.bert_model, do_lower_case=args.do_lower_case)
    prepare_output_dir(args.output_dir, args.overwrite_output_dir)
    start = time.perf_counter()
    metrics = generate_pretraining_data(
        corpus, tokenizer, args.output_dir, config=config, seed=args.seed, num_epochs=args.epochs_to_generate,
        num_workers=args.num_workers, output_format=args.output_format,
        shard_size=10_000 if args.reduce_memory else 100_000, chunk_chars=args.chunk_chars,
        progress=not args.no_progress)
    secs = time.perf_counter() - start
    n = sum(m["num_training_examples"] for m in metrics)
    logger.info("wrote %d instances over %d epoch(s) to %s in %.1fs (%.0f instances/s)", n, len(metrics),
                args.output_dir, secs, n / max(secs, 1e-9))
    return 0
