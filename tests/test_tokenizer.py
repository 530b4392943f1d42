import pytest

from tinybert.errors import UserError
from tinybert.models.tokenizer import load_tokenizer, read_vocab

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocab(path, tokens):
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path


def test_wordpiece_and_cjk_split(tmp_path):
    v = write_vocab(tmp_path / "vocab.txt", SPECIALS + ["hello", "world", "un", "##aff", "##able", "中", "国"])
    tok = load_tokenizer(tmp_path, do_lower_case=True)
    assert tok.tokenize("Hello unaffable 中国") == ["hello", "un", "##aff", "##able", "中", "国"]
    enc = tok("hello", "world")
    ids = read_vocab(v)
    assert enc["input_ids"] == [ids.index("[CLS]"), ids.index("hello"), ids.index("[SEP]"), ids.index("world"),
                                ids.index("[SEP]")]
    assert enc["token_type_ids"] == [0, 0, 0, 1, 1]


def test_cased_vocab_keeps_case(tmp_path):
    write_vocab(tmp_path / "vocab.txt", SPECIALS + ["Hello", "hello"])
    assert load_tokenizer(tmp_path).tokenize("Hello hello") == ["Hello", "hello"]  # guessed cased
    assert load_tokenizer(tmp_path, do_lower_case=True).tokenize("Hello") == ["hello"]


def test_bad_vocab_errors(tmp_path):
    with pytest.raises(UserError, match="vocab.txt:7: duplicate token 'a'"):
        read_vocab(write_vocab(tmp_path / "vocab.txt", SPECIALS + ["a", "a"]))
    with pytest.raises(UserError, match="nowhere: vocabulary file not found"):
        load_tokenizer(tmp_path / "nowhere")
    with pytest.raises(UserError, match=r"lacks the special token \[MASK\]"):
        read_vocab(write_vocab(tmp_path / "v2.txt", ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
