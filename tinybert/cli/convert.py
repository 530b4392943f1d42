"""``tinybert convert SRC DST``: any supported checkpoint folder -> a Hugging Face folder (safetensors).

The projections of TinyBERT students (``fit_dense*``) are kept as extra tensors in ``model.safetensors``; the
vocabulary (and tokenizer files) are written when the source has a ``vocab.txt``.
"""

from __future__ import annotations

import argparse
import os

HEAD_CHOICES = ("auto", "base", "pretraining", "mlm", "sequence_classification", "token_classification",
                "question_answering")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC", help="model folder in any supported format")
    parser.add_argument("dst", metavar="DST", help="output Hugging Face folder")
    parser.add_argument("--head", choices=HEAD_CHOICES, default="auto",
                        help="model head to write (default: the head the stored weights carry)")
    parser.add_argument("--num_labels", type=int, default=None, help="labels of a classification head")
    parser.add_argument("--dtype", default=None, help="convert weights to float32, float16 or bfloat16")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace an existing non-empty DST")


def run(args: argparse.Namespace) -> int:
    from tinybert.errors import UserError
    from tinybert.models.checkpoint import detect_format, load_extra_tensors, load_model, save_model
    from tinybert.models.tokenizer import VOCAB_NAME, load_tokenizer

    dst = os.fspath(args.dst)
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise UserError.at(dst, "expected an output folder, found a file")
    if os.path.isdir(dst) and os.listdir(dst) and not args.overwrite_output_dir:
        raise UserError.at(dst, "output folder exists and is not empty; pass --overwrite_output_dir to replace it")
    fmt = detect_format(args.src)
    model = load_model(args.src, head=args.head, num_labels=args.num_labels, dtype=args.dtype)
    extra = load_extra_tensors(args.src)
    tokenizer = load_tokenizer(args.src) if os.path.isfile(os.path.join(args.src, VOCAB_NAME)) else None
    save_model(model, dst, tokenizer=tokenizer, extra_tensors=extra, overwrite=True)
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"{args.src} ({fmt}) -> {dst}: {type(model).__name__}, {n_params:,} parameters"
        + (f", {len(extra)} projection tensors" if extra else "")
        + ("" if tokenizer is not None else "; no vocab.txt in the source, none written")
    )
    return 0
