"""Pretraining instances, shards, pregenerate / pretrain-data / build-vocab commands and the vocabulary adapter."""

import json
import os
import re
import sys

import numpy as np
import pytest

from tinybert.cli import run_command
from tinybert.data.masking import mask_batch
from tinybert.data.shards import PregeneratedDataset, check_pregenerated
from tinybert.errors import UserError

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

PARAGRAPHS = [
    "The river rose quickly after the storm, and the villagers carried their belongings up the hill.\n"
    "By evening the water had reached the bridge, unbelievably high for that time of year.\n"
    "Nobody remembered a flood like it, although the oldest fisherman claimed his grandfather had seen one.\n"
    "The council met the next morning to discuss rebuilding the embankment.",
    "Scientists announced a new method for measuring the temperature of distant stars.\n"
    "The technique relies on comparing absorption lines in carefully calibrated spectra.\n"
    "Independent observatories confirmed the results within a few weeks.\n"
    "Several universities are now preparing follow-up observations.",
    "The bakery on the corner opens at six, and by seven there is usually a queue outside.\n"
    "Its sourdough is famous across the neighbourhood, though the owner insists the recipe is simple.\n"
    "Flour, water, salt and patience, she says, are all that a good loaf requires.",
    "Parliament debated the transportation budget for most of the afternoon.\n"
    "Opposition members argued that rural railways had been neglected for decades.\n"
    "The minister promised an independent review before the end of the year.\n"
    "Commentators were unconvinced, pointing to similar promises made previously.",
    "The orchestra rehearsed the symphony twice before the premiere.\n"
    "Its conductor, unusually, asked the musicians to play the final movement slower than written.\n"
    "Critics praised the performance as thoughtful and surprisingly moving.",
    "Volunteers planted three hundred trees along the abandoned railway line.\n"
    "They hope the new woodland will attract birds and insects within a few seasons.\n"
    "Local schools have adopted sections of the path and will monitor the saplings.",
]
CORPUS_EN = "\n\n".join(PARAGRAPHS * 4) + "\n"


def _words(text):
    return re.findall(r"[a-z0-9]+|[^a-z0-9\s]", text.lower())


def write_en_vocab(path):
    """A tiny vocab where long words are split into two WordPiece pieces (so ## pieces occur)."""
    pieces = set()
    for w in _words(CORPUS_EN):
        if len(w) > 6 and w.isalpha():
            pieces.update([w[:4], "##" + w[4:]])
        else:
            pieces.add(w)
    tokens = SPECIALS + sorted(pieces)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return tokens


@pytest.fixture
def en(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS_EN, encoding="utf-8")
    vocab = tmp_path / "vocab.txt"
    tokens = write_en_vocab(vocab)
    return corpus, vocab, tokens


def pregen(corpus, vocab, out, *extra):
    argv = ["--train_corpus", str(corpus), "--bert_model", str(vocab), "--output_dir", str(out), "--no_progress",
            "--chunk_chars", "600", "--do_lower_case", "--masked_lm_prob", "0.15", *extra]
    assert run_command("pregenerate", argv) == 0
    return out


def items(out, tokens, max_seq_len=64, epoch=0, **kw):
    ds = PregeneratedDataset(out, epoch, tokens, max_seq_len, **kw)
    return [ds.arrays(i) for i in range(len(ds))]


def original_tokens(item):
    """The unmasked sequence: input ids with the labels put back."""
    ids = item["input_ids"].copy()
    lab = item["lm_label_ids"]
    ids[lab != -100] = lab[lab != -100]
    return ids[item["attention_mask"] == 1]


# ------------------------------------------------------------------------------------------------------ determinism
def test_same_bytes_whatever_num_workers(en, tmp_path):
    corpus, vocab, _ = en
    common = ["--max_seq_len", "64", "--epochs_to_generate", "2", "--do_whole_word_mask"]
    a = pregen(corpus, vocab, tmp_path / "w1", *common, "--num_workers", "1")
    b = pregen(corpus, vocab, tmp_path / "w2", *common, "--num_workers", "2")
    names = sorted(os.listdir(a))
    assert names == sorted(os.listdir(b)) and "epoch_1_metrics.json" in names
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n
    c = pregen(corpus, vocab, tmp_path / "s2", *common, "--seed", "7")
    assert (c / "epoch_0_shard_00000.bin").read_bytes() != (a / "epoch_0_shard_00000.bin").read_bytes()
    m = json.loads((a / "epoch_0_metrics.json").read_text())
    assert m["max_seq_len"] == 64 and m["num_training_examples"] > 30
    # the epochs differ (masked afresh)
    assert (a / "epoch_0_shard_00000.bin").read_bytes() != (a / "epoch_1_shard_00000.bin").read_bytes()


# ------------------------------------------------------------------------------------------------------ masking
def _word_groups(ids, tokens):
    """Independent whole-word grouping: a word is a token followed by its ## pieces, never across [CLS]/[SEP]."""
    groups, cur = [], []
    for p, i in enumerate(ids):
        t = tokens[i]
        if t in ("[CLS]", "[SEP]"):
            cur = []
            continue
        if t.startswith("##") and cur:
            cur.append(p)
        else:
            cur = [p]
            groups.append(cur)
    return groups


def _split_words(out, tokens):
    n_split = n_multi_masked = 0
    for it in items(out, tokens):
        masked = set(np.flatnonzero(it["lm_label_ids"] != -100).tolist())
        for g in _word_groups(original_tokens(it).tolist(), tokens):
            hit = sum(p in masked for p in g)
            n_split += 0 < hit < len(g)
            n_multi_masked += hit == len(g) > 1
    return n_split, n_multi_masked


def test_whole_word_masking_never_splits_wordpiece_words(en, tmp_path):
    corpus, vocab, tokens = en
    out = pregen(corpus, vocab, tmp_path / "wwm", "--max_seq_len", "64", "--epochs_to_generate", "3",
                 "--do_whole_word_mask")
    n_split, n_multi = _split_words(out, tokens)
    assert n_split == 0 and n_multi > 20
    plain = pregen(corpus, vocab, tmp_path / "plain", "--max_seq_len", "64", "--epochs_to_generate", "3")
    assert _split_words(plain, tokens)[0] > 0  # the check does catch split words


ZH_DOCS = [
    "我们今天在北京大学召开了学术会议，讨论人工智能的发展方向。",
    "中国人民银行宣布下调存款准备金率，以支持实体经济发展。",
    "科学家在南极冰层中发现了古老的微生物，引起广泛关注。",
    "这家公司的新产品在市场上非常受欢迎，销售额持续增长。",
    "春节期间，许多家庭选择外出旅游，火车站和机场人流密集。",
    "研究人员开发了一种新的材料，可以有效提高太阳能电池的效率。",
]


def test_chinese_whole_word_masking_keeps_jieba_words(tmp_path):
    jieba = pytest.importorskip("jieba")
    corpus = tmp_path / "zh.txt"
    corpus.write_text("\n\n".join(ZH_DOCS * 3) + "\n", encoding="utf-8")
    chars = sorted({c for d in ZH_DOCS for c in d})
    tokens = SPECIALS + chars
    (tmp_path / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    out = pregen(corpus, tmp_path / "vocab.txt", tmp_path / "zh_out", "--max_seq_len", "24", "--one_seq",
                 "--chinese_wwm", "--epochs_to_generate", "8", "--masked_lm_prob", "0.3")
    checked = multi = 0
    for it in items(out, tokens, 24):
        text = "".join(tokens[i] for i in original_tokens(it)[1:-1])
        doc = next(d for d in ZH_DOCS if text in d)
        start = doc.index(text)
        masked = set((np.flatnonzero(it["lm_label_ids"] != -100) - 1 + start).tolist())
        for w, s, e in jieba.tokenize(doc):
            if s >= start and e <= start + len(text):
                hit = sum(p in masked for p in range(s, e))
                assert hit in (0, e - s), (doc, w)
                checked += 1
                multi += hit == e - s > 1
    assert checked > 100 and multi > 10


def test_mask_batch_proportions_and_counts():
    rng = np.random.default_rng(0)
    lengths = rng.integers(8, 129, size=3000)
    ids = rng.integers(10, 1000, size=int(lengths.sum())).astype(np.int32)
    off = np.concatenate([[0], np.cumsum(lengths)])
    specials = np.zeros(len(ids), bool)
    specials[off[:-1]] = specials[off[1:] - 1] = True
    specials[off[:-1] + lengths // 2] = True
    random_ids = np.arange(10, 1000, dtype=np.int32)
    masked, counts, pos, labels = mask_batch(ids, lengths, specials, None, masked_lm_prob=0.15, max_predictions=20,
                                             mask_id=4, random_ids=random_ids, rng=np.random.default_rng(1))
    expected = [min(20, max(1, round(int(n) * 0.15))) for n in lengths]  # Python round, as BERT
    assert counts.tolist() == expected
    glob_pos = pos + np.repeat(off[:-1], counts)
    assert not specials[glob_pos].any()
    assert (labels == ids[glob_pos]).all()
    assert (np.delete(masked, glob_pos) == np.delete(ids, glob_pos)).all()
    for i in range(0, 3000, 97):  # sorted positions within an instance
        p = pos[int(counts[:i].sum()):int(counts[:i + 1].sum())]
        assert (np.diff(p) > 0).all()
    new = masked[glob_pos]
    n = len(new)
    frac_mask = (new == 4).mean()
    frac_keep = (new == labels).mean()
    frac_rand = ((new != 4) & (new != labels)).mean()
    tol = 4 * np.sqrt(0.1 * 0.9 / n)
    assert n > 30000
    assert abs(frac_mask - 0.8) < tol and abs(frac_keep - 0.1 - 0.1 / 990) < tol and abs(frac_rand - 0.1) < tol


def test_masked_positions_never_on_specials_or_padding(en, tmp_path):
    corpus, vocab, tokens = en
    out = pregen(corpus, vocab, tmp_path / "o", "--max_seq_len", "64")
    cls, sep = tokens.index("[CLS]"), tokens.index("[SEP]")
    n_pairs = 0
    for it in items(out, tokens, max_seq_len=80):
        n = int(it["attention_mask"].sum())
        orig = original_tokens(it)
        pos = np.flatnonzero(it["lm_label_ids"] != -100)
        assert len(pos) >= 1 and pos.max() < n and 0 not in pos
        assert orig[0] == cls and orig[-1] == sep and (orig == sep).sum() == 2
        assert not np.isin(orig[pos], [cls, sep]).any()
        seg = it["token_type_ids"][:n]
        assert seg[0] == 0 and seg[-1] == 1 and (np.diff(seg) >= 0).all() and (it["token_type_ids"][n:] == 0).all()
        assert orig[np.flatnonzero(np.diff(seg))[0]] == sep  # segment A ends with its [SEP]
        assert (it["input_ids"][n:] == tokens.index("[PAD]")).all()
        n_pairs += 1
    assert n_pairs > 20


# ------------------------------------------------------------------------------------------------------ NSP
def test_random_next_comes_from_another_document(tmp_path):
    rng = np.random.default_rng(3)
    docs = []
    for d in range(12):
        sents = [" ".join(f"d{d}s{s}w{w}" for w in range(int(rng.integers(3, 9)))) + " ."
                 for s in range(int(rng.integers(3, 8)))]
        docs.append(sents)
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join("\n".join(s) for s in docs) + "\n", encoding="utf-8")
    words = sorted({w for s in docs for line in s for w in line.split()})
    tokens = SPECIALS + words
    (tmp_path / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    out = pregen(corpus, tmp_path / "vocab.txt", tmp_path / "o", "--max_seq_len", "40", "--epochs_to_generate", "3")
    stream = {d: [w for line in s for w in line.split()] for d, s in enumerate(docs)}
    seen = {True: 0, False: 0}
    for it in [it for epoch in range(3) for it in items(out, tokens, 40, epoch=epoch)]:
        orig = [tokens[i] for i in original_tokens(it)]
        sep = orig.index("[SEP]")
        a, b = orig[1:sep], orig[sep + 1:-1]
        doc_of = {int(re.match(r"d(\d+)", w).group(1)) for w in a + b if w != "."}
        da = {int(re.match(r"d(\d+)", w).group(1)) for w in a if w != "."}
        db = {int(re.match(r"d(\d+)", w).group(1)) for w in b if w != "."}
        assert len(da) == 1 and len(db) == 1
        rnd = bool(it["is_next"])
        seen[rnd] += 1
        if rnd:
            assert da != db
        else:
            assert len(doc_of) == 1
            s = stream[da.pop()]
            ia, ib = s.index(a[0] if a[0] != "." else a[1]), s.index(b[-1] if b[-1] != "." else b[-2])
            assert ia < ib  # B follows A in the same document
    assert seen[True] > 10 and seen[False] > 10


def test_one_seq_single_segment(en, tmp_path):
    corpus, vocab, tokens = en
    out = pregen(corpus, vocab, tmp_path / "o", "--max_seq_len", "48", "--one_seq")
    for it in items(out, tokens, 48):
        orig = original_tokens(it)
        assert (orig == tokens.index("[SEP]")).sum() == 1 and orig[-1] == tokens.index("[SEP]")
        assert (it["token_type_ids"] == 0).all() and it["is_next"] == 0


# ------------------------------------------------------------------------------------------------------ formats
def test_json_and_binary_give_identical_batches(en, tmp_path):
    corpus, vocab, tokens = en
    b = pregen(corpus, vocab, tmp_path / "bin", "--max_seq_len", "64", "--epochs_to_generate", "2",
               "--do_whole_word_mask")
    j = pregen(corpus, vocab, tmp_path / "json", "--max_seq_len", "64", "--epochs_to_generate", "2",
               "--do_whole_word_mask", "--output_format", "json")
    assert (j / "epoch_1.json").is_file() and not list(j.glob("*.bin"))
    first = json.loads((j / "epoch_0.json").read_text().splitlines()[0])
    assert set(first) == {"tokens", "segment_ids", "is_random_next", "masked_lm_positions", "masked_lm_labels"}
    assert first["tokens"][0] == "[CLS]" and len(first["tokens"]) == len(first["segment_ids"])
    for epoch in (0, 1):
        ib, ij = items(b, tokens, 64, epoch), items(j, tokens, 64, epoch)
        assert len(ib) == len(ij) > 0
        for x, y in zip(ib, ij):
            for k in x:
                assert np.array_equal(x[k], y[k]), k
    ib = items(b, tokens, 64, reduce_memory=True)  # memory-mapped shards read the same
    assert all(np.array_equal(x["input_ids"], y["input_ids"]) for x, y in zip(ib, items(j, tokens, 64)))
    # the JSON tokens are the masked input and the labels are the originals, at the given positions
    ds = PregeneratedDataset(j, 0, str(vocab), 64)
    it = ds[0]
    assert it["input_ids"].dtype.is_floating_point is False and it["input_ids"].shape == (64,)
    assert [tokens[i] for i in it["input_ids"][:len(first["tokens"])].tolist()] == first["tokens"]
    labels = it["lm_label_ids"].numpy()
    assert np.flatnonzero(labels != -100).tolist() == first["masked_lm_positions"]
    assert [tokens[i] for i in labels[labels != -100]] == first["masked_lm_labels"]
    assert int(it["is_next"]) == int(first["is_random_next"])
    # a training epoch past the pregenerated ones wraps around, as the original
    assert np.array_equal(items(b, tokens, 64, epoch=2)[0]["input_ids"], items(b, tokens, 64, epoch=0)[0]["input_ids"])


def test_dynamic_masking_differs_per_epoch_and_is_reproducible(en, tmp_path):
    corpus, vocab, tokens = en
    out = tmp_path / "dyn"
    assert run_command("pretrain-data", ["--input_file", str(corpus), "--vocab_file", str(vocab), "--output_dir",
                                         str(out), "--max_seq_length", "64", "--dynamic_masking", "--no_progress",
                                         "--do_whole_word_mask", "--chunk_chars", "600"]) == 0
    assert json.loads((out / "epoch_0_metrics.json").read_text())["dynamic_masking"] is True
    e0, e0b, e1 = items(out, tokens, 64, 0), items(out, tokens, 64, 0), items(out, tokens, 64, 1)
    other_seed = items(out, tokens, 64, 0, seed=99)
    assert all(np.array_equal(x["input_ids"], y["input_ids"]) and np.array_equal(x["lm_label_ids"], y["lm_label_ids"])
               for x, y in zip(e0, e0b))
    diff = sum(not np.array_equal(x["lm_label_ids"], y["lm_label_ids"]) for x, y in zip(e0, e1))
    assert diff > 0.9 * len(e0)
    assert sum(not np.array_equal(x["lm_label_ids"], y["lm_label_ids"]) for x, y in zip(e0, other_seed)) > 0.9 * len(e0)
    for x, y in zip(e0, e1):  # same underlying text, masks afresh, whole words kept
        assert np.array_equal(original_tokens(x), original_tokens(y))
        masked = set(np.flatnonzero(y["lm_label_ids"] != -100).tolist())
        assert masked and all(sum(p in masked for p in g) in (0, len(g))
                              for g in _word_groups(original_tokens(y).tolist(), tokens))


# ------------------------------------------------------------------------------------------------------ tokenizer path
def test_ascii_fast_path_matches_full_tokenizer(en):
    from tinybert.data.pretraining import InstanceConfig, _Worker, token_info
    from tinybert.models.tokenizer import load_tokenizer

    _, vocab, _ = en
    for lower in (True, False):
        tok = load_tokenizer(vocab, do_lower_case=lower)
        w = _Worker(tok.backend_tokenizer, token_info(tok), InstanceConfig(), 0, [0])
        assert w.fast_backend is not None
        lines = ["The River rose_quickly, after\x01the storm!", "UNBELIEVABLY\thigh\x0b(water) 12.5%",
                 "naïve café — Flood", "x" * 150 + " river", "#$%&'*+/<=>?@[\\]^`{|}~", "\x7f\x1f"]
        fast = w.encode(lines)[0]
        full = [e.ids for e in tok.backend_tokenizer.encode_batch(lines, add_special_tokens=False)]
        assert fast == full


# ------------------------------------------------------------------------------------------------------ vocab tools
def test_build_vocab_specials_first(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(CORPUS_EN, encoding="utf-8")
    assert run_command("build-vocab", ["--input_file", str(corpus), "--output_dir", str(tmp_path / "v"),
                                       "--vocab_size", "300", "--min_count", "2"]) == 0
    tokens = (tmp_path / "v" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert tokens[:5] == SPECIALS and len(set(tokens)) == len(tokens) and len(tokens) <= 300
    assert "the" in tokens and any(t.startswith("##") for t in tokens)
    from tinybert.models.tokenizer import load_tokenizer

    tok = load_tokenizer(tmp_path / "v")
    assert "[UNK]" not in tok.tokenize("The river rose quickly")


def test_vocab_adapter_copies_kept_rows():
    import torch

    from tinybert.data.vocab_adapter import adapt_vocab

    old = SPECIALS + ["river", "storm", "bridge", "##s"]
    new = SPECIALS + ["bridge", "flood", "river", "##s", "embankment"]
    torch.manual_seed(0)
    emb = torch.randn(len(old), 16)
    sd = {"bert.embeddings.word_embeddings.weight": emb, "cls.predictions.bias": torch.arange(len(old)).float(),
          "bert.encoder.layer.0.output.dense.weight": torch.randn(16, 16)}
    res = adapt_vocab(sd, old, new, initializer_range=0.02, seed=1)
    out = res.state_dict["bert.embeddings.word_embeddings.weight"]
    assert out.shape == (len(new), 16) and res.kept == 8 and res.added == 2
    for i, t in enumerate(new):
        if t in old:
            assert torch.equal(out[i], emb[old.index(t)])
            assert res.state_dict["cls.predictions.bias"][i] == old.index(t)
        else:
            assert out[i].abs().max() < 0.02 * 6 and res.state_dict["cls.predictions.bias"][i] == 0
    assert res.state_dict["bert.encoder.layer.0.output.dense.weight"] is sd["bert.encoder.layer.0.output.dense.weight"]
    with pytest.raises(UserError, match="rows"):
        adapt_vocab(sd, old[:-1], new)


# ------------------------------------------------------------------------------------------------------ bad input
def _fails(capsys, cmd, argv, *needles):
    assert run_command(cmd, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    for n in needles:
        assert n in err, err
    return err


def test_bad_inputs_exit_2_with_one_line(en, tmp_path, capsys, monkeypatch):
    corpus, vocab, tokens = en
    base = ["--bert_model", str(vocab), "--no_progress"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    _fails(capsys, "pregenerate", ["--train_corpus", str(empty), "--output_dir", str(tmp_path / "o1"), *base],
           "empty.txt", "no text")
    single = tmp_path / "single.txt"
    single.write_text(PARAGRAPHS[0] + "\n", encoding="utf-8")
    _fails(capsys, "pregenerate", ["--train_corpus", str(single), "--output_dir", str(tmp_path / "o2"), *base],
           "single.txt", "single document", "--one_seq")
    assert not (tmp_path / "o2").exists()
    pregen(single, vocab, tmp_path / "o2b", "--one_seq")  # fine with --one_seq
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n\nanother line\n\xff\xfe broken\n")
    _fails(capsys, "pregenerate", ["--train_corpus", str(bad), "--output_dir", str(tmp_path / "o3"), *base],
           "bad.txt:4", "UTF-8")
    _fails(capsys, "pregenerate", ["--train_corpus", str(corpus), "--output_dir", str(tmp_path / "o4"),
                                   "--bert_model", str(tmp_path / "nomodel")], "nomodel", "vocab")
    done = pregen(corpus, vocab, tmp_path / "done", "--max_seq_len", "64")
    before = (done / "epoch_0_shard_00000.bin").read_bytes()
    _fails(capsys, "pregenerate", ["--train_corpus", str(corpus), "--output_dir", str(done), *base],
           "done", "--overwrite_output_dir")
    assert (done / "epoch_0_shard_00000.bin").read_bytes() == before
    pregen(corpus, vocab, done, "--max_seq_len", "32", "--overwrite_output_dir")
    assert json.loads((done / "epoch_0_metrics.json").read_text())["max_seq_len"] == 32
    _fails(capsys, "pretrain-data", ["--input_file", str(tmp_path / "nothere*.txt"), "--vocab_file", str(vocab),
                                     "--output_dir", str(tmp_path / "o5")], "nothere", "--input_file")
    _fails(capsys, "pretrain-data", ["--input_file", str(corpus), "--vocab_file", str(vocab), "--output_dir",
                                     str(tmp_path / "o6"), "--dynamic_masking", "--output_format", "json"],
           "--dynamic_masking")
    _fails(capsys, "build-vocab", ["--input_file", str(empty), "--output_dir", str(tmp_path / "v")], "empty.txt",
           "no text")
    monkeypatch.setitem(sys.modules, "jieba", None)
    _fails(capsys, "pregenerate", ["--train_corpus", str(corpus), "--output_dir", str(tmp_path / "o7"), *base,
                                   "--chinese_wwm"], "jieba")


def test_check_pregenerated_refuses_mismatches(en, tmp_path):
    corpus, vocab, tokens = en
    out = pregen(corpus, vocab, tmp_path / "o", "--max_seq_len", "64")
    metrics = check_pregenerated(out, len(tokens), 128)
    assert metrics[0]["max_seq_len"] == 64 and metrics[0]["vocab_size"] == len(tokens)
    with pytest.raises(UserError, match=r"epoch_0_metrics.json: .*vocabulary.*regenerate") as e:
        check_pregenerated(out, len(tokens) + 1, 128)
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match=r"max_seq_len 64, longer than the model's 32; regenerate"):
        check_pregenerated(out, len(tokens), 32)
    with pytest.raises(UserError, match="no pregenerated data"):
        check_pregenerated(tmp_path, None, None)
    with pytest.raises(UserError, match="vocabulary"):
        PregeneratedDataset(out, 0, tokens + ["extra"], 64)


def test_documents_whole_and_random_next_from_the_whole_corpus(tmp_path):
    import random

    from tinybert.data.pretraining import TokenStore, _StoreWriter, iter_lines

    f = tmp_path / "c.txt"
    f.write_bytes(b"a b c\r\nd e f\r\n\r\n\r\ng h\r\n\r\ni j\n")
    assert list(iter_lines([str(f)])) == [(0, "a b c"), (0, "d e f"), (1, "g h"), (2, "i j")]
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    writer = _StoreWriter(str(store_dir), 100, whole_word=False)
    lines = [(0, 3), (0, 0), (0, 2), (1, 4), (2, 1), (2, 1), (2, 1), (3, 0)]  # (document, tokens): empty ones dropped
    writer.add([d for d, _ in lines], np.arange(12), np.array([n for _, n in lines]), None)
    assert writer.finish() == (3, 6)
    store = TokenStore(str(store_dir))
    assert store.document(0) == [([0, 1, 2], None), ([3, 4], None)] and store.document(2)[2] == ([11], None)
    py = random.Random(0)
    draws = [store.random_document(0, py) for _ in range(4000)]
    assert 0 not in draws and abs(draws.count(2) / len(draws) - 3 / 4) < 0.03  # weighted by lines, as the original
    assert {store.random_document(2, py) for _ in range(200)} == {0, 1}


def test_instances_do_not_depend_on_chunking(tmp_path):
    rng = np.random.default_rng(5)
    docs = [[" ".join(f"d{d}s{s}w{w}" for w in range(int(rng.integers(3, 9)))) + " ."
             for s in range(int(rng.integers(2, 7)))] for d in range(40)]
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n\n".join("\n".join(s) for s in docs) + "\n", encoding="utf-8")
    tokens = SPECIALS + sorted({w for s in docs for line in s for w in line.split()})
    (tmp_path / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    outs = {}
    for chunk, workers in (("50", "1"), ("600", "2"), ("1000000", "1")):
        outs[chunk] = out = tmp_path / f"o{chunk}"
        argv = ["--train_corpus", str(corpus), "--bert_model", str(tmp_path / "vocab.txt"), "--output_dir", str(out),
                "--no_progress", "--max_seq_len", "40", "--epochs_to_generate", "2", "--chunk_chars", chunk,
                "--num_workers", workers, "--do_whole_word_mask", "--masked_lm_prob", "0.15"]
        assert run_command("pregenerate", argv) == 0
    for name in sorted(os.listdir(outs["50"])):
        assert len({(o / name).read_bytes() for o in outs.values()}) == 1, name
    distances = []
    for it in items(outs["50"], tokens, 40):
        if it["is_next"]:
            orig = [tokens[i] for i in original_tokens(it)]
            sep = orig.index("[SEP]")
            da = {int(re.match(r"d(\d+)", w).group(1)) for w in orig[1:sep] if w != "."}
            db = {int(re.match(r"d(\d+)", w).group(1)) for w in orig[sep + 1:-1] if w != "."}
            distances.append(abs(da.pop() - db.pop()))
    assert 0 not in distances and max(distances) > 20  # far beyond any 50-character window


def test_python_api_equals_the_command_and_refuses_output_over_inputs(en, tmp_path):
    from tinybert import PregenerateConfig, run_pregenerate

    corpus, vocab, _ = en
    cli = pregen(corpus, vocab, tmp_path / "cli", "--max_seq_len", "64")
    result = run_pregenerate(PregenerateConfig(train_corpus=str(corpus), bert_model=str(vocab),
                                               output_dir=str(tmp_path / "api"), max_seq_len=64, chunk_chars=600,
                                               do_lower_case=True, no_progress=True, masked_lm_prob=0.15))
    metrics = [json.loads((cli / f"epoch_{e}_metrics.json").read_text()) for e in range(3)]
    assert result.num_instances == sum(m["num_training_examples"] for m in metrics)
    for name in os.listdir(cli):
        assert (cli / name).read_bytes() == (tmp_path / "api" / name).read_bytes(), name
    with pytest.raises(UserError, match="output_dir .* contains the input train_corpus"):
        run_pregenerate(PregenerateConfig(train_corpus=str(corpus), bert_model=str(vocab), output_dir=str(tmp_path)))
    with pytest.raises(UserError, match="masked_lm_prob"):
        PregenerateConfig(train_corpus=str(corpus), bert_model=str(vocab), output_dir="o", masked_lm_prob=1.0)


def test_masked_lm_prob_zero_masks_exactly_one_token_and_is_the_pregenerate_default(en, tmp_path):
    from tinybert import PregenerateConfig, PretrainDataConfig

    assert PregenerateConfig(train_corpus="c", bert_model="m", output_dir="o").masked_lm_prob == 0.0  # the original's
    assert PretrainDataConfig(input_file=["c"], vocab_file="v", output_dir="o").masked_lm_prob == 0.15
    corpus, vocab, tokens = en
    argv = ["--train_corpus", str(corpus), "--bert_model", str(vocab), "--output_dir", str(tmp_path / "o"),
            "--no_progress", "--max_seq_len", "64", "--epochs_to_generate", "2"]
    assert run_command("pregenerate", argv) == 0
    for epoch in (0, 1):
        its = items(tmp_path / "o", tokens, epoch=epoch)
        assert len(its) > 30 and all(int((it["lm_label_ids"] != -100).sum()) == 1 for it in its)
