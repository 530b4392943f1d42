"""``tinybert pregenerate`` / ``pregenerate_training_data.py``: the original TinyBERT flags, mapped onto
:class:`~tinybert.config.pregenerate.PregenerateConfig` and run by :func:`tinybert.recipes.pregenerate.run_pregenerate`.

Writes compact binary shards (default) or the original ``epoch_N.json`` lines (``--output_format json``) plus
``epoch_N_metrics.json`` per epoch. Same corpus + same ``--seed`` gives byte-identical files whatever ``--num_workers``.
"""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.config.base import from_namespace
from tinybert.config.pregenerate import PregenerateConfig


def _defaults(cls: type) -> dict:
    return {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


def add_instance_arguments(parser: argparse.ArgumentParser, config: type = PregenerateConfig) -> None:
    """Flags shared with ``tinybert pretrain-data`` (defaults from ``config``, the command's config class)."""
    d = _defaults(config)
    a = parser.add_argument
    a("--do_lower_case", action=argparse.BooleanOptionalAction, default=None,
      help="lower-case the text (default: the model folder's setting, else guessed from the vocab)")
    a("--do_whole_word_mask", action="store_true",
      help="mask whole words (a word and its ## continuation pieces) instead of single pieces")
    a("--chinese_wwm", action="store_true",
      help="whole-word masking over words found by jieba (Chinese; needs `pip install jieba`)")
    a("--language", choices=("en", "zh"), default=d["language"],
      help="zh with --do_whole_word_mask means --chinese_wwm")
    a("--num_workers", type=int, default=d["num_workers"],
      help="worker processes (the output does not depend on it) (default: every core, here %(default)s)")
    a("--short_seq_prob", type=float, default=d["short_seq_prob"],
      help="probability of a shorter target length for an instance")
    a("--masked_lm_prob", type=float, default=d["masked_lm_prob"],
      help="fraction of tokens to predict, at least one per instance (default %(default)s; 0.0 is the original "
           "pregenerate_training_data.py's default: exactly one masked token per instance)")
    a("--max_predictions_per_seq", type=int, default=d["max_predictions_per_seq"],
      help="at most this many predictions")
    a("--one_seq", action="store_true", help="single-segment instances (no next-sentence pairs)")
    a("--output_format", choices=("binary", "json"), default=d["output_format"],
      help="binary shards (compact, default) or the original epoch_N.json lines")
    a("--overwrite_output_dir", action="store_true", help="replace pregenerated data already in --output_dir")
    a("--no_progress", action="store_true", help="no progress bar")
    a("--chunk_chars", type=int, default=d["chunk_chars"],
      help="characters per unit of work of the worker processes (the output does not depend on it) "
           "(default %(default)s)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = _defaults(PregenerateConfig)
    a = parser.add_argument
    a("--train_corpus", required=True, help="UTF-8 text: one sentence per line, documents separated by blank lines")
    a("--output_dir", required=True, help="where epoch_N shards and metrics are written")
    a("--bert_model", required=True, help="the teacher's model folder (its vocab.txt) or a vocab.txt")
    a("--reduce_memory", action="store_true",
      help="smaller shards in memory (memory is bounded either way: the corpus is streamed)")
    a("--epochs_to_generate", type=int, default=d["epochs_to_generate"], help="epochs of data, each masked afresh")
    a("--max_seq_len", type=int, default=d["max_seq_len"])
    a("--seed", type=int, default=d["seed"], help="random seed (same seed, same output)")
    add_instance_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.pregenerate import run_pregenerate

    run_pregenerate(from_namespace(PregenerateConfig, args))
    return 0

