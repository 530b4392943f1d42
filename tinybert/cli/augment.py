"""``tinybert augment`` / ``data_augmentation.py``: the TinyBERT augmented training set (``train_aug.tsv``).

Flags of the original script (``--pretrained_bert_model --glove_embs --glue_dir --task_name --N --M --p``) plus
``--data_dir``/``--text_columns`` for any TSV, ``--language zh``, workers and batching. The flags fill
:class:`~tinybert.config.augment.AugmentConfig`; :func:`tinybert.recipes.augment.run_augment` does the work (the rules
are in :mod:`tinybert.data.augment`).
"""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.config.augment import AugmentConfig
from tinybert.config.base import from_namespace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = {f.name: f.default for f in dataclasses.fields(AugmentConfig)}
    a = parser.add_argument
    a("--pretrained_bert_model", required=True, help="masked-LM folder (BERT-family or NEZHA with its MLM head)")
    a("--glove_embs", default=None, help="word vectors: GloVe text (with or without a header line), word2vec "
                                          "binary or gensim KeyedVectors; needed for words of several word pieces")
    a("--glue_dir", default=None, help="folder of task folders; the input is GLUE_DIR/TASK_NAME/train.tsv")
    a("--task_name", default=None, help="task (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, CLUE tasks); "
                                         "decides the text columns and the header")
    a("--data_dir", default=None, help="folder holding train.tsv (instead of GLUE_DIR/TASK_NAME)")
    a("--text_columns", default=None, help="comma-separated 0-based columns (or header names) to augment; "
                                            "overrides the task's")
    a("--header", action="store_true", help="with --text_columns and no --task_name: the first row is a header")
    a("--output", default=None, help="output TSV (default: the input folder's train_aug.tsv)")
    a("--N", type=int, default=None, help="variants per sentence (default: the original's per-task value, else 30)")
    a("--M", type=int, default=d["M"], help="candidates per word")
    a("--p", type=float, default=d["p"], help="probability of replacing each eligible word")
    a("--seed", type=int, default=d["seed"])
    a("--batch_size", type=int, default=d["batch_size"], help="masked-LM sequences per forward")
    a("--max_seq_length", type=int, default=d["max_seq_length"],
      help="longest masked-LM input (longer ones are windowed)")
    a("--no_cuda", action="store_true", help="run on CPU even when a GPU is available")
    a("--bf16", action="store_true",
      help="the masked-LM encoder under bfloat16 autocast, for GPUs and CPUs with AMX or AVX-512-BF16 (1.24x inside "
           "on the small reference masked-LM on a 2-core AMX CPU); the top-M ranking is float32, but near-tie "
           "candidates change (about 1 row in 10 there; docs/fidelity.md)")
    a("--num_workers", type=int, default=d["num_workers"],
      help="processes, each augmenting a contiguous chunk of rows")
    a("--language", choices=("en", "zh"), default=None, help="zh: character level, masked-LM only "
                                                               "(default: the task's language, else en)")
    a("--glove_limit", type=int, default=d["glove_limit"], help="read only the first rows of the word vectors")
    a("--do_lower_case", action="store_true", default=None,
      help="lowercase before WordPiece (default: the tokenizer folder's setting or a guess from the vocabulary)")


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.augment import run_augment

    run_augment(from_namespace(AugmentConfig, args))
    return 0
