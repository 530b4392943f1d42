#!/usr/bin/env python
"""Distillation quality over seeds: runs arms of the task-distillation pipeline N times and tabulates mean ± std.

An *arm* is a chain of steps — the commands a user types (``task_distill.py`` stage 1, stage 2, ``tinybert
finetune``), each with its flags — and the harness drives them through those commands only, so it measures what a
user gets. Every arm runs once per seed (``--seeds 3``: seeds 1, 2, 3); the seed is the ``--seed`` of every step of
the arm. A step is identified by its command, its flags, its input and its seed, and is run once: two arms that
share a stage 1 (and differ in stage 2) reuse the same stage-1 folders, and a second invocation of the harness
reuses every finished step (``results.jsonl`` in the root keeps what was measured).

The shared inputs — the fine-tuned teacher, the masked-LM head, the general student and the augmented training set —
are built once by ``examples/demo.sh`` with ``DEMO_UPTO=augment`` (the demo's own commands and budgets) under
``ROOT/base``; the seeds vary only the final stages (as the demo's goal in issue 16 is stated).

Writes ``ROOT/quality.md`` (the table: dev metric mean ± sample std over seeds, the seeds' values, wall time per seed
of the arm's own steps) and ``ROOT/quality.png`` (means with std bars, every seed as a dot, the teacher as a line).
The wall times are measured on whatever machine runs this; on a shared machine they are noisy. A stage-2 step copies
the teacher-logit cache of an earlier stage-2 step on the same data in (the cache key checks it: a stale one is
recomputed), so the teacher's inference pass over the training set is paid once per data set, as in a single run.

    python bench/quality.py --arms all                   # every arm of the spam suite, 3 seeds (~1 h on 2 cores)
    python bench/quality.py --arms label_only,s12 --seeds 5
    python bench/quality.py --list                       # the arms and what they change
    python bench/quality.py --report_only                # rebuild the table and plot from results.jsonl

Without ``--arms`` nothing is trained (``make bench`` runs every file in bench/): the arms are listed instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

# the demo's budgets (examples/demo.sh, DEMO_SCALE=full)
SEQ, BATCH, EVAL, STEPS = 64, 32, 50, 150
COMMON = ["--max_seq_length", str(SEQ), "--train_batch_size", str(BATCH), "--eval_step", str(EVAL),
          "--logging_steps", "5"]
# task_distill.py's optimizer until 2026-12-02; its default is now the original's BertAdam (docs/fidelity.md)
ADAMW = ["--optimizer", "adamw", "--weight_decay", "1e-4"]
BERTADAM = ("--optimizer", "bertadam", "--weight_decay", "0.01")


@dataclasses.dataclass(frozen=True)
class Step:
    """One command of an arm: ``kind`` is stage1, stage2 or finetune; ``flags`` are added to the kind's base flags."""

    kind: str
    flags: tuple[str, ...] = ()
    # stage1/stage2: "prev" (the previous step's output), "gd" (general student), "random", "teacher:2,4" (the
    # teacher's layers 2 and 4: --init_from_teacher); finetune: "config" (the student config from random weights),
    # "config:PATH" (another config), "gd", "teacher:2,4" / "pretrained:2,4" (those layers of the fine-tuned teacher
    # / of the pretrained model it came from: --keep_layers)
    student: str = "prev"
    aug: bool = True  # train on train_aug.tsv
    soft_scale: float = 1.0  # stage 2: soft cross-entropy times this (0.5: the original's mean over 2 classes)
    unlabeled: bool = False  # also train on unlabeled.tsv (--unlabeled_train)


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    about: str
    steps: tuple[Step, ...]


def stage1(*flags: str, student: str = "gd", aug: bool = True, lr: str = "5e-4", steps: int = STEPS,
           unlabeled: bool = False) -> Step:
    return Step("stage1", ("--learning_rate", lr, "--max_steps", str(steps)) + flags, student, aug,
                unlabeled=unlabeled)


def stage2(*flags: str, student: str = "prev", aug: bool = True, lr: str = "3e-4", steps: int = STEPS,
           soft_scale: float = 1.0, unlabeled: bool = False) -> Step:
    return Step("stage2", ("--learning_rate", lr, "--max_steps", str(steps)) + flags, student, aug, soft_scale,
                unlabeled)


def finetune(*flags: str, model: str = "config", lr: str = "1e-3", steps: int = STEPS) -> Step:
    return Step("finetune", ("--learning_rate", lr, "--max_steps", str(steps)) + flags, model, False)


ARMS = [
    Arm("label_only", "the student config trained from random weights on the 400 labels (demo step f)",
        (finetune(),)),
    # students of the teacher's width (384), 2 layers: from random weights, from the pretrained model's or the
    # fine-tuned teacher's layers, and distilled from the teacher's layers (--init_from_teacher)
    Arm("label_only_384", "a 2-layer student of the teacher's width (small_2l_384d) from random weights, 400 labels",
        (finetune(model="config:student_configs/small_2l_384d"),)),
    Arm("label_only_pre12", "pretrained MiniLM's layers 1,2 (--keep_layers) fine-tuned on the 400 labels, lr 1e-4",
        (finetune(model="pretrained:1,2", lr="1e-4"),)),
    Arm("label_only_pre36", "pretrained MiniLM's layers 3,6 fine-tuned on the 400 labels, lr 1e-4",
        (finetune(model="pretrained:3,6", lr="1e-4"),)),
    Arm("label_only_ft12", "the fine-tuned teacher's layers 1,2 fine-tuned on the 400 labels, lr 1e-4",
        (finetune(model="teacher:1,2", lr="1e-4"),)),
    Arm("init12_s2", "--init_from_teacher 1,2; stage 2 only, lr 1e-4, hard-label weight 0.5, 400 sentences",
        (stage2("--hard_label_weight", "0.5", student="teacher:1,2", lr="1e-4", aug=False),)),
    Arm("init36_s2", "--init_from_teacher 3,6; stage 2 only, lr 1e-4, hard-label weight 0.5, 400 sentences",
        (stage2("--hard_label_weight", "0.5", student="teacher:3,6", lr="1e-4", aug=False),)),
    Arm("init12_s2_soft", "--init_from_teacher 1,2; stage 2 only, lr 1e-4, teacher only, 400 sentences",
        (stage2(student="teacher:1,2", lr="1e-4", aug=False),)),
    Arm("init12_s2_aug", "--init_from_teacher 1,2; stage 2 only, lr 1e-4, hard-label weight 0.5, augmented set",
        (stage2("--hard_label_weight", "0.5", student="teacher:1,2", lr="1e-4"),)),
    Arm("init12_s12", "--init_from_teacher 1,2; stage 1 (lr 1e-4, 400 sentences) then stage 2 as init12_s2",
        (stage1(student="teacher:1,2", lr="1e-4", aug=False),
         stage2("--hard_label_weight", "0.5", lr="1e-4", aug=False))),
    # the students also learn the teacher on unlabeled.tsv (--unlabeled_train): the demo writes there the other 2,000
    # training e-mails without their labels
    Arm("ul_s12_random", "stage 1 (lr 5e-4) and stage 2 (lr 1e-3, hard 0.5, 300 steps) from random weights, 400 + "
                         "unlabelled", (stage1(student="random", aug=False, unlabeled=True),
                                        stage2("--hard_label_weight", "0.5", lr="1e-3", aug=False, steps=300,
                                               unlabeled=True))),
    Arm("ul_s2_random", "stage 2 only from random weights, lr 1e-3, hard-label weight 0.5, 400 + unlabelled, 300 steps",
        (stage2("--hard_label_weight", "0.5", student="random", lr="1e-3", aug=False, steps=300, unlabeled=True),)),
    Arm("ul_s2_gd", "stage 2 only from the general student, lr 1e-3, hard 0.5, 400 + unlabelled, 300 steps",
        (stage2("--hard_label_weight", "0.5", student="gd", lr="1e-3", aug=False, steps=300, unlabeled=True),)),
    Arm("ul_s12", "stage 1 (lr 5e-4) and stage 2 (lr 1e-3, hard 0.5, 300 steps) on 400 + unlabelled",
        (stage1(aug=False, unlabeled=True),
         stage2("--hard_label_weight", "0.5", lr="1e-3", aug=False, steps=300, unlabeled=True))),
    Arm("ul_init36_s2", "--init_from_teacher 3,6; stage 2, lr 1e-4, hard 0.5, 400 + unlabelled, 300 steps",
        (stage2("--hard_label_weight", "0.5", student="teacher:3,6", lr="1e-4", aug=False, steps=300,
                unlabeled=True),)),
    Arm("gd_finetune", "the general student fine-tuned on the 400 labels (no teacher on the task)",
        (finetune(model="gd"),)),
    Arm("s12", "stage 1 + stage 2 on the augmented set (the demo's steps e1-e2)", (stage1(), stage2())),
    Arm("s2_only", "stage 2 only, from the general student, augmented set", (stage2(student="gd"),)),
    Arm("s12_noaug", "stage 1 + 2 on the 400 labelled sentences only", (stage1(aug=False), stage2(aug=False))),
    Arm("s2_noaug", "stage 2 only on the 400 sentences", (stage2(student="gd", aug=False),)),
    Arm("s12_nogd", "stage 1 + 2 from a randomly initialised student (no general distillation)",
        (stage1(student="random"), stage2())),
    Arm("s2_nogd", "stage 2 only, from a randomly initialised student", (stage2(student="random"),)),
    Arm("s12_s2x3", "stage 1 + 2, stage 2 three times longer (450 steps)", (stage1(), stage2(steps=3 * STEPS))),
    Arm("s12_hard05", "stage 1 + 2, stage 2 with --hard_label_weight 0.5",
        (stage1(), stage2("--hard_label_weight", "0.5"))),
    Arm("s12_T2", "stage 1 + 2, stage 2 at --temperature 2", (stage1(), stage2("--temperature", "2"))),
    Arm("s12_lr1e3", "stage 1 + 2, stage 2 at learning rate 1e-3 (the label-only student's)",
        (stage1(), stage2(lr="1e-3"))),
    Arm("s2_lr1e3", "stage 2 only, learning rate 1e-3", (stage2(student="gd", lr="1e-3"),)),
    Arm("s2_lr1e3_noaug", "stage 2 only, learning rate 1e-3, on the 400 sentences",
        (stage2(student="gd", lr="1e-3", aug=False),)),
    Arm("s2_lr1e3_hard05", "stage 2 only, learning rate 1e-3, --hard_label_weight 0.5",
        (stage2("--hard_label_weight", "0.5", student="gd", lr="1e-3"),)),
    Arm("s2_lr1e3_nogd_noaug", "stage 2 only, learning rate 1e-3, 400 sentences, randomly initialised student",
        (stage2(student="random", lr="1e-3", aug=False),)),
    Arm("s2_lr1e3_hard05_noaug", "stage 2 only, learning rate 1e-3, --hard_label_weight 0.5, 400 sentences",
        (stage2("--hard_label_weight", "0.5", student="gd", lr="1e-3", aug=False),)),
    Arm("s2_lr1e3_hard05_nogd_noaug", "stage 2 only, lr 1e-3, hard-label weight 0.5, 400 sentences, random student",
        (stage2("--hard_label_weight", "0.5", student="random", lr="1e-3", aug=False),)),
    Arm("demo_before", "the demo's stages until 2026-12-02: stage 1 on the augmented set, stage 2 at lr 1e-3, "
                       "hard-label weight 0.5, 400 sentences",
        (stage1(), stage2("--hard_label_weight", "0.5", lr="1e-3", aug=False))),
    Arm("demo", "examples/demo.sh's stages 1 + 2 now (= ul_s12): both on the 400 + 2,000 unlabelled e-mails, stage 2 "
                "lr 1e-3, hard 0.5, 300 steps",
        (stage1(aug=False, unlabeled=True),
         stage2("--hard_label_weight", "0.5", lr="1e-3", aug=False, steps=300, unlabeled=True))),
    Arm("demo_T2", "the demo's stages, stage 2 at --temperature 2",
        (stage1(aug=False, unlabeled=True),
         stage2("--hard_label_weight", "0.5", "--temperature", "2", lr="1e-3", aug=False, steps=300,
                unlabeled=True))),
    Arm("demo_soft", "the demo's stages, stage 2 teacher only (--hard_label_weight 0)",
        (stage1(aug=False, unlabeled=True), stage2(lr="1e-3", aug=False, steps=300, unlabeled=True))),
    Arm("demo_s2lr3e4", "the demo's stages, stage 2 at lr 3e-4 (for wider students: 4L/312 diverged at 1e-3)",
        (stage1(aug=False, unlabeled=True),
         stage2("--hard_label_weight", "0.5", lr="3e-4", aug=False, steps=300, unlabeled=True))),
    # the commands' default optimizer since 2026-12-02 (the original's BertAdam, weight decay 0.01) on the demo's stages
    Arm("demo_bertadam", "the demo's stages with --optimizer bertadam --weight_decay 0.01 at the demo's rates",
        (stage1(*BERTADAM, aug=False, unlabeled=True),
         stage2("--hard_label_weight", "0.5", *BERTADAM, lr="1e-3", aug=False, steps=300, unlabeled=True))),
    Arm("demo_bertadam_lr4", "the demo's stages with BertAdam at a quarter of the demo's rates (1.25e-4, 2.5e-4)",
        (stage1(*BERTADAM, lr="1.25e-4", aug=False, unlabeled=True),
         stage2("--hard_label_weight", "0.5", *BERTADAM, lr="2.5e-4", aug=False, steps=300, unlabeled=True))),
    Arm("label_only_x2", "the label-only student trained twice as long (300 steps)", (finetune(steps=300),)),
    Arm("s2_lr1e3_noaug_softmean", "s2_lr1e3_noaug with the soft cross-entropy averaged over classes too (x1/2)",
        (stage2(student="gd", lr="1e-3", aug=False, soft_scale=0.5),)),
    Arm("s2_lr1e3_x3", "stage 2 only, learning rate 1e-3, 450 steps", (stage2(student="gd", lr="1e-3", steps=450),)),
    Arm("s12_lr1e3_x3", "stage 1 + 2, stage 2 at 1e-3 for 450 steps", (stage1(), stage2(lr="1e-3", steps=450))),
    Arm("s12_softmean", "stage 1 + 2, the soft cross-entropy averaged over classes too (the original's scale, x1/2)",
        (stage1(), stage2(soft_scale=0.5))),
    Arm("s12_softmean_hard05", "stage 1 + 2, the original's soft-CE scale with --hard_label_weight 0.5",
        (stage1(), stage2("--hard_label_weight", "0.5", soft_scale=0.5))),
    Arm("s12_bertadam", "stage 1 + 2, both with --optimizer bertadam --weight_decay 0.01 (the original's optimizer)",
        (stage1(*BERTADAM), stage2(*BERTADAM))),
]
ARM_BY_NAME = {a.name: a for a in ARMS}


# ------------------------------------------------------------------------------------------------ running steps
def run_step(cmd: list[str], dry_run: bool = False) -> float:
    """Print and run one step's command offline from the repository root; its wall time. A failed step shows the
    tail of its output and stops the harness."""
    print("   $ " + " ".join(cmd), flush=True)
    if dry_run:
        return 0.0
    start = time.perf_counter()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-4000:])
        raise SystemExit(f"error: step failed (exit {proc.returncode})")
    return time.perf_counter() - start


class Harness:
    def __init__(self, root: Path, student_config: str, teacher_src: str, dry_run: bool = False,
                 teacher: str | None = None, tag: str = "") -> None:
        self.root, self.base = root, root / "base"
        self.student_config, self.teacher_src, self.dry_run = student_config, teacher_src, dry_run
        self.teacher = teacher or str(self.base / "teacher")  # the fine-tuned teacher of the distillation steps
        self.tag = tag  # appended to the arm names in the records (another teacher: "@t150")
        self.data = self.base / "data" / "spam_small"
        self.results_path = root / "results.jsonl"

    # the shared inputs, built by the demo's own commands
    def prepare(self) -> None:
        if (self.data / "train_aug.tsv").is_file() and (self.base / "general_student" / ".demo_done").is_file():
            return
        env = dict(os.environ, RUN=str(self.base), DEMO_UPTO="augment", PY=PY)
        print(f"== shared inputs: examples/demo.sh with DEMO_UPTO=augment RUN={self.base}", flush=True)
        if not self.dry_run:
            subprocess.run(["bash", str(REPO / "examples" / "demo.sh")], env=env, check=True, cwd=REPO)

    def random_student(self) -> Path:
        """A general student with random weights (the no-general-distillation arms): general_distill.py for one
        step at learning rate 0 (the first warmup step), so the folder has the usual layout."""
        out = self.root / "steps" / "random_student"
        if not (out / "trainer_state.json").is_file() and not (out / ".done").is_file():
            cmd = [PY, "general_distill.py", "--pregenerated_data", str(self.base / "pregen"), "--teacher_model",
                   self.teacher_src, "--student_model", self.student_config, "--output_dir", str(out),
                   "--max_seq_length", str(SEQ), "--train_batch_size", str(BATCH), "--max_steps", "1",
                   "--warmup_steps", "1", "--eval_step", "0", "--overwrite_output_dir"]
            self.call(cmd)
            if not self.dry_run:
                (out / ".done").touch()
        return out

    def call(self, cmd: list[str]) -> float:
        return run_step(cmd, self.dry_run)

    def step_command(self, step: Step, student: Path | None, out: Path, seed: int) -> list[str]:
        teacher = self.teacher
        seed_flags = ["--seed", str(seed)]
        if step.kind == "finetune":
            if step.student.startswith("config"):
                config = step.student.partition(":")[2] or self.student_config
                model = ["--model", config, "--from_scratch", "--vocab", self.teacher_src]
            elif step.student.startswith(("teacher:", "pretrained:")):
                source = self.teacher if step.student.startswith("teacher:") else self.teacher_src
                model = ["--model", source, "--keep_layers", step.student.partition(":")[2]]
            else:
                model = ["--model", str(student)]
            return [PY, "-m", "tinybert", "finetune", *model, "--task_name", "sst-2", "--data_dir", str(self.data),
                    "--output_dir", str(out), *COMMON, *seed_flags, *step.flags]
        init = (["--init_from_teacher", step.student.partition(":")[2]] if step.student.startswith("teacher:")
                else ["--student_model", str(student)])
        cmd = [PY, "task_distill.py", "--teacher_model", teacher, *init, "--data_dir", str(self.data), "--task_name",
               "sst-2", "--output_dir", str(out), "--skip_teacher_check", *COMMON, *seed_flags]
        if step.kind == "stage2":
            cmd.insert(2, "--pred_distill")
            if step.soft_scale != 1.0:  # run the same command with the soft loss rescaled (a measurement only)
                cmd[1:1] = [str(Path(__file__).resolve()), "--exec_soft_scale", str(step.soft_scale)]
        if step.aug:
            cmd.append("--aug_train")
        if step.unlabeled:
            cmd.append("--unlabeled_train")
        if "--optimizer" not in step.flags:  # the arms' rates were chosen with AdamW (the default until 2026-12-02)
            cmd += ADAMW
        return cmd + list(step.flags)

    def run_arm(self, arm: Arm, seed: int) -> dict:
        """Run (or reuse) every step of ``arm`` at ``seed``; returns the record of the last step's dev result."""
        prev: Path | None = None
        key = "root"
        walls: list[float] = []
        for step in arm.steps:
            if step.student == "gd" or (step.kind == "finetune" and step.student == "gd"):
                student, key = self.base / "general_student", "gd"
            elif step.student == "random":
                student, key = self.random_student(), "random"
            elif step.student.startswith(("config", "teacher:", "pretrained:")):
                student, key = None, step.student
            else:
                student = prev
            default_teacher = self.teacher == str(self.base / "teacher") or (
                step.kind == "finetune" and not step.student.startswith("teacher:"))
            teacher_key = [] if default_teacher else [self.teacher]
            key = hashlib.blake2b(json.dumps([key, dataclasses.asdict(step), *teacher_key]).encode(),
                                  digest_size=6).hexdigest()
            out = self.root / "steps" / f"{step.kind}-{key}" / f"seed{seed}"
            done = out / ".quality.json"
            if done.is_file():
                walls.append(json.loads(done.read_text())["wall_s"])
            else:
                if out.exists() and not self.dry_run:
                    shutil.rmtree(out)  # an interrupted step: start it again
                if step.kind == "stage2" and not self.dry_run:
                    self.seed_logit_cache(out, step)
                wall = self.call(self.step_command(step, student, out, seed))
                walls.append(wall)
                if not self.dry_run:
                    if step.kind == "stage2":
                        self.keep_logit_cache(out, step)
                    done.write_text(json.dumps({"wall_s": wall}))
            prev = out
        metrics = {} if self.dry_run else read_eval_results(prev / "eval_results.txt")
        return {"arm": arm.name + self.tag, "seed": seed, "metrics": metrics, "wall_s": sum(walls),
                "step_walls_s": walls, "dir": str(prev)}

    def logit_pool(self, step: Step) -> Path:
        return self.root / "logit_cache" / (("aug" if step.aug else "plain") + ("+unlabeled" if step.unlabeled else ""))

    def seed_logit_cache(self, out: Path, step: Step) -> None:
        pool = self.logit_pool(step)
        if pool.is_dir():
            (out / "teacher_logits").mkdir(parents=True, exist_ok=True)
            for f in pool.glob("*.safetensors"):
                shutil.copy2(f, out / "teacher_logits" / f.name)

    def keep_logit_cache(self, out: Path, step: Step) -> None:
        pool = self.logit_pool(step)
        pool.mkdir(parents=True, exist_ok=True)
        for f in (out / "teacher_logits").glob("*.safetensors"):
            if not (pool / f.name).exists():
                shutil.copy2(f, pool / f.name)


def read_eval_results(path: Path) -> dict[str, float]:
    """``key = value`` lines of an ``eval_results.txt``; values that are numbers."""
    out: dict[str, float] = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


# ------------------------------------------------------------------------------------------------ the table
def mean_std(values: list[float]) -> tuple[float, float]:
    m = sum(values) / len(values)
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else float("nan")
    return m, s


def load_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize(records: list[dict], metric: str, teacher: float | None, order: list[str],
              abouts: dict[str, str] | None = None) -> list[dict]:
    """One row per arm (mean, sample std, every seed's value); ``abouts``: arm name -> description (default:
    this harness's arms)."""
    abouts = {a.name: a.about for a in ARMS} if abouts is None else abouts
    rows = []
    by_arm: dict[str, dict[int, dict]] = {}
    for r in records:
        by_arm.setdefault(r["arm"], {})[r["seed"]] = r  # the latest record of a seed wins
    names = [n for n in order if n in by_arm] + sorted(set(by_arm) - set(order))
    for name in names:
        recs = [by_arm[name][s] for s in sorted(by_arm[name])]
        vals = [r["metrics"][metric] for r in recs if metric in r["metrics"]]
        if not vals:
            continue
        m, s = mean_std(vals)
        wall, _ = mean_std([r["wall_s"] for r in recs])
        rows.append({"arm": name, "n": len(vals), "mean": m, "std": s, "values": vals, "wall_s": wall,
                     "of_teacher": m / teacher if teacher else None,
                     "about": abouts.get(name.split("@")[0], "")})
    return rows


def table(rows: list[dict], metric: str, teacher: float | None) -> str:
    lines = [f"| arm | dev {metric} mean ± std | n | seeds | % of teacher | wall s / seed | what it is |",
             "|---|---:|---:|---|---:|---:|---|"]
    if teacher is not None:
        lines.append(f"| teacher | {teacher:.4f} | 1 | – | 100.0% | – | the fine-tuned MiniLM (shared by every arm) |")
    for r in rows:
        std = "–" if math.isnan(r["std"]) else f"{r['std']:.4f}"
        share = f"{100 * r['of_teacher']:.1f}%" if r["of_teacher"] else "–"
        vals = " ".join(f"{v:.4f}" for v in r["values"])
        lines.append(f"| {r['arm']} | {r['mean']:.4f} ± {std} | {r['n']} | {vals} | {share} | {r['wall_s']:.0f} | "
                     f"{r['about']} |")
    return "\n".join(lines)


def plot(rows: list[dict], metric: str, teacher: float | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    ys = list(range(len(rows)))[::-1]
    for y, r in zip(ys, rows):
        ax.barh(y, r["mean"], xerr=0 if math.isnan(r["std"]) else r["std"], color="#9ecae1", capsize=3)
        ax.plot(r["values"], [y] * len(r["values"]), "k.", ms=5)
    if teacher is not None:
        ax.axvline(teacher, color="r", ls="--", lw=1, label=f"teacher {teacher:.4f}")
        ax.legend(loc="lower right")
    lo = min(min(r["values"]) for r in rows)
    ax.set_xlim(max(0.0, lo - 0.05), 1.0 if metric == "acc" else None)
    ax.set_yticks(ys, [r["arm"] for r in rows])
    ax.set_xlabel(f"dev {metric} (bar: mean over seeds, line: ± std, dots: seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(root: Path, metric: str, teacher_dir: Path) -> str:
    teacher_file = teacher_dir / "eval_results.txt"
    teacher = read_eval_results(teacher_file).get(metric) if teacher_file.is_file() else None
    rows = summarize(load_records(root / "results.jsonl"), metric, teacher, [a.name for a in ARMS])
    if not rows:
        return "(no results yet)"
    text = table(rows, metric, teacher)
    times = root / "base" / "stage_times.tsv"
    note = ""
    if times.is_file():
        note = "\n\nShared inputs (examples/demo.sh steps a-d, s): " + ", ".join(
            "=".join(line.split("\t")) for line in times.read_text().splitlines() if line.strip())
    (root / "quality.md").write_text(f"# quality ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
                                     f"{text}{note}\n")
    plot(rows, metric, teacher, root / "quality.png")
    return text


def exec_soft_scale(scale: float, argv: list[str]) -> int:
    """Run ``argv`` (a script and its flags) in this process with stage 2's soft cross-entropy multiplied by
    ``scale``: how the original's mean over batch AND classes (scale 1/C) would train, without editing the library."""
    import importlib
    import runpy

    from tinybert.distill import losses

    plain, calls = losses.soft_cross_entropy, []

    def scaled(student_logits, teacher_logits, temperature=1.0):
        calls.append(1)
        return scale * plain(student_logits, teacher_logits, temperature)

    for name in ("tinybert.distill.losses", "tinybert.distill.terms"):  # every module that calls it by this name
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "soft_cross_entropy", None) is plain:
            module.soft_cross_entropy = scaled
    sys.argv = argv
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    if not calls:  # the library no longer reaches the loss through this name: the measurement would be void
        raise SystemExit("error: --exec_soft_scale: tinybert.distill.losses.soft_cross_entropy was never called")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--exec_soft_scale"]:
        return exec_soft_scale(float(argv[1]), argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arms", default=None, help="comma-separated arm names, or 'all' (see --list)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per arm: 1..N (default %(default)s)")
    ap.add_argument("--first_seed", type=int, default=1)
    ap.add_argument("--root", default="runs/quality", help="where everything goes (default %(default)s)")
    ap.add_argument("--student_config", default="student_configs/small_2l_128d")
    ap.add_argument("--teacher_src", default=".cache/models/minilm", help="the pretrained teacher (demo: MiniLM)")
    ap.add_argument("--metric", default="acc")
    ap.add_argument("--teacher", default=None,
                    help="fine-tuned teacher of the distillation steps (default: ROOT/base/teacher)")
    ap.add_argument("--tag", default="", help="suffix of the arm names in the records, e.g. @t150 for another teacher")
    ap.add_argument("--seed_major", action="store_true",
                    help="every arm's first seed before any second seed (default: arm by arm, in the given order)")
    ap.add_argument("--skip_prepare", action="store_true",
                    help="do not build the shared inputs (arms that need only the labelled subset, while they build)")
    ap.add_argument("--list", action="store_true", help="list the arms and exit")
    ap.add_argument("--report_only", action="store_true", help="rebuild quality.md / quality.png and exit")
    ap.add_argument("--dry_run", action="store_true", help="print the commands without running them")
    args = ap.parse_args(argv)

    root = (REPO / args.root) if not os.path.isabs(args.root) else Path(args.root)
    if args.list or (args.arms is None and not args.report_only):
        for a in ARMS:
            print(f"{a.name:14s} {a.about}")
        if not args.list:
            print("\n(no --arms given: nothing trained; e.g. --arms label_only,s12 or --arms all)")
        return 0
    if args.report_only:
        print(write_report(root, args.metric, root / "base" / "teacher"))
        return 0
    names = [a.name for a in ARMS] if args.arms == "all" else [n.strip() for n in args.arms.split(",") if n.strip()]
    unknown = [n for n in names if n not in ARM_BY_NAME]
    if unknown:
        ap.error(f"unknown arms {unknown}; known: {', '.join(ARM_BY_NAME)}")
    root.mkdir(parents=True, exist_ok=True)
    harness = Harness(root, args.student_config, args.teacher_src, args.dry_run, args.teacher, args.tag)
    if not args.skip_prepare:
        harness.prepare()
    done = {(r["arm"], r["seed"]) for r in load_records(harness.results_path)}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for name, seed in ([(n, s) for s in seeds for n in names] if args.seed_major else
                       [(n, s) for n in names for s in seeds]):
        if (name + args.tag, seed) in done:
            continue
        print(f"== {name} seed {seed}", flush=True)
        record = harness.run_arm(ARM_BY_NAME[name], seed)
        if args.dry_run:
            continue
        print(f"   -> {args.metric} = {record['metrics'].get(args.metric)} ({record['wall_s']:.0f} s)", flush=True)
        with open(harness.results_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        write_report(root, args.metric, harness.base / "teacher")
    if not args.dry_run:
        print(write_report(root, args.metric, harness.base / "teacher"))
        print(f"\nwrote {root / 'quality.md'} and {root / 'quality.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
