"""The BERT WordPiece tokenizer every command uses: a fast (Rust `tokenizers`) tokenizer built from `vocab.txt`.

CJK characters are split one by one; ``do_lower_case`` is honoured (``None`` keeps the folder's own setting, or
guesses from the vocabulary: a vocabulary without upper-case Latin letters is an uncased one).
"""

from __future__ import annotations

import json
import os

from tinybert.errors import UserError, require_file

VOCAB_NAME = "vocab.txt"


def read_vocab(path: str | os.PathLike) -> list[str]:
    """Read a WordPiece ``vocab.txt`` (one token per line); refuse empty files and duplicate tokens."""
    path = require_file(path, "vocabulary file")
    try:
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\r\n") for line in f]
    except UnicodeDecodeError as e:
        raise UserError.at(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise UserError.at(path, "empty vocabulary; expected one WordPiece token per line")
    seen: dict[str, int] = {}
    for i, tok in enumerate(tokens, 1):
        if tok in seen:
            raise UserError.at(path, f"duplicate token {tok!r} (first on line {seen[tok]})", line=i)
        seen[tok] = i
    for special in ("[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]"):
        if special not in seen:
            raise UserError.at(path, f"vocabulary lacks the special token {special}")
    return tokens


def _guess_lower_case(tokens: list[str]) -> bool:
    return not any(t.isascii() and t.isalpha() and not t.startswith("[") and t != t.lower() for t in tokens)


def vocab_path(path: str | os.PathLike) -> str:
    """The ``vocab.txt`` of a model folder, or ``path`` itself if it is a file."""
    p = os.fspath(path)
    if os.path.isdir(p):
        p = os.path.join(p, VOCAB_NAME)
        if not os.path.isfile(p):
            raise UserError.at(p, "vocabulary not found; a model folder must hold vocab.txt")
    return p


def load_tokenizer(path: str | os.PathLike, do_lower_case: bool | None = None):
    """A fast BERT tokenizer from a model folder (its ``vocab.txt``) or from a ``vocab.txt`` path."""
    from transformers import BertTokenizerFast

    vp = vocab_path(path)
    tokens = read_vocab(vp)
    if do_lower_case is None:
        cfg = os.path.join(os.path.dirname(vp), "tokenizer_config.json")
        if os.path.isfile(cfg):
            try:
                with open(cfg, encoding="utf-8") as f:
                    do_lower_case = json.load(f).get("do_lower_case")
            except (OSError, json.JSONDecodeError):
                do_lower_case = None
        if do_lower_case is None:
            do_lower_case = _guess_lower_case(tokens)
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=do_lower_case, tokenize_chinese_chars=True)
    tok.model_max_length = 10**9  # truncation is decided by each command's --max_seq_length
    return tok


def save_vocab(tokens: list[str], path: str | os.PathLike) -> None:
    from tinybert.utils.io import atomic_write_text

    atomic_write_text(path, "".join(t + "\n" for t in tokens))
