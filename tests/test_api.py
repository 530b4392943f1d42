"""The README's Python API example, run as written (issue 12.3) on a tiny teacher instead of MiniLM and on a cut of
the repository's real corpus and spam data: the same recipes the commands call, driven by configs from Python."""

from __future__ import annotations

import os
import re

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_example() -> str:
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md: no python block under '## Python API'"
    return match.group(1)


def tiny_teacher(tmp_path) -> str:
    """A 2-layer BERT with a WordPiece vocabulary learnt from the repository's English corpus."""
    from transformers import BertConfig, BertForMaskedLM

    from tinybert.config.vocab import BuildVocabConfig
    from tinybert.models.checkpoint import save_model
    from tinybert.models.tokenizer import load_tokenizer
    from tinybert.recipes.build_vocab import run_build_vocab

    vocab_dir = tmp_path / "vocab"
    run_build_vocab(BuildVocabConfig(input_file=[os.path.join(ROOT, "examples/data/corpus_en.txt")],
                                     output_dir=str(vocab_dir), vocab_size=2000))
    tokenizer = load_tokenizer(str(vocab_dir), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer.get_vocab()), hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=128)
    path = str(tmp_path / "teacher_mlm")
    save_model(BertForMaskedLM(config), path, tokenizer=tokenizer)
    return path


def test_the_readme_python_example_runs_the_pipeline(tmp_path, monkeypatch, capsys):
    from transformers import BertConfig

    from tinybert.evaluate import read_eval_results

    code = readme_example()
    teacher = tiny_teacher(tmp_path)
    runs = tmp_path / "runs"
    code, n = re.subn(r'^teacher = ".*?"', f"teacher = {teacher!r}", code, count=1, flags=re.M)
    assert n == 1
    code, n = re.subn(r'^runs = ".*?"', f"runs = {str(runs)!r}", code, count=1, flags=re.M)
    assert n == 1
    student = tmp_path / "student_config"
    student.mkdir()
    vocab_size = len(open(os.path.join(teacher, "vocab.txt"), encoding="utf-8").read().splitlines())
    (student / "config.json").write_text(BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                                                    num_attention_heads=2, intermediate_size=64,
                                                    max_position_embeddings=128).to_json_string())
    code, n = re.subn(r'student_model="student_configs/small_2l_128d"', f"student_model={str(student)!r}", code)
    assert n == 1
    # the repository's real data, cut to a few hundred rows to keep the suite fast
    data = tmp_path / "spam"
    data.mkdir()
    for split, rows in (("train", 320), ("dev", 120)):
        lines = open(os.path.join(ROOT, f"examples/data/spam/{split}.tsv"), encoding="utf-8").readlines()
        (data / f"{split}.tsv").write_text("".join(lines[:rows + 1]), encoding="utf-8")
    corpus = tmp_path / "corpus_en.txt"
    corpus.write_text(open(os.path.join(ROOT, "examples/data/corpus_en.txt"), encoding="utf-8").read()[:150_000],
                      encoding="utf-8")
    for old, new in (('"examples/data/spam"', repr(str(data))), ('"examples/data/corpus_en.txt"', repr(str(corpus)))):
        assert code.count(old) == 1, old
        code = code.replace(old, new)
    monkeypatch.chdir(ROOT)  # the example's data paths are relative to the repository
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, "README.md (Python API)", "exec"), namespace)

    stage2, metrics = namespace["stage2"], namespace["metrics"]
    assert stage2.global_step == 40 and stage2.best_step in (20, 40)
    published = read_eval_results(os.path.join(runs, "stage2", "eval_results.txt"))
    assert metrics["acc"] == pytest.approx(published["acc"]) == pytest.approx(stage2.best_metric)
    for step in ("pregen", "general", "teacher", "stage1", "stage2", "eval"):
        assert os.listdir(runs / step), step
    assert "best dev acc" in capsys.readouterr().out
    teacher_acc = read_eval_results(os.path.join(runs, "teacher", "eval_results.txt"))["acc"]
    assert 0.0 <= teacher_acc <= 1.0
