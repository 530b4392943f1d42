"""Every command that writes refuses, before any work, an output that is, contains or lies inside one of its inputs
(issue 13.1), with one line naming the flag and the input, exit status 2, and the input left untouched — also with
--overwrite_output_dir, which never makes writing into an input allowed."""

from __future__ import annotations

import hashlib
import os

import pytest

from tinybert.cli import run_command


def snapshot(folder) -> dict[str, str]:
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha1(open(path, "rb").read()).hexdigest()
    return out


@pytest.fixture
def inputs(tmp_path):
    """Folders that stand for a model, a student config, pregenerated data and task data (contents are never read:
    the refusal comes first)."""
    made = {}
    for name, files in {"teacher": ("config.json", "model.safetensors", "vocab.txt"), "student": ("config.json",),
                        "pregen": ("epoch_0.json",), "data": ("train.tsv", "dev.tsv"), "corpus": ("corpus.txt",)
                        }.items():
        folder = tmp_path / name
        folder.mkdir()
        for f in files:
            (folder / f).write_text(f"{name}/{f}\n")
        made[name] = str(folder)
    return made


CASES = {
    "general-distill output = teacher": (
        "general-distill", lambda d: ["--pregenerated_data", d["pregen"], "--teacher_model", d["teacher"],
                                      "--student_model", d["student"], "--output_dir", d["teacher"]], "teacher"),
    "general-distill output = student config": (
        "general-distill", lambda d: ["--pregenerated_data", d["pregen"], "--teacher_model", d["teacher"],
                                      "--student_model", d["student"], "--output_dir", d["student"]], "student"),
    "general-distill output inside the data": (
        "general-distill", lambda d: ["--pregenerated_data", d["pregen"], "--teacher_model", d["teacher"],
                                      "--student_model", d["student"], "--output_dir",
                                      os.path.join(d["pregen"], "out")], "pregen"),
    "task-distill output = student": (
        "task-distill", lambda d: ["--teacher_model", d["teacher"], "--student_model", d["student"], "--task_name",
                                   "sst-2", "--data_dir", d["data"], "--output_dir", d["student"]], "student"),
    "task-distill --do_eval output = data": (
        "task-distill", lambda d: ["--do_eval", "--student_model", d["teacher"], "--task_name", "sst-2",
                                   "--data_dir", d["data"], "--output_dir", d["data"]], "data"),
    "finetune output = model": (
        "finetune", lambda d: ["--model", d["teacher"], "--task_name", "sst-2", "--data_dir", d["data"],
                               "--output_dir", d["teacher"]], "teacher"),
    "pretrain output = pretrained model": (
        "pretrain", lambda d: ["--dataset_path", d["pregen"], "--pretrained_model_path", d["teacher"],
                               "--output_model_path", d["teacher"]], "teacher"),
    "pregenerate output = model": (
        "pregenerate", lambda d: ["--train_corpus", os.path.join(d["corpus"], "corpus.txt"), "--bert_model",
                                  d["teacher"], "--output_dir", d["teacher"]], "teacher"),
    "pregenerate output contains the corpus": (
        "pregenerate", lambda d: ["--train_corpus", os.path.join(d["corpus"], "corpus.txt"), "--bert_model",
                                  d["teacher"], "--output_dir", d["corpus"]], "corpus"),
    "report output = a run": (
        "report", lambda d: [d["teacher"], d["student"], "--output", d["student"]], "student"),
    "export output = model": (
        "export", lambda d: [d["teacher"], "--output", d["teacher"]], "teacher"),
    "ner output = model": (
        "ner", lambda d: ["--model", d["teacher"], "--data_dir", d["data"], "--output_dir", d["teacher"],
                          "--do_train"], "teacher"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_among_the_inputs_is_refused_before_any_work(case, inputs, capsys):
    command, argv, victim = CASES[case]
    before = {name: snapshot(folder) for name, folder in inputs.items()}
    status = run_command(command, [*argv(inputs), "--overwrite_output_dir"] if command not in ("report", "export")
                         else argv(inputs))
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "input" in err and ("is the" in err or "inside" in err or "contains" in err), err
    assert "Traceback" not in err
    assert {name: snapshot(folder) for name, folder in inputs.items()} == before  # nothing written anywhere
    assert sorted(os.listdir(inputs[victim])) == sorted(before[victim])
