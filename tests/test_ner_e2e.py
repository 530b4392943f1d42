"""NER and reading comprehension end to end on tiny models and fixtures: fine-tune with the one Trainer (best dev
model kept by entity F1 / EM-F1, labels in id2label), evaluate, predict in the input's own format; errors."""

from __future__ import annotations

import json
import os
import random

import pytest
import torch

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PER = ["江泽民", "李鹏", "朱镕基"]
LOC = ["北京", "上海", "香港"]
ORG = ["新华社", "人民日报"]
FILLER = list("今天在的了是和说记者报道访问会见举行")
CHARS = sorted(set("".join(PER + LOC + ORG) + "".join(FILLER) + "哪里谁？。"))


def write_vocab(folder) -> str:
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(SPECIAL + CHARS) + "\n")
    return path


def tiny_model(path, tmp_path, model_type: str = "bert", seed: int = 0) -> str:
    """A tiny pretrained-style folder (no task head) with the fixture vocabulary."""
    from tinybert.models.checkpoint import save_model
    from tinybert.models.tokenizer import load_tokenizer

    sizes = dict(vocab_size=len(SPECIAL) + len(CHARS), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(seed)
    if model_type == "nezha":
        from tinybert.models.nezha import NezhaConfig, NezhaForMaskedLM

        model = NezhaForMaskedLM(NezhaConfig(**sizes, max_relative_position=16))
    else:
        from transformers import BertConfig, BertForMaskedLM

        model = BertForMaskedLM(BertConfig(**sizes))
    save_model(model, str(path), tokenizer=load_tokenizer(write_vocab(tmp_path / "vocab"), do_lower_case=True))
    return str(path)


def ner_sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        rows: list[tuple[str, str]] = []
        for _ in range(rng.randint(2, 4)):
            rows += [(c, "O") for c in rng.sample(FILLER, rng.randint(1, 3))]
            kind, names = rng.choice([("PER", PER), ("LOC", LOC), ("ORG", ORG)])
            name = rng.choice(names)
            rows += [(c, ("B-" if i == 0 else "I-") + kind) for i, c in enumerate(name)]
        out.append(rows)
    return out


def write_char_bio(path, sentences) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join("\n".join(f"{c} {t}" for c, t in s) + "\n" for s in sentences))
    return str(path)


def ner_data(folder, n_train: int = 64, n_dev: int = 16) -> str:
    os.makedirs(folder, exist_ok=True)
    write_char_bio(os.path.join(folder, "train.txt"), ner_sentences(n_train, 1))
    write_char_bio(os.path.join(folder, "dev.txt"), ner_sentences(n_dev, 2))
    test = ner_sentences(6, 3)
    with open(os.path.join(folder, "test.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join("\n".join(c for c, _ in s) + "\n" for s in test))
    return str(folder)


def run(command: str, argv: list) -> object:
    """The recipe of ``tinybert COMMAND`` on the config its flags give (the CLI's own mapping)."""
    import importlib

    from tinybert.cli import COMMANDS, build_parser

    args = build_parser(command).parse_args([str(a) for a in argv])
    module = importlib.import_module(COMMANDS[command][0])
    recipes = {"ner": ("tinybert.recipes.ner", "run_ner"), "mrc": ("tinybert.recipes.mrc", "run_mrc"),
               "ner-distill": ("tinybert.recipes.span_distill", "run_ner_distill"),
               "mrc-distill": ("tinybert.recipes.span_distill", "run_mrc_distill")}
    captured = {}
    name, fn = recipes[command]
    recipe_module = importlib.import_module(name)
    original = getattr(recipe_module, fn)
    try:
        setattr(recipe_module, fn, lambda cfg: captured.setdefault("result", original(cfg)))
        module.run(args)
    finally:
        setattr(recipe_module, fn, original)
    return captured["result"]


TRAIN = ["--train_batch_size", 16, "--eval_batch_size", 8, "--no_cuda", "--logging_steps", 1, "--learning_rate",
         5e-3, "--warmup_proportion", 0.0]


def eval_f1s(out: str) -> list[float]:
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        return [r["eval_f1"] for r in map(json.loads, f) if "eval_f1" in r]


@pytest.mark.parametrize("model_type", ["bert", "nezha"])
def test_ner_finetune_keeps_best_and_predicts_in_the_input_format(tmp_path, model_type):
    from tinybert.evaluate import read_eval_results
    from tinybert.models.checkpoint import load_model

    base = tiny_model(tmp_path / "base", tmp_path, model_type)
    data = ner_data(tmp_path / "data")
    out = str(tmp_path / "ner")
    result = run("ner", ["--model", base, "--data_dir", data, "--output_dir", out, "--do_train", "--do_eval",
                         "--do_predict", "--max_seq_length", 8, "--doc_stride", 3, "--max_steps", 40,
                         "--eval_step", 10, *TRAIN])
    f1s = eval_f1s(out)
    assert len(f1s) == 4 and result.train.best_metric == max(f1s)
    assert max(f1s) > 0.5, f1s  # far above a tagger that finds nothing (F1 0)
    kept = read_eval_results(os.path.join(out, "eval_results.txt"))
    assert kept["f1"] == pytest.approx(max(f1s)) and "f1_PER" in kept and kept["token_acc"] > 0.5
    model = load_model(out, head="token_classification")
    assert model.config.id2label == {0: "O", 1: "B-LOC", 2: "I-LOC", 3: "B-ORG", 4: "I-ORG", 5: "B-PER", 6: "I-PER"}
    with open(result.predictions_file, encoding="utf-8") as f:
        rows = f.read().split("\n\n")
    with open(os.path.join(data, "test.txt"), encoding="utf-8") as f:
        chars = [line.split() for line in f.read().split("\n\n")]
    assert len(rows) == len(chars) and result.predictions_file.endswith("test_predictions.txt")
    for block, sentence in zip(rows, chars, strict=True):
        lines = [line.split() for line in block.splitlines()]
        assert [c for c, _ in lines] == sentence and all(t in model.config.label2id for _, t in lines)


def test_ner_evaluate_a_finished_model_and_errors(tmp_path, capsys):
    from tinybert.cli import main

    base = tiny_model(tmp_path / "base", tmp_path)
    data = ner_data(tmp_path / "data", n_train=16, n_dev=4)
    out = str(tmp_path / "ner")
    run("ner", ["--model", base, "--data_dir", data, "--output_dir", out, "--do_train", "--max_seq_length", 16,
                "--max_steps", 2, *TRAIN])
    res = run("ner", ["--model", out, "--dev_file", os.path.join(data, "dev.txt"), "--output_dir",
                      tmp_path / "ev", "--do_eval"])
    assert set(res.eval_metrics) >= {"f1", "precision", "recall", "token_acc"}
    bad = tmp_path / "bad_dev.txt"
    bad.write_text("北 B-GPE\n京 I-GPE\n", encoding="utf-8")
    assert main(["ner", "--model", out, "--dev_file", str(bad), "--output_dir", str(tmp_path / "ev2"),
                 "--do_eval"]) == 2
    err = capsys.readouterr().err
    assert "bad_dev.txt:1: label 'B-GPE' is not among the labels" in err and "Traceback" not in err
    assert main(["ner", "--model", out, "--output_dir", str(tmp_path / "ev3")]) == 2
    assert "nothing to do: pass --do_train" in capsys.readouterr().err
    # a dev label the training set never had is refused before any training
    assert main(["ner", "--model", base, "--train_file", os.path.join(data, "train.txt"), "--dev_file", str(bad),
                 "--output_dir", str(tmp_path / "ft2"), "--do_train", "--max_steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "bad_dev.txt:1: label 'B-GPE' is not among the labels of the training set" in err
    assert not os.path.exists(tmp_path / "ft2" / "metrics.jsonl")


# ----------------------------------------------------------------------------------------------------- MRC


def mrc_file(path, n: int, seed: int) -> str:
    """Questions "who/where?" over short contexts that name one person and one place."""
    rng = random.Random(seed)
    paragraphs = []
    for k in range(n):
        person, place = rng.choice(PER), rng.choice(LOC)
        context = "".join(rng.sample(FILLER, 3)) + person + "".join(rng.sample(FILLER, 2)) + place + "。"
        qas = [{"id": f"q{k}p", "question": "谁？", "answers": [{"text": person,
                                                              "answer_start": context.index(person)}]},
               {"id": f"q{k}l", "question": "哪里？", "answers": [{"text": place,
                                                               "answer_start": context.index(place)}]}]
        paragraphs.append({"context": context, "qas": qas})
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": "v1.0", "data": [{"title": "t", "paragraphs": paragraphs}]}, f, ensure_ascii=False)
    return str(path)


def test_mrc_finetune_evaluate_predict(tmp_path, capsys):
    from tinybert.cli import main

    base = tiny_model(tmp_path / "base", tmp_path)
    data = tmp_path / "cmrc"
    data.mkdir()
    mrc_file(data / "train.json", 48, 1)
    dev = mrc_file(data / "dev.json", 8, 2)
    out = str(tmp_path / "mrc")
    result = run("mrc", ["--model", base, "--data_dir", data, "--output_dir", out, "--do_train", "--do_eval",
                         "--do_predict", "--predict_file", dev, "--max_seq_length", 16, "--doc_stride", 4,
                         "--max_answer_length", 4, "--max_steps", 30, "--eval_step", 10, *TRAIN])
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        averages = [r["eval_average"] for r in map(json.loads, f) if "eval_average" in r]
    assert len(averages) == 3 and result.train.best_metric == max(averages)
    assert result.eval_metrics["average"] == pytest.approx(max(averages))
    with open(os.path.join(out, "predictions.json"), encoding="utf-8") as f:
        predictions = json.load(f)
    with open(os.path.join(out, "nbest_predictions.json"), encoding="utf-8") as f:
        nbest = json.load(f)
    assert set(predictions) == set(nbest) == {f"q{k}{x}" for k in range(8) for x in "pl"}
    assert all(nbest[q][0]["text"] == predictions[q] for q in predictions)
    # the official metric of the written predictions is what the evaluation reported
    assert main(["mrc-eval", dev, os.path.join(out, "predictions.json")]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert float(printed["AVERAGE"]) == pytest.approx(result.eval_metrics["average"], abs=1e-3)
