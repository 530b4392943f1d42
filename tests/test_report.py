"""``tinybert report``: numbers checked against the tiny models and logs the test writes itself."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertForSequenceClassification

from tinybert.cli import run_command
from tinybert.reporting.runs import metric_key, read_metrics

WORDS = ("the film was a delight from first scene to last i would not recommend this restaurant anyone . , "
         "weather turned cold in afternoon so we went home early service slow and soup arrived").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST = ["--batch_size", "4", "--max_seq_length", "32", "--warmup", "1", "--repeats", "2", "--no_cuda"]


def _write_lines(path, lines) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def make_run(root, name: str, hidden: int, metric: float | None, losses=("loss",), projection: bool = False,
             seed: int = 0) -> dict:
    """A tiny classifier run folder; returns the numbers the report must find."""
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=2 * hidden, max_position_embeddings=64, num_labels=2,
                     id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1})
    model = BertForSequenceClassification(cfg).eval()
    path = os.path.join(root, name)
    model.save_pretrained(path)
    _write_lines(os.path.join(path, "vocab.txt"), VOCAB)
    stored = load_file(os.path.join(path, "model.safetensors"))
    model_bytes = sum(t.numel() * t.element_size() for t in stored.values())
    extra = {}
    if projection:  # a TinyBERT student: the hidden-state projection stored beside the model weights
        extra = {"fit_dense.weight": torch.randn(64, hidden), "fit_dense.bias": torch.randn(64),
                 "fit_denses.1.weight": torch.randn(64, hidden)}
        save_file({**stored, **extra}, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    records = []
    for step in range(10, 110, 10):
        records.append({"step": step, "epoch": 0, "lr": 1e-4 * (1 - step / 110),
                        **{k: 2.0 / (1 + i) * np.exp(-step / 50) + 0.1 for i, k in enumerate(losses)}})
        if step % 50 == 0 and metric is not None:
            records.append({"step": step, "eval_acc": metric * step / 100, "eval_eval_loss": 0.5,
                            "eval_global_step": step})
    _write_lines(os.path.join(path, "metrics.jsonl"), [json.dumps(r) for r in records])
    if metric is not None:
        _write_lines(os.path.join(path, "eval_results.txt"), [f"acc = {metric}", "eval_loss = 0.25",
                                                              "global_step = 100"])
    return {
        "path": path,
        "parameters": sum(p.numel() for p in model.parameters()),
        "embedding_parameters": sum(p.numel() for p in model.bert.embeddings.parameters()),
        "weight_bytes": model_bytes,
        "projection_bytes": sum(t.numel() * t.element_size() for t in extra.values()),
        "projection_parameters": sum(t.numel() for t in extra.values()),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {
        "teacher": make_run(root, "teacher", 64, 0.9),
        "student": make_run(root, "student", 32, 0.855, losses=("loss", "att_loss", "rep_loss"), projection=True,
                            seed=1),
        "baseline": make_run(root, "baseline", 32, 0.72, seed=2),
    }


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out") / "report")
    pregen = tmp_path_factory.mktemp("pregen")  # no model: skipped with a warning
    argv = [runs["teacher"]["path"], runs["student"]["path"], runs["baseline"]["path"], str(pregen),
            "--output", out, "--labels", "teacher,distilled,labels-only,pregen", *FAST]
    assert run_command("report", argv) == 0
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        data = json.load(f)
    with open(os.path.join(out, "report.md"), encoding="utf-8") as f:
        md = f.read()
    return {"out": out, "json": data, "md": md, "pregen": str(pregen)}


def _rows(md: str) -> dict[str, list[str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines() if line.startswith("| ")]
    return {r[0]: r for r in rows[1:]}


def test_sizes_match_the_models(runs, report):
    by_name = {r["name"]: r for r in report["json"]["runs"]}
    assert list(by_name) == ["teacher", "distilled", "labels-only"]
    assert by_name["teacher"]["is_teacher"] and not by_name["distilled"]["is_teacher"]
    table = _rows(report["md"])
    for name, key in (("teacher", "teacher"), ("distilled", "student"), ("labels-only", "baseline")):
        got, want = by_name[name], runs[key]
        for field in ("parameters", "embedding_parameters", "weight_bytes", "projection_bytes",
                      "projection_parameters"):
            assert got[field] == want[field], (name, field)
        assert table[name][1] == f"{want['parameters']:,}"
        assert table[name][2].startswith(f"{want['embedding_parameters']:,} (")
    assert runs["student"]["projection_bytes"] > 0
    # the student's file is bigger on disk than its model tensors by the projections (and the header)
    student = by_name["distilled"]
    assert student["weight_files_bytes"] > student["weight_bytes"] + student["projection_bytes"]
    assert table["distilled"][3] == f"{runs['student']['weight_bytes'] / 1024:.1f} KiB"


def test_scores_share_and_speed(report):
    by_name = {r["name"]: r for r in report["json"]["runs"]}
    assert report["json"]["metric"] == "acc"
    assert by_name["distilled"]["metric"] == pytest.approx(0.855)
    assert by_name["distilled"]["share_of_teacher_pct"] == pytest.approx(95.0)
    assert by_name["labels-only"]["share_of_teacher_pct"] == pytest.approx(80.0)
    assert by_name["teacher"]["share_of_teacher_pct"] == pytest.approx(100.0)
    table = _rows(report["md"])
    assert table["distilled"][4:6] == ["0.8550", "95.0%"] and table["labels-only"][5] == "80.0%"
    assert "dev acc" in report["md"]
    for r in by_name.values():
        assert len(r["batch_seconds"]) == 2 and r["samples_per_s"] == pytest.approx(
            4 / float(np.median(r["batch_seconds"])))
        assert r["speedup"] == pytest.approx(r["samples_per_s"] / by_name["teacher"]["samples_per_s"])
    settings = report["json"]["settings"]
    assert settings["batch_size"] == 4 and settings["device"] == "cpu"
    assert set(settings["passes_per_round"]) == set(by_name) and min(settings["passes_per_round"].values()) >= 1
    assert settings["batch_source"] == "built-in English sentences"
    assert set(settings["sequence_length"].values()) == {settings["sequence_length"]["teacher"]}  # same batch
    assert report["json"]["skipped"] == [{"path": report["pregen"],
                                          "reason": "holds no model (config.json and model weights)"}]
    machine = report["json"]["machine"]
    assert machine["cores"] == os.cpu_count() and machine["torch_threads"] >= 1 and machine["cpu"]
    assert report["json"]["date"][:4].isdigit()


def _png(path: str) -> np.ndarray:
    import matplotlib.image

    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert os.path.getsize(path) > 5000
    return matplotlib.image.imread(path)[..., :3]


def _pixels_of(img: np.ndarray, hex_color: str) -> int:
    rgb = np.array([int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img - rgb).max(axis=-1) < 0.03).sum())


def test_plots_draw_every_series(report):
    out, data = report["out"], report["json"]
    assert data["plots"] == {"losses": os.path.join(out, "losses.png"),
                             "dev_metric": os.path.join(out, "dev_metric.png")}
    assert data["plotted"]["losses"] == {"teacher": ["loss"], "distilled": ["loss", "att_loss", "rep_loss"],
                                         "labels-only": ["loss"]}
    assert data["plotted"]["dev_metric"] == {"teacher": "eval_acc", "distilled": "eval_acc",
                                             "labels-only": "eval_acc"}
    losses = _png(data["plots"]["losses"])
    assert losses.std() > 0.05
    # matplotlib's first three cycle colours: one loss line in every panel, att/rep lines in the student's
    assert _pixels_of(losses, "#1f77b4") > 300
    assert _pixels_of(losses, "#ff7f0e") > 100 and _pixels_of(losses, "#2ca02c") > 100
    dev = _png(data["plots"]["dev_metric"])
    for color in ("#1f77b4", "#ff7f0e", "#2ca02c"):  # one line per run
        assert _pixels_of(dev, color) > 100
    for path in data["plots"].values():
        assert f"`{path}`" in report["md"]


def test_console_table_and_replacing_a_report(runs, report, tmp_path, capsys):
    out = report["out"]
    before = os.path.getmtime(os.path.join(out, "report.json"))
    argv = [runs["student"]["path"], runs["baseline"]["path"], "--teacher", runs["teacher"]["path"],
            "--output", out, "--task_name", "sst-2", *FAST]
    assert run_command("report", argv) == 0
    printed = capsys.readouterr().out
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        data = json.load(f)
    assert os.path.getmtime(os.path.join(out, "report.json")) >= before
    assert [r["name"] for r in data["runs"]] == ["teacher", "student", "baseline"]  # --teacher put first
    assert data["runs"][0]["is_teacher"]
    table = "\n".join(line for line in printed.splitlines() if line.startswith("|"))
    assert table in open(os.path.join(out, "report.md"), encoding="utf-8").read()
    assert "| teacher  " in table and "95.0%" in table
    assert f"losses plot: {os.path.join(out, 'losses.png')}" in printed
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def test_dev_set_batch(runs, tmp_path):
    data_dir = tmp_path / "SST-2"
    data_dir.mkdir()
    _write_lines(data_dir / "dev.tsv", ["sentence\tlabel", "the film was a delight\t1",
                                        "i would not recommend this restaurant to anyone\t0"])
    out = tmp_path / "rep"
    argv = [runs["teacher"]["path"], runs["baseline"]["path"], "--output", str(out), "--data_dir", str(data_dir),
            "--task_name", "sst-2", *FAST]
    assert run_command("report", argv) == 0
    settings = json.loads((out / "report.json").read_text())["settings"]
    assert "dev.tsv" in settings["batch_source"]
    # "i would not recommend this restaurant to anyone": [CLS] + 8 words + [SEP]
    assert settings["sequence_length"] == {"teacher": 10, "baseline": 10}


def test_metric_choice():
    assert metric_key({"eval_loss": 0.3, "global_step": 5.0, "mcc": 0.4}) == "mcc"
    assert metric_key({"acc": 0.8, "acc_and_f1": 0.7, "eval_loss": 0.3, "f1": 0.6}, "mrpc") == "acc"
    assert metric_key({"corr": 0.8, "eval_loss": 0.3, "pearson": 0.9}, "sts-b") == "corr"
    assert metric_key({"mnli-mm_acc": 0.7, "mnli_acc": 0.8}, "mnli") == "mnli_acc"
    assert metric_key({"eval_loss": 0.3}) is None


def _error(capsys, argv) -> str:
    assert run_command("report", argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_input(runs, tmp_path, capsys):
    out = str(tmp_path / "out")
    missing = str(tmp_path / "nope")
    assert missing in _error(capsys, [runs["teacher"]["path"], missing, "--output", out, *FAST])
    assert "no run directories" in _error(capsys, ["--output", out])
    err = _error(capsys, [runs["teacher"]["path"], "--output", runs["teacher"]["path"]])
    assert f"--output {runs['teacher']['path']} is the input run_dirs[0]" in err
    err = _error(capsys, [runs["teacher"]["path"], "--output", os.path.join(runs["teacher"]["path"], "rep")])
    assert "--output" in err and "lies inside the input run_dirs[0]" in err
    assert "--labels has 1 names for 2" in _error(capsys, [runs["teacher"]["path"], runs["student"]["path"],
                                                           "--output", out, "--labels", "a"])
    assert "--data_dir needs task_name" in _error(capsys, [runs["teacher"]["path"], "--output", out,
                                                           "--data_dir", str(tmp_path)])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "none of the run directories holds a model" in _error(capsys, [str(empty), "--output", out])
    assert not os.path.exists(out)

    bad = tmp_path / "bad"
    bad.mkdir()
    for name in os.listdir(runs["baseline"]["path"]):
        (bad / name).write_bytes(open(os.path.join(runs["baseline"]["path"], name), "rb").read())
    with open(bad / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"step": 120, "loss": 0.3}\n{"step": 130, "loss": \n')
    lines = len((bad / "metrics.jsonl").read_text().splitlines())
    err = _error(capsys, [runs["teacher"]["path"], str(bad), "--output", out])
    assert f"{bad / 'metrics.jsonl'}:{lines}: not valid JSON" in err
    with pytest.raises(Exception, match=f"metrics.jsonl:{lines}:"):
        read_metrics(str(bad / "metrics.jsonl"))
    (bad / "metrics.jsonl").write_text("[1, 2]\n")
    assert "metrics.jsonl:1: expected a JSON object" in _error(capsys, [str(bad), "--output", out])


def test_stage_runs_are_plotted_but_not_tabled(runs, tmp_path):
    stage = tmp_path / "td_stage1"
    stage.mkdir()
    _write_lines(stage / "metrics.jsonl", [json.dumps({"step": s, "loss": 1.0 / s, "att_loss": 0.5 / s,
                                                       "rep_loss": 0.5 / s}) for s in (1, 2, 3)])
    out = tmp_path / "rep"
    argv = [runs["teacher"]["path"], runs["student"]["path"], "--output", str(out), "--stages", str(stage), *FAST]
    assert run_command("report", argv) == 0
    data = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in data["runs"]] == ["teacher", "student"]
    assert data["plotted"]["losses"]["td_stage1"] == ["loss", "att_loss", "rep_loss"]


def test_stat_by_hand():
    from tinybert.reporting.runs import Stat

    stat = Stat.of([1.0, 2.0, 3.0, 4.0])
    assert stat.n == 4 and stat.mean == pytest.approx(2.5)
    assert stat.std == pytest.approx((5 / 3) ** 0.5)  # sample std: squared deviations 2.25+0.25+0.25+2.25 over 3
    one = Stat.of([0.7, None])
    assert (one.mean, one.std, one.n) == (pytest.approx(0.7), None, 1)


def test_several_runs_per_arm(runs, tmp_path):
    root = tmp_path / "seeds"
    root.mkdir()
    # three seeds of the distilled arm (0.80, 0.85, 0.87) and two of the label-only arm (0.70, 0.74)
    kd = [make_run(root, f"kd{i}", 32, m, seed=10 + i)["path"] for i, m in enumerate((0.80, 0.85, 0.87))]
    lo = [make_run(root, f"lo{i}", 32, m, seed=20 + i)["path"] for i, m in enumerate((0.70, 0.74))]
    out = tmp_path / "rep"
    argv = [runs["teacher"]["path"], *kd, "--labels", "teacher,kd,kd,kd", "--arm", f"label-only={','.join(lo)}",
            "--output", str(out), *FAST]
    assert run_command("report", argv) == 0
    data = json.loads((out / "report.json").read_text())
    assert [r["name"] for r in data["runs"]] == ["teacher", "kd [1]", "kd [2]", "kd [3]", "label-only [1]",
                                                 "label-only [2]"]
    arms = {a["name"]: a for a in data["arms"]}
    assert list(arms) == ["teacher", "kd", "label-only"]
    # by hand: mean 0.84; deviations -0.04, 0.01, 0.03 -> (0.0016 + 0.0001 + 0.0009) / 2 = 0.0013
    assert arms["kd"]["metric"]["mean"] == pytest.approx(0.84)
    assert arms["kd"]["metric"]["std"] == pytest.approx(0.0013 ** 0.5)
    assert arms["kd"]["metric"]["n"] == 3
    # mean 0.72, deviations +-0.02 -> (0.0004 + 0.0004) / 1
    assert arms["label-only"]["metric"]["std"] == pytest.approx(0.0008 ** 0.5)
    assert arms["kd"]["share_of_teacher_pct"] == pytest.approx(100 * 0.84 / 0.9)
    speeds = [r["samples_per_s"] for r in data["runs"] if r["arm"] == "kd"]
    assert arms["kd"]["samples_per_s"]["mean"] == pytest.approx(float(np.mean(speeds)))
    assert arms["kd"]["samples_per_s"]["std"] == pytest.approx(float(np.std(speeds, ddof=1)))
    assert arms["kd"]["speedup"] == pytest.approx(np.mean(speeds) / data["runs"][0]["samples_per_s"])
    table = _rows((out / "report.md").read_text())
    assert list(table) == ["teacher", "kd", "label-only"]
    assert table["kd"][4] == "0.8400 ± 0.0361 (n=3)" and table["kd"][5] == "93.3%"
    assert table["label-only"][4] == "0.7200 ± 0.0283 (n=2)"
    mean, std = np.mean(speeds), np.std(speeds, ddof=1)
    assert table["kd"][6] == f"{mean:.1f} ± {std:.1f}"
    assert table["teacher"][4] == "0.9000"  # one run: no ± (as before)
    assert "mean ± sample standard deviation" in (out / "report.md").read_text()


def test_arm_errors(runs, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert "--arm 'kd' is not NAME=DIR" in _error(capsys, ["--arm", "kd", "--output", out])
    same = tmp_path / "a" / "run"
    other = tmp_path / "b" / "run"
    same.mkdir(parents=True)
    other.mkdir(parents=True)
    assert "two runs share a name" in _error(capsys, [runs["teacher"]["path"], str(same), str(other),
                                                      "--output", out])


def test_latency_rows(runs, tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="the 'export' extra is not installed (pip install -e '.[export]')")
    data_dir = tmp_path / "SST-2"
    data_dir.mkdir()
    _write_lines(data_dir / "dev.tsv", ["sentence\tlabel", "the film was a delight\t1",
                                        "i would not recommend this restaurant to anyone\t0", "service slow\t0"])
    out = tmp_path / "rep"
    argv = [runs["teacher"]["path"], runs["student"]["path"], runs["baseline"]["path"], "--output", str(out),
            "--latency", "--latency_calls", "10", "--task_name", "sst-2", "--data_dir", str(data_dir), *FAST]
    assert run_command("report", argv) == 0
    printed = capsys.readouterr().out
    data = json.loads((out / "report.json").read_text())
    lat = data["latency"]
    assert list(lat["models"]) == ["student", "baseline"]  # the students, not the teacher
    assert lat["threads"] == 1 and lat["calls"] == 10 and lat["metric"] == "acc"
    assert (lat["inputs"], lat["length_min"], lat["length_max"]) == (4, 4, 10)  # the 3 dev rows, one repeated
    for name, rows in lat["models"].items():
        assert list(rows) == ["pytorch fp32", "onnx fp32", "onnx int8"]
        for r in rows.values():
            assert r["calls"] == 10 and 0 < r["p50_ms"] <= r["p95_ms"]
        assert rows["pytorch fp32"]["speedup_p50"] == 1.0
        assert rows["onnx fp32"]["dev"] == rows["pytorch fp32"]["dev"]
        assert rows["onnx int8"]["bytes"] < rows["onnx fp32"]["bytes"]
        assert rows["onnx fp32"]["bytes"] == os.path.getsize(out / "onnx" / name / "model.onnx")
        assert rows["pytorch fp32"]["bytes"] == runs[name]["weight_bytes"]  # the model tensors, as the table
    md = (out / "report.md").read_text()
    assert "## Latency at batch 1" in md
    table = [line for line in md.split("## Latency at batch 1")[1].splitlines() if line.startswith("| ")]
    assert [c.strip() for c in table[0].split("|")[1:-1]] == ["run", "backend", "size on disk", "p50 ms", "p95 ms",
                                                              "p50 speed-up", "dev acc"]
    assert len(table) == 1 + 2 * 3
    assert "latency at batch 1 (10 calls per model, 1 thread(s)):" in printed


def test_python_api(runs, tmp_path):
    from tinybert import ReportConfig, run_report

    cfg = ReportConfig(output=str(tmp_path / "rep"), run_dirs=[runs["teacher"]["path"]],
                       arms={"students": [runs["student"]["path"], runs["baseline"]["path"]]}, batch_size=4,
                       max_seq_length=32, warmup=1, repeats=2, no_cuda=True)
    result = run_report(cfg)
    assert [a["name"] for a in result.report["arms"]] == ["teacher", "students"]
    students = result.report["arms"][1]
    assert students["metric"]["mean"] == pytest.approx((0.855 + 0.72) / 2)
    assert students["metric"]["std"] == pytest.approx(float(np.std([0.855, 0.72], ddof=1)))
    assert "students" in result.table and os.path.isfile(result.markdown_path)
    with pytest.raises(Exception, match="labels has 1 names for 2 run directories"):
        ReportConfig(output="x", run_dirs=["a", "b"], labels="a")
