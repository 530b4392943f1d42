"""bench/quality.py: the statistics, the table, step sharing and the commands it would run (nothing is trained)."""

import importlib.util
import json
import math
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("bench_quality", os.path.join(ROOT, "bench", "quality.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_quality"] = module
    spec.loader.exec_module(module)
    return module


def test_mean_and_sample_std_by_hand(quality):
    mean, std = quality.mean_std([0.9475, 0.9375, 0.9425])
    assert mean == pytest.approx(0.9425)
    # deviations +0.005, -0.005, 0: sum of squares 5e-5 over n - 1 = 2
    assert std == pytest.approx(math.sqrt(5e-5 / 2))
    assert math.isnan(quality.mean_std([0.9])[1])


def test_summary_table_latest_record_of_a_seed_wins(quality):
    records = [
        {"arm": "label_only", "seed": 1, "metrics": {"acc": 0.5}, "wall_s": 10.0},
        {"arm": "label_only", "seed": 1, "metrics": {"acc": 0.9}, "wall_s": 20.0},  # a rerun of seed 1
        {"arm": "label_only", "seed": 2, "metrics": {"acc": 0.8}, "wall_s": 30.0},
        {"arm": "s12@t150", "seed": 1, "metrics": {"acc": 0.7}, "wall_s": 5.0},
    ]
    rows = quality.summarize(records, "acc", 0.95, ["label_only", "s12"])
    assert [r["arm"] for r in rows] == ["label_only", "s12@t150"]
    assert rows[0]["values"] == [0.9, 0.8] and rows[0]["mean"] == pytest.approx(0.85)
    assert rows[0]["wall_s"] == pytest.approx(25.0)
    assert rows[1]["about"] == quality.ARM_BY_NAME["s12"].about  # a tagged arm keeps its description
    text = quality.table(rows, "acc", 0.95)
    assert "| label_only | 0.8500 ± 0.0707 | 2 | 0.9000 0.8000 | 89.5% | 25 |" in text
    assert "| s12@t150 | 0.7000 ± – | 1 |" in text


def test_arms_share_stage_one_and_commands_carry_seed_and_flags(quality, tmp_path, capsys):
    harness = quality.Harness(tmp_path, "student_configs/small_2l_128d", ".cache/models/minilm", dry_run=True)
    harness.run_arm(quality.ARM_BY_NAME["s12"], 2)
    harness.run_arm(quality.ARM_BY_NAME["s12_hard05"], 2)
    lines = [line.strip()[2:] for line in capsys.readouterr().out.splitlines() if line.strip().startswith("$ ")]
    stage1 = [line for line in lines if "--pred_distill" not in line]
    assert len(stage1) == 2 and stage1[0] == stage1[1]  # the same stage-1 folder for both arms
    stage2 = [line for line in lines if "--pred_distill" in line]
    assert "--hard_label_weight 0.5" in stage2[1] and "--hard_label_weight" not in stage2[0]
    assert stage2[0].split("--output_dir ")[1].split()[0] != stage2[1].split("--output_dir ")[1].split()[0]
    for line in lines:
        assert "--seed 2" in line and "--max_steps 150" in line
    assert all("--aug_train" in line for line in lines)


def test_teacher_and_data_variants_get_their_own_folders(quality, tmp_path, capsys):
    plain = quality.Harness(tmp_path, "cfg", "src", dry_run=True)
    other = quality.Harness(tmp_path, "cfg", "src", dry_run=True, teacher="t150", tag="@t150")
    record = other.run_arm(quality.ARM_BY_NAME["s2_lr1e3_noaug"], 1)
    plain.run_arm(quality.ARM_BY_NAME["s2_lr1e3_noaug"], 1)
    assert record["arm"] == "s2_lr1e3_noaug@t150"
    lines = [line for line in capsys.readouterr().out.splitlines() if "--pred_distill" in line]
    assert "--teacher_model t150" in lines[0] and "--aug_train" not in lines[0]
    assert lines[0].split("--output_dir ")[1].split()[0] != lines[1].split("--output_dir ")[1].split()[0]


def test_soft_scale_runs_through_the_wrapper(quality, tmp_path, capsys):
    harness = quality.Harness(tmp_path, "cfg", "src", dry_run=True)
    harness.run_arm(quality.ARM_BY_NAME["s2_lr1e3_noaug_softmean"], 1)
    line = [ln for ln in capsys.readouterr().out.splitlines() if "--pred_distill" in ln][0]
    assert "quality.py --exec_soft_scale 0.5 task_distill.py" in line


def test_no_arms_trains_nothing(quality, capsys):
    assert quality.main([]) == 0
    out = capsys.readouterr().out
    assert "nothing trained" in out and "label_only" in out


def test_report_from_records(quality, tmp_path):
    (tmp_path / "base" / "teacher").mkdir(parents=True)
    (tmp_path / "base" / "teacher" / "eval_results.txt").write_text("acc = 0.955\neval_loss = 0.15\n")
    with open(tmp_path / "results.jsonl", "w") as f:
        for seed, acc in ((1, 0.94), (2, 0.95)):
            f.write(json.dumps({"arm": "label_only", "seed": seed, "metrics": {"acc": acc}, "wall_s": 1.0}) + "\n")
    text = quality.write_report(tmp_path, "acc", tmp_path / "base" / "teacher")
    assert "| teacher | 0.9550 |" in text and "| label_only | 0.9450 ±" in text
    assert (tmp_path / "quality.png").read_bytes()[:4] == b"\x89PNG"


def test_stage_commands_pin_adamw_unless_the_arm_names_an_optimizer(quality, tmp_path, capsys):
    """The arms' learning rates were chosen with AdamW: the commands' default optimizer (BertAdam since 2026-12-02)
    must not silently change them."""
    harness = quality.Harness(tmp_path, "student_configs/small_2l_128d", ".cache/models/minilm", dry_run=True)
    harness.run_arm(quality.ARM_BY_NAME["demo"], 1)
    harness.run_arm(quality.ARM_BY_NAME["demo_bertadam"], 1)
    lines = [line.strip()[2:] for line in capsys.readouterr().out.splitlines() if line.strip().startswith("$ ")]
    demo, bertadam = lines[:2], lines[2:]
    assert len(bertadam) == 2
    assert all("--optimizer adamw --weight_decay 1e-4" in line for line in demo)
    assert all("--optimizer bertadam --weight_decay 0.01" in line and "--optimizer adamw" not in line
               for line in bertadam)
