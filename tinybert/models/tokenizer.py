"""The BERT WordPiece tokenizer every command uses: a fast (Rust `tokenizers`) tokenizer built from `vocab.txt`.

CJK characters are split one by one; ``do_lower_case`` is honoured (``None`` keeps the folder's own setting, or
guesses from the vocabulary: a vocabulary without upper-case Latin letters is an uncased one).
"""

from __future__ import annotations

import os

from tinybert.data.wordpiece import (  # noqa: F401  (the vocabulary helpers live with the light tokenizer)
    VOCAB_NAME,
    lower_case_setting,
    read_vocab,
    vocab_path,
)


def load_tokenizer(path: str | os.PathLike, do_lower_case: bool | None = None):
    """A fast BERT tokenizer from a model folder (its ``vocab.txt``) or from a ``vocab.txt`` path."""
    from transformers import BertTokenizerFast

    vp = vocab_path(path)
    tokens = read_vocab(vp)
    do_lower_case = lower_case_setting(vp, tokens, do_lower_case)
    vocab = {tok: i for i, tok in enumerate(tokens)}
    tok = BertTokenizerFast(vocab=vocab, do_lower_case=do_lower_case, tokenize_chinese_chars=True)
    tok.model_max_length = 10**9  # truncation is decided by each command's --max_seq_length
    return tok


def save_vocab(tokens: list[str], path: str | os.PathLike) -> None:
    from tinybert.utils.io import atomic_write_text

    atomic_write_text(path, "".join(t + "\n" for t in tokens))
