"""``tinybert build-vocab``: a BERT WordPiece ``vocab.txt`` learnt from a corpus with the ``tokenizers`` library.

The special tokens come first, in BERT's order of use: [PAD] [UNK] [CLS] [SEP] [MASK]; then the learnt pieces
(continuations prefixed with ``##``). Text is normalised as the BERT tokenizer does (CJK characters split one by one,
``--do_lower_case`` lower-cases and strips accents), so the vocabulary fits ``load_tokenizer``.
"""

from __future__ import annotations

import argparse
import logging
import os

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input_file", required=True, nargs="+", help="corpus files or globs (UTF-8 text)")
    parser.add_argument("--output_dir", required=True, help="where vocab.txt (and tokenizer_config.json) are written")
    parser.add_argument("--vocab_size", type=int, default=30000, help="size of the vocabulary, specials included")
    parser.add_argument("--min_count", type=int, default=2, help="least frequency for a learnt piece")
    parser.add_argument("--do_lower_case", action=argparse.BooleanOptionalAction, default=True,
                        help="lower-case and strip accents (default on; --no-do_lower_case for a cased vocab)")
    parser.add_argument("--limit_alphabet", type=int, default=None,
                        help="keep at most this many distinct characters (default: all; Chinese needs thousands)")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace an existing vocab.txt")


def _lines(files: list[str], counter: list[int]):
    for path in files:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as e:
                    from tinybert.errors import UserError

                    raise UserError.at(path, f"undecodable bytes (not UTF-8 at byte {e.start} of the line); "
                                             "re-encode the corpus as UTF-8", line=lineno) from None
                if line:
                    counter[0] += 1
                    yield line


def build_vocab(files: list[str], vocab_size: int, min_count: int = 2, do_lower_case: bool = True,
                limit_alphabet: int | None = None) -> list[str]:
    """Learn a WordPiece vocabulary; return its tokens (specials first)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    from tinybert.errors import UserError

    if vocab_size <= len(SPECIAL_TOKENS):
        raise UserError(f"--vocab_size {vocab_size} must exceed the {len(SPECIAL_TOKENS)} special tokens")
    if min_count < 1:
        raise UserError(f"--min_count {min_count} must be at least 1")
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=do_lower_case, lowercase=do_lower_case)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    kw = {} if limit_alphabet is None else {"limit_alphabet": limit_alphabet}
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_count, special_tokens=SPECIAL_TOKENS,
                                        continuing_subword_prefix="##", show_progress=False, **kw)
    counter = [0]
    tok.train_from_iterator(_lines(files, counter), trainer=trainer)
    name = files[0] if len(files) == 1 else ", ".join(files)
    if counter[0] == 0:
        raise UserError.at(name, "the corpus holds no text; expected UTF-8 text lines")
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    rest = [t for t in tokens if t not in SPECIAL_TOKENS]
    return SPECIAL_TOKENS + rest


def run(args: argparse.Namespace) -> int:
    from tinybert.data.pretraining import expand_inputs
    from tinybert.errors import UserError
    from tinybert.models.tokenizer import save_vocab
    from tinybert.utils.io import atomic_write_json

    files = expand_inputs(args.input_file)
    out = os.path.join(args.output_dir, "vocab.txt")
    if os.path.exists(out) and not args.overwrite_output_dir:
        raise UserError.at(out, "already exists; pass --overwrite_output_dir to replace it or choose another "
                                "--output_dir")
    tokens = build_vocab(files, args.vocab_size, args.min_count, args.do_lower_case, args.limit_alphabet)
    os.makedirs(args.output_dir, exist_ok=True)
    save_vocab(tokens, out)
    atomic_write_json(os.path.join(args.output_dir, "tokenizer_config.json"),
                      {"do_lower_case": args.do_lower_case, "tokenizer_class": "BertTokenizer"})
    logger.info("wrote %d tokens to %s", len(tokens), out)
    return 0
