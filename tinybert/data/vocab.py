"""A BERT WordPiece vocabulary learnt from a corpus with the ``tokenizers`` library.

The special tokens come first, in BERT's order of use: [PAD] [UNK] [CLS] [SEP] [MASK]; then the learnt pieces
(continuations prefixed with ``##``). Text is normalised as the BERT tokenizer does (CJK characters split one by one,
``do_lower_case`` lower-cases and strips accents), so the vocabulary fits ``load_tokenizer``.
"""

from __future__ import annotations

from collections.abc import Iterator

from tinybert.errors import UserError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _lines(files: list[str], counter: list[int]) -> Iterator[str]:
    for path in files:
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8").strip()
                except UnicodeDecodeError as e:
                    raise UserError.at(path, f"undecodable bytes (not UTF-8 at byte {e.start} of the line); "
                                             "re-encode the corpus as UTF-8", line=lineno) from None
                if line:
                    counter[0] += 1
                    yield line


def build_vocab(files: list[str], vocab_size: int, min_count: int = 2, do_lower_case: bool = True,
                limit_alphabet: int | None = None) -> list[str]:
    """Learn a WordPiece vocabulary from the UTF-8 text ``files``; return its tokens (specials first)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    if vocab_size <= len(SPECIAL_TOKENS):
        raise UserError.of_field("vocab_size", f"{vocab_size} must exceed the {len(SPECIAL_TOKENS)} special tokens")
    if min_count < 1:
        raise UserError.of_field("min_count", f"{min_count} must be at least 1")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                      strip_accents=do_lower_case, lowercase=do_lower_case)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    options = {} if limit_alphabet is None else {"limit_alphabet": limit_alphabet}
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_count, special_tokens=SPECIAL_TOKENS,
                                        continuing_subword_prefix="##", show_progress=False, **options)
    counter = [0]
    tokenizer.train_from_iterator(_lines(files, counter), trainer=trainer)
    name = files[0] if len(files) == 1 else ", ".join(files)
    if counter[0] == 0:
        raise UserError.at(name, "the corpus holds no text; expected UTF-8 text lines")
    tokens = [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    return SPECIAL_TOKENS + [token for token in tokens if token not in SPECIAL_TOKENS]
