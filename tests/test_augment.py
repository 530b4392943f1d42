"""Data augmentation: batched masked-LM and GloVe candidates against brute-force references, determinism across
workers, long inputs, GLUE column layouts and bad input."""

from __future__ import annotations

import os
import random
import re

import numpy as np
import pytest
import torch

from tinybert.cli import run_command
from tinybert.data.augment import (
    STOP_WORDS,
    AugmentOptions,
    Resources,
    SentenceCandidates,
    build_augmentor,
    split_words,
)
from tinybert.data.glove import GloveIndex, load_vectors

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the a of and to is was on in it this that movie film story actor plot cat dog fox mat sat ran jumps "
         "quick brown lazy good bad great happy sad funny dull long short new old play run walk talk see man woman "
         "city house car tree book music song day night time world life love hate best worst un").split()
PIECES = ["##s", "##ing", "##ed", "##believ", "##able", "##ly"]
PUNCT = list(".,!?'-")
VOCAB = SPECIAL + WORDS + PIECES + PUNCT
GLOVE_WORDS = ["playing", "walking", "talking", "unbelievable", "cats", "dogs", "movies", "films", "songs", "books",
               "quickly", "sadly", "happily", "trees", "cars", "houses", "actors", "stories"]
SENTENCES = [
    "the quick brown fox jumps over the lazy dog .",
    "a good movie with a great story and funny actors !",
    "this film was unbelievable , the plot is long and dull .",
    "the man sat on the mat playing music",
    "love",
    "she sadly walked to the old house in the city at night ; the trees were tall , the cars new .",
]


def _write_model(path: str, vocab: list[str], vocab_size: int | None = None, head: bool = True) -> str:
    from transformers import BertConfig, BertForMaskedLM, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=vocab_size or len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    model = BertForMaskedLM(cfg) if head else BertModel(cfg)
    model.save_pretrained(path)
    with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    return path


def _glove_rows(seed: int = 0, dim: int = 8) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = GLOVE_WORDS + [w for w in WORDS if w != "un"]
    return words, rng.standard_normal((len(words), dim)).astype(np.float32)


def _write_glove(path: str, header: bool = False) -> str:
    words, vecs = _glove_rows()
    with open(path, "w", encoding="utf-8") as f:
        if header:
            f.write(f"{len(words)} {vecs.shape[1]}\n")
        for w, v in zip(words, vecs):
            f.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    return path


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    model = _write_model(str(root / "mlm"), VOCAB)
    glove = _write_glove(str(root / "glove.txt"))
    return {"root": root, "model": model, "glove": glove}


@pytest.fixture(scope="module")
def augmentor(assets):
    opts = AugmentOptions(N=4, M=8, p=0.5, batch_size=3)
    return build_augmentor(Resources(assets["model"], assets["glove"]), opts)


# ----------------------------------------------------------------------------------------------------- masked-LM


def _reference_mlm(model, tok, sentence: str, M: int) -> dict[int, list[str]]:
    """One forward per word, unpadded, the whole vocabulary scored at every position (the original's design)."""
    words = re.findall(r"\w+|[^\w\s]", sentence)
    pieces_per_word = [tok.tokenize(w) for w in words]
    pieces = [p for ps in pieces_per_word for p in ps]
    out: dict[int, list[str]] = {}
    start = 0
    for i, (w, ps) in enumerate(zip(words, pieces_per_word)):
        if w.isalpha() and w.lower() not in STOP_WORDS and len(ps) == 1:
            masked = list(pieces)
            masked[start] = "[MASK]"
            tokens = ["[CLS]", *masked, "[SEP]", *pieces, "[SEP]"]
            types = [0] * (len(pieces) + 2) + [1] * (len(pieces) + 1)
            ids = torch.tensor([tok.convert_tokens_to_ids(tokens)])
            with torch.no_grad():
                logits = model(input_ids=ids, token_type_ids=torch.tensor([types])).logits[0, start + 1]
            top = torch.argsort(logits, descending=True)[:M].tolist()
            cands = [t for t in tok.convert_ids_to_tokens(top) if not t.startswith("##") and t not in SPECIAL]
            out[i] = [t for t in cands if t != ps[0]]
        start += len(ps)
    return out


def test_batched_mlm_candidates_equal_one_word_at_a_time(augmentor):
    model, tok = augmentor.mlm.model, augmentor.tok
    assert augmentor.mlm._bert_fast  # the last-layer shortcut is what is being checked here
    got = augmentor.candidates(SENTENCES[:5])
    checked = 0
    for sentence, sc in zip(SENTENCES[:5], got):
        ref = _reference_mlm(model, tok, sentence, augmentor.opt.M)
        words = [sentence[a:b] for a, b in sc.spans]
        assert words == re.findall(r"\w+|[^\w\s]", sentence)
        for i, cands in ref.items():
            assert sc.candidates[i] == cands, (sentence, words[i])
            assert cands, "a random tiny model still proposes some whole words"
            checked += 1
    assert checked >= 10


def test_bf16_runs_the_encoder_in_bfloat16_and_ranks_in_float32(assets):
    """--bf16: the encoder's matrix products run in bfloat16 (checked on a layer's output), the vocabulary logits and
    the top-M stay float32, and the candidates mostly agree with the float32 ones (a random tiny model has many
    near-ties, so not all)."""
    opts = AugmentOptions(N=4, M=8, p=0.5, batch_size=3)
    fp32 = build_augmentor(Resources(assets["model"], assets["glove"]), opts)
    bf16 = build_augmentor(Resources(assets["model"], assets["glove"], bf16=True), opts)
    assert bf16.mlm._bert_fast, "the last-layer shortcut is still checked (in float32) and used"
    seen: list[tuple[torch.dtype, torch.dtype]] = []
    encoder = bf16.mlm.model.bert.encoder.layer[0].attention.self.query
    decoder = bf16.mlm.model.cls.predictions.decoder
    hooks = [m.register_forward_hook(lambda m, _i, out: seen.append((m, out.dtype))) for m in (encoder, decoder)]
    got_bf16 = bf16.candidates(SENTENCES[:6])
    for h in hooks:
        h.remove()
    assert {d for m, d in seen if m is encoder} == {torch.bfloat16}
    assert {d for m, d in seen if m is decoder} == {torch.float32}
    got_fp32 = fp32.candidates(SENTENCES[:6])
    same = total = 0
    for x, y in zip(got_fp32, got_bf16):
        for cands, other in zip(x.candidates, y.candidates):
            same += len(set(cands or ()) & set(other or ()))
            total += len(cands or ())
    assert total >= 30 and same / total >= 0.5, (same, total)


def test_nezha_masked_lm_candidates(tmp_path):
    from tinybert.models.nezha import NezhaConfig, NezhaForMaskedLM

    torch.manual_seed(1)
    cfg = NezhaConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, max_relative_position=8)
    NezhaForMaskedLM(cfg).save_pretrained(str(tmp_path))
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    aug = build_augmentor(Resources(str(tmp_path), None), AugmentOptions(M=8, batch_size=2))
    assert type(aug.mlm.model).__name__ == "NezhaForMaskedLM" and not aug.mlm._bert_fast
    for sentence, sc in zip(SENTENCES[:4], aug.candidates(SENTENCES[:4])):
        for i, cands in _reference_mlm(aug.mlm.model, aug.tok, sentence, 8).items():
            assert sc.candidates[i] == cands, (sentence, i)


def test_candidate_rules(augmentor):
    sc = augmentor.candidates(["The movie was unbelievable and playing cats ran ."])[0]
    words = [sc.text[a:b] for a, b in sc.spans]
    by_word = dict(zip(words, sc.candidates))
    assert by_word["The"] == [] and by_word["was"] == [] and by_word["and"] == [] and by_word["."] == []
    assert by_word["movie"] and all(not c.startswith("##") and c != "movie" for c in by_word["movie"])
    # several pieces -> GloVe neighbours, the word itself excluded, capitalisation of the word kept
    glove = augmentor.glove
    assert by_word["unbelievable"] == glove.neighbours("unbelievable")
    assert by_word["playing"] == glove.neighbours("playing") and "playing" not in by_word["playing"]
    cap = augmentor.candidates(["Playing"])[0].candidates[0]
    assert cap == [w[0].upper() + w[1:] for w in glove.neighbours("playing")]


def test_window_on_long_input(augmentor):
    mlm = augmentor.mlm
    ids = list(range(5, 5 + 100))
    for k in (0, 50, 99):
        inp, types, pos = mlm.build_input(ids, k)
        assert len(inp) <= mlm.max_len == 64 and len(inp) == len(types)
        assert inp[pos] == mlm.tok.mask_token_id
        w = (len(inp) - 3) // 2
        assert inp[pos + w + 1] == ids[k]  # the unmasked copy carries the same piece at the same window offset


def test_600_token_sentence(augmentor):
    rng = random.Random(0)
    sentence = " ".join(rng.choice(WORDS[10:]) for _ in range(600))
    sc = augmentor.candidates([sentence])[0]
    assert len(sc.spans) == 600
    assert sum(1 for c in sc.candidates if c) > 500
    variants = sc.variants(3, 0.4, random.Random(1))
    assert len(variants) == 3 and all(v != sentence and len(v.split()) == 600 for v in variants)


def test_variants_are_distinct_and_bounded():
    sc = SentenceCandidates("a cat sat", [(0, 1), (2, 5), (6, 9)], [[], ["dog"], []])
    out = sc.variants(10, 0.9, random.Random(0))
    assert out == ["a dog sat"]  # only one variant exists; the draws are bounded
    assert SentenceCandidates("x", [(0, 1)], [[]]).variants(5, 1.0, random.Random(0)) == []


def test_split_words_like_basic_tokenizer():
    text = "Don't stop—now! 中文ok"
    assert [text[a:b] for a, b in split_words(text)] == ["Don", "'", "t", "stop", "—", "now", "!", "中", "文", "ok"]
    assert [text[a:b] for a, b in split_words(text)][-3:] == ["中", "文", "ok"]


# ----------------------------------------------------------------------------------------------------- GloVe


def test_glove_neighbours_equal_brute_force(assets):
    words, vecs = _glove_rows()
    index = GloveIndex.load(assets["glove"], M=5)
    index.prepare(["cats", "playing", "nonexistent"])
    for w in ["cats", "playing", "movie", "Cats"]:
        q = vecs[words.index(w.lower())]
        cos = vecs @ q / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(q))
        order = [words[j] for j in np.argsort(-cos) if words[j] != w.lower()][:5]
        assert index.neighbours(w) == order
    assert index.neighbours("nonexistent") == []


def test_glove_formats_agree(assets, tmp_path):
    from gensim.models import KeyedVectors

    ref = load_vectors(assets["glove"], limit=None)
    with_header = load_vectors(_write_glove(str(tmp_path / "h.txt"), header=True), limit=None)
    ref.save_word2vec_format(str(tmp_path / "b.bin"), binary=True)
    binary = load_vectors(str(tmp_path / "b.bin"), limit=None)
    ref.save(str(tmp_path / "n.kv"))
    native = load_vectors(str(tmp_path / "n.kv"), limit=5)
    for kv in (with_header, binary):
        assert kv.index_to_key == ref.index_to_key
        np.testing.assert_allclose(kv.vectors, ref.vectors, atol=1e-6)
    assert native.index_to_key == ref.index_to_key[:5] and isinstance(native, KeyedVectors)
    assert len(load_vectors(assets["glove"], limit=7)) == 7


# ----------------------------------------------------------------------------------------------------- files


def _args(assets, data_dir: str, *extra: str) -> list[str]:
    return ["--pretrained_bert_model", assets["model"], "--glove_embs", assets["glove"], "--data_dir", data_dir,
            "--M", "6", *extra]


def _read(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def test_same_seed_same_file_for_any_number_of_workers(assets, tmp_path):
    rng = random.Random(3)
    d = tmp_path / "data"
    d.mkdir()
    lines = ["sentence\tlabel"] + [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) + f"\t{i % 2}"
                                   for i in range(299)]  # 300 lines: two blocks of 256
    (d / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    outs = {}
    for workers, seed in (("1", "7"), ("2", "7"), ("1", "8")):
        out = str(tmp_path / f"aug_{workers}_{seed}.tsv")
        code = run_command("augment", _args(assets, str(d), "--task_name", "SST-2", "--N", "3", "--seed", seed,
                                            "--num_workers", workers, "--output", out))
        assert code == 0
        outs[workers, seed] = _read(out)
    assert outs["1", "7"] == outs["2", "7"]
    assert outs["1", "7"] != outs["1", "8"]
    assert outs["1", "7"][0] == "sentence\tlabel" and len(outs["1", "7"]) > 600


GLUE = {  # task: (header or None, row builder(sentence_a, sentence_b, i), text columns)
    "CoLA": (None, lambda a, b, i: ["gj04", str(i % 2), "", a], (3,)),
    "SST-2": ("sentence\tlabel", lambda a, b, i: [a, str(i % 2)], (0,)),
    "MRPC": ("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String", lambda a, b, i: [str(i % 2), "11", "12", a, b], (3, 4)),
    "STS-B": ("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
              lambda a, b, i: [str(i), "main", "f", "2012", "1", "s1", "s2", a, b, "3.2"], (7, 8)),
    "QQP": ("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate", lambda a, b, i: [str(i), "1", "2", a, b, "0"],
            (3, 4)),
    "MNLI": ("index\tpromptID\tpairID\tgenre\ts1bp\ts2bp\ts1p\ts2p\tsentence1\tsentence2\tlabel1\tgold_label",
             lambda a, b, i: [str(i), "1", "1n", "fiction", "(a)", "(b)", "(a)", "(b)", a, b, "neutral", "neutral"],
             (8, 9)),
    "QNLI": ("index\tquestion\tsentence\tlabel", lambda a, b, i: [str(i), a, b, "entailment"], (1, 2)),
    "RTE": ("index\tsentence1\tsentence2\tlabel", lambda a, b, i: [str(i), a, b, "not_entailment"], (1, 2)),
    "WNLI": ("index\tsentence1\tsentence2\tlabel", lambda a, b, i: [str(i), a, b, "1"], (1, 2)),
}


def test_each_glue_task_augments_its_text_columns(assets, tmp_path):
    from tinybert.data.tasks import get_task, read_examples

    for task, (header, build, cols) in GLUE.items():
        d = tmp_path / task
        d.mkdir()
        rows = [build(SENTENCES[i % 4], SENTENCES[(i + 1) % 4], i) for i in range(4)]
        text = ([header] if header else []) + ["\t".join(r) for r in rows]
        (d / "train.tsv").write_text("\n".join(text) + "\n", encoding="utf-8")
        assert get_task(task).text_columns == cols
        assert run_command("augment", ["--pretrained_bert_model", assets["model"], "--glove_embs", assets["glove"],
                                       "--glue_dir", str(tmp_path), "--task_name", task, "--N", "2"]) == 0
        out = _read(str(d / "train_aug.tsv"))
        if header:
            assert out[0] == header
            out = out[1:]
        changed = set()
        originals = ["\t".join(r) for r in rows]
        it = iter(out)
        line = next(it)
        for k, orig in enumerate(originals):
            assert line == orig, task
            nxt = originals[k + 1] if k + 1 < len(originals) else None
            variants = []
            for line in it:
                if line == nxt:
                    break
                variants.append(line.split("\t"))
            assert 0 < len(variants) <= 2 * len(cols), task
            for v in variants:
                assert len(v) == len(rows[k]), task
                diff = [c for c in range(len(v)) if v[c] != rows[k][c]]
                assert len(diff) == 1 and diff[0] in cols, (task, diff)  # one text column per variant
                changed.add(diff[0])
        assert changed == set(cols), task
        examples = read_examples(get_task(task), str(d), "train_aug")
        assert len(examples) == len(out)
        assert examples[0].text_a == rows[0][cols[0]]


def test_zh_character_level(tmp_path):
    vocab = SPECIAL + list("我们喜欢这部电影很好看的故事")
    model = _write_model(str(tmp_path / "zh"), vocab)
    d = tmp_path / "d"
    d.mkdir()
    (d / "train.tsv").write_text("label\ttext_a\n1\t我们喜欢这部电影\n0\t故事很好看\n", encoding="utf-8")
    assert run_command("augment", ["--pretrained_bert_model", model, "--data_dir", str(d), "--task_name",
                                   "chnsenticorp", "--N", "3"]) == 0
    out = _read(str(d / "train_aug.tsv"))
    assert out[0] == "label\ttext_a" and out[1] == "1\t我们喜欢这部电影" and len(out) > 3
    assert all(len(line.split("\t")[1]) == len(out[1].split("\t")[1]) for line in out[2:out.index("0\t故事很好看")])


# ----------------------------------------------------------------------------------------------------- bad input


def _bad(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert run_command("augment", argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_exits_2_with_one_line(assets, tmp_path, capsys):
    d = tmp_path / "SST-2"
    d.mkdir()
    (d / "train.tsv").write_text("sentence\tlabel\na good movie\t1\n", encoding="utf-8")
    base = ["--pretrained_bert_model", assets["model"], "--glue_dir", str(tmp_path), "--task_name", "SST-2"]

    bad_glove = tmp_path / "bad.txt"
    bad_glove.write_text("cat 0.1 0.2 0.3\ndog 0.2 0.1 0.0\nfox 0.3 0.2\n", encoding="utf-8")
    assert f"{bad_glove}:3:" in _bad(capsys, [*base, "--glove_embs", str(bad_glove)])
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "empty" in _bad(capsys, [*base, "--glove_embs", str(empty)])

    (tmp_path / "RTE").mkdir()
    assert "train.tsv" in _bad(capsys, [*base[:2], "--glue_dir", str(tmp_path), "--task_name", "RTE"])

    short = tmp_path / "short"
    short.mkdir()
    (short / "train.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta cat\tthe dog\tentailment\n1\tonly\n",
                                     encoding="utf-8")
    (short / "train_aug.tsv").write_text("OLD\n", encoding="utf-8")
    err = _bad(capsys, [*base[:2], "--data_dir", str(short), "--task_name", "RTE"])
    assert f"{short / 'train.tsv'}:3:" in err
    assert (short / "train_aug.tsv").read_text(encoding="utf-8") == "OLD\n"  # never left half-written
    assert sorted(os.listdir(short)) == ["train.tsv", "train_aug.tsv"]  # no temporary file left behind

    nolabel = tmp_path / "nolabel"
    nolabel.mkdir()
    (nolabel / "train.tsv").write_text("sentence\tlabel\na good movie\t1\na row without its label\n", encoding="utf-8")
    err = _bad(capsys, [*base[:2], "--data_dir", str(nolabel), "--task_name", "SST-2"])
    assert f"{nolabel / 'train.tsv'}:3:" in err  # the task reader's check, as training would refuse it
    assert sorted(os.listdir(nolabel)) == ["train.tsv"]
    assert "--output" in _bad(capsys, [*base, "--output", str(d / "train.tsv")])  # never over an input
    assert "--output" in _bad(capsys, [*base, "--output", os.path.join(assets["model"], "aug.tsv")])

    locked = tmp_path / "locked.tsv"
    locked.write_text("KEEP\n", encoding="utf-8")
    locked.chmod(0o444)
    assert "read-only" in _bad(capsys, [*base, "--output", str(locked)])
    assert locked.read_text(encoding="utf-8") == "KEEP\n"  # even for root, who could write it

    mismatch = _write_model(str(tmp_path / "mismatch"), VOCAB, vocab_size=len(VOCAB) + 5)
    assert "vocab" in _bad(capsys, ["--pretrained_bert_model", mismatch, *base[2:]])
    headless = _write_model(str(tmp_path / "headless"), VOCAB, head=False)
    assert "head" in _bad(capsys, ["--pretrained_bert_model", headless, *base[2:]])
