"""``tinybert augment`` / ``data_augmentation.py``: the TinyBERT augmented training set (``train_aug.tsv``).

Flags of the original script (``--pretrained_bert_model --glove_embs --glue_dir --task_name --N --M --p``) plus
``--data_dir``/``--text_columns`` for any TSV, ``--language zh``, workers and batching. The rules are in
:mod:`tinybert.data.augment`.
"""

from __future__ import annotations

import argparse
import logging
import os

from tinybert.errors import UserError

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    a("--M", type=int, default=15, help="candidates per word")
    a("--p", type=float, default=0.4, help="probability of replacing each eligible word")
    a("--seed", type=int, default=42)
    a("--batch_size", type=int, default=64, help="masked-LM sequences per forward")
    a("--max_seq_length", type=int, default=512, help="longest masked-LM input (longer ones are windowed)")
    a("--no_cuda", action="store_true", help="run on CPU even when a GPU is available")
    a("--num_workers", type=int, default=1, help="processes, each augmenting a contiguous chunk of rows")
    a("--language", choices=("en", "zh"), default=None, help="zh: character level, masked-LM only "
                                                               "(default: the task's language, else en)")
    a("--glove_limit", type=int, default=100000, help="read only the first rows of the word vectors")
    a("--do_lower_case", action="store_true", default=None,
      help="lowercase before WordPiece (default: the tokenizer folder's setting or a guess from the vocabulary)")


def _columns(raw: str) -> list[int | str]:
    cols: list[int | str] = []
    for c in raw.split(","):
        c = c.strip()
        if not c:
            continue
        if c.lstrip("-").isdigit():
            if int(c) < 0:
                raise UserError(f"--text_columns takes 0-based column indices or header names, got {c}")
            cols.append(int(c))
        else:
            cols.append(c)
    if not cols:
        raise UserError("--text_columns is empty; give e.g. 0 or 3,4")
    return cols


def _first_row(path: str) -> tuple[int, list[str]] | None:
    from tinybert.data.tasks import iter_tsv

    for line, row in iter_tsv(path):
        return line, row
    return None


def run(args: argparse.Namespace) -> int:
    from tinybert.data.augment import (
        DEFAULT_N,
        AugmentOptions,
        FileJob,
        Resources,
        augment_file,
    )
    from tinybert.errors import require_dir, require_file

    spec = None
    if args.task_name:
        from tinybert.data.tasks import get_task

        spec = get_task(args.task_name)
    if args.data_dir:
        data_dir = args.data_dir
    elif args.glue_dir and args.task_name:
        data_dir = os.path.join(args.glue_dir, args.task_name)
    else:
        raise UserError("give --glue_dir and --task_name (GLUE layout), or --data_dir")
    require_dir(data_dir, "task data folder")
    train = os.path.join(data_dir, "train.tsv")
    if not os.path.isfile(train):
        raise UserError.at(train, "training file not found; the task folder must hold train.tsv")
    require_file(train, "training file")
    if spec is None and not args.text_columns:
        raise UserError("give --task_name or --text_columns to say which columns hold text")

    first = _first_row(train)
    if first is None:
        raise UserError.at(train, "the training file is empty")
    header_line: int | None = None
    if spec is not None and not (args.text_columns and args.header):
        header = spec.train.header
        if header is None:  # CLUE files come with and without a header
            from tinybert.data.tasks import is_header_row

            header = is_header_row(spec, first[1], "train")
        header_line = first[0] if header else None
    elif args.header:
        header_line = first[0]
    cols = _columns(args.text_columns) if args.text_columns else list(spec.text_columns)  # type: ignore[union-attr]
    text_columns: list[int] = []
    for c in cols:
        if isinstance(c, str):
            if header_line is None:
                raise UserError(f"--text_columns names {c!r} but the file has no header (add --header or give "
                                f"column indices)")
            names = [x.strip() for x in first[1]]
            if c not in names:
                raise UserError.at(train, f"no column named {c!r} in the header; columns: {', '.join(names)}",
                                   line=first[0])
            c = names.index(c)
        text_columns.append(c)

    n = args.N
    if n is None:
        n = DEFAULT_N.get(spec.name, 30) if spec is not None else 30
    language = args.language or (spec.language if spec is not None else "en")
    options = AugmentOptions(N=n, M=args.M, p=args.p, seed=args.seed, language=language,
                             max_seq_length=args.max_seq_length, batch_size=args.batch_size)
    options.check()
    if args.num_workers < 1:
        raise UserError(f"--num_workers must be positive, got {args.num_workers}")
    if args.glove_limit is not None and args.glove_limit < 1:
        raise UserError(f"--glove_limit must be positive, got {args.glove_limit}")
    if language == "en" and not args.glove_embs:
        logger.warning("no --glove_embs: words of several word pieces keep their original form")
    if args.glove_embs:
        require_file(args.glove_embs, "word vectors file")

    from tinybert.evaluate import pick_device

    device = str(pick_device(args.no_cuda))
    res = Resources(args.pretrained_bert_model, args.glove_embs, args.glove_limit, args.do_lower_case, device)
    job = FileJob(train, tuple(dict.fromkeys(text_columns)), header_line, options,
                  skip_malformed=bool(spec is not None and spec.train.skip_malformed))
    output = args.output or os.path.join(data_dir, "train_aug.tsv")
    logger.info("augmenting %s columns %s: N=%d M=%d p=%.2f (%s, %d worker(s)) -> %s", train,
                list(job.text_columns), n, args.M, args.p, device, args.num_workers, output)
    rows = augment_file(res, job, output, num_workers=args.num_workers)
    logger.info("wrote %d rows to %s", rows, output)
    return 0
