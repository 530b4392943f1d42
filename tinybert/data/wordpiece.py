"""The BERT WordPiece vocabulary and a light tokenizer built from it (Rust ``tokenizers`` only: no transformers,
no torch), for the jobs that only tokenize text (pregeneration, pretraining data).

:func:`load_wordpiece` gives the same token ids as the transformers tokenizer of
:func:`tinybert.models.tokenizer.load_tokenizer` (same normaliser, pre-tokenizer and WordPiece model); CJK characters
are split one by one; ``do_lower_case`` None keeps the folder's own setting, or guesses from the vocabulary (a
vocabulary without upper-case Latin letters is an uncased one).
"""

from __future__ import annotations

import json
import os
from typing import Any

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


def guess_lower_case(tokens: list[str]) -> bool:
    return not any(t.isascii() and t.isalpha() and not t.startswith("[") and t != t.lower() for t in tokens)


def vocab_path(path: str | os.PathLike) -> str:
    """The ``vocab.txt`` of a model folder, or ``path`` itself if it is a file."""
    p = os.fspath(path)
    if os.path.isdir(p):
        p = os.path.join(p, VOCAB_NAME)
        if not os.path.isfile(p):
            raise UserError.at(p, "vocabulary not found; a model folder must hold vocab.txt")
    return p


def lower_case_setting(vocab_file: str, tokens: list[str], do_lower_case: bool | None) -> bool:
    """``do_lower_case``, else the ``tokenizer_config.json`` beside ``vocab_file``, else a guess from ``tokens``."""
    if do_lower_case is not None:
        return do_lower_case
    cfg = os.path.join(os.path.dirname(vocab_file), "tokenizer_config.json")
    if os.path.isfile(cfg):
        try:
            with open(cfg, encoding="utf-8") as f:
                setting = json.load(f).get("do_lower_case")
        except (OSError, json.JSONDecodeError):
            setting = None
        if setting is not None:
            return bool(setting)
    return guess_lower_case(tokens)


class WordPiece:
    """A BERT WordPiece tokenizer: ``backend_tokenizer`` (a ``tokenizers.Tokenizer``) and ``get_vocab()``."""

    def __init__(self, tokens: list[str], do_lower_case: bool) -> None:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

        self.vocab = {tok: i for i, tok in enumerate(tokens)}
        self.do_lower_case = do_lower_case
        backend = Tokenizer(models.WordPiece(vocab=self.vocab, unk_token="[UNK]", continuing_subword_prefix="##",
                                             max_input_chars_per_word=100))
        backend.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                        strip_accents=None, lowercase=do_lower_case)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        self.backend_tokenizer = backend

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def tokenize(self, text: str) -> list[str]:
        return self.backend_tokenizer.encode(text, add_special_tokens=False).tokens


def load_wordpiece(path: str | os.PathLike, do_lower_case: bool | None = None) -> Any:
    """A :class:`WordPiece` tokenizer from a model folder (its ``vocab.txt``) or a ``vocab.txt`` path."""
    vp = vocab_path(path)
    tokens = read_vocab(vp)
    return WordPiece(tokens, lower_case_setting(vp, tokens, do_lower_case))
