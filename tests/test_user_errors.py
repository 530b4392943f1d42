"""User errors refused before any work with one line and no traceback (issue 13.2, 13.3): bad numbers in the typed
configs, student configs that would silently train another size, an output that is a file, sequences longer than
the model's positions, and a teacher/student vocabulary mismatch hidden behind equal sizes."""

from __future__ import annotations

import json
import os

import pytest
from test_finetune import flags, save_base_model
from test_task_distill import SPECIAL, WORDS, error_line, write_sst2

from tinybert.cli import run_command
from tinybert.errors import UserError


def refused(capsys, command: str, argv: list) -> str:
    assert run_command(command, [str(a) for a in argv]) == 2
    return error_line(capsys)


@pytest.fixture
def task(tmp_path):
    return save_base_model(tmp_path / "base", tmp_path), write_sst2(tmp_path / "data", n_train=16, n_dev=8)


def test_negative_learning_rate_refused_by_every_training_command(tmp_path, capsys):
    out = tmp_path / "out"
    argvs = {
        "finetune": ["--model", tmp_path, "--task_name", "sst-2", "--data_dir", tmp_path, "--output_dir", out],
        "pretrain": ["--dataset_path", tmp_path, "--vocab_path", tmp_path / "vocab.txt", "--output_model_path", out],
        "general-distill": ["--pregenerated_data", tmp_path, "--teacher_model", tmp_path, "--student_model", tmp_path,
                            "--output_dir", out],
    }
    for command, argv in argvs.items():
        line = refused(capsys, command, [*argv, "--learning_rate", "-0.001"])
        assert "--learning_rate must be >= 0, got -0.001" in line, (command, line)
    assert not out.exists()  # refused before any work


def test_output_dir_that_is_an_existing_file(tmp_path, capsys, task):
    base, data = task
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    line = refused(capsys, "finetune", ["--model", base, "--task_name", "sst-2", *flags(data, existing)])
    assert f"--output_dir {existing} is an existing file" in line
    line = refused(capsys, "pretrain", ["--dataset_path", data, "--vocab_path", os.path.join(base, "vocab.txt"),
                                        "--output_model_path", existing])
    assert f"--output_dir {existing} is an existing file" in line
    assert existing.read_text() == "keep me"


def test_student_config_missing_or_negative_sizes(tmp_path, capsys, task):
    base, data = task
    full = {"model_type": "bert", "vocab_size": len(SPECIAL) + len(WORDS), "hidden_size": 16,
            "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64}

    def scratch(name, config):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        return refused(capsys, "finetune", ["--model", folder, "--from_scratch", "--vocab", base, "--task_name",
                                            "sst-2", *flags(data, tmp_path / f"out_{name}")])

    line = scratch("no_hidden", {k: v for k, v in full.items() if k != "hidden_size"})
    assert "lacks hidden_size;" in line  # not a silent 768-wide student
    line = scratch("no_hidden_no_layers", {k: v for k, v in full.items()
                                           if k not in ("hidden_size", "num_hidden_layers")})
    assert "lacks hidden_size, num_hidden_layers;" in line and "12 layers" not in line
    line = scratch("negative", {**full, "hidden_size": -16})
    assert "hidden_size must be a positive integer, found -16" in line
    assert not [n for n in os.listdir(tmp_path) if n.startswith("out_")]


def test_max_seq_length_beyond_the_models_positions(tmp_path, capsys, task):
    base, data = task  # max_position_embeddings 64
    line = refused(capsys, "finetune", ["--model", base, "--task_name", "sst-2", *flags(data, tmp_path / "o"),
                                        "--max_seq_length", "128"])
    assert "--max_seq_length 128 exceeds the model's max_position_embeddings 64" in line
    assert not (tmp_path / "o").exists()
    # task distillation checks the teacher's positions (and the student's) the same way
    from test_task_distill import save_classifier, save_general_student

    teacher = save_classifier(tmp_path / "teacher", tmp_path, ["0", "1"])
    student = save_general_student(tmp_path / "student", tmp_path)
    line = refused(capsys, "task-distill", ["--teacher_model", teacher, "--student_model", student, "--task_name",
                                            "sst-2", "--data_dir", data, "--output_dir", tmp_path / "td",
                                            "--max_seq_length", "128", "--skip_teacher_check", "--no_cuda"])
    assert "--max_seq_length 128 exceeds the teacher's max_position_embeddings 64" in line
    assert not (tmp_path / "td").exists()


def test_teacher_and_student_vocabularies_are_compared_by_content(tmp_path):
    from tinybert.models.checkpoint import check_shared_vocabulary

    tokens = SPECIAL + WORDS
    folders = {}
    for name, vocab in {"teacher": tokens, "same": list(tokens), "swapped": tokens[:5] + tokens[6:7] + tokens[5:6]
                        + tokens[7:], "bigger": tokens + ["extra"]}.items():
        os.makedirs(tmp_path / name)
        (tmp_path / name / "vocab.txt").write_text("\n".join(vocab) + "\n")
        folders[name] = str(tmp_path / name)
    check_shared_vocabulary(folders["teacher"], folders["same"])
    with pytest.raises(UserError) as caught:
        check_shared_vocabulary(folders["teacher"], folders["swapped"])
    message = str(caught.value)
    assert message.startswith(os.path.join(folders["swapped"], "vocab.txt")) and "differs at line 6" in message
    assert f"{tokens[6]!r} vs {tokens[5]!r}" in message and caught.value.field == "student_model"
    with pytest.raises(UserError, match="has 31 tokens"):
        check_shared_vocabulary(folders["teacher"], folders["bigger"])
