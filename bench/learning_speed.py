#!/usr/bin/env python
"""How fast our general distillation and task stages 1-2 learn with the original TinyBERT's flags (issue 15.3).

Runs ``general_distill.py`` and ``task_distill.py`` (stage 1, stage 2) on the reference fixtures in
``../shared/reference-original/`` with the flags of the original's runs in its README, once per optimizer candidate,
and prints the 16-step loss-window means (steps 1-16 / 17-32 / 33-48 / 49-64) beside the original's. Step-0 losses
are identical to the original's, so the windows measure the optimizer and schedule only.

Stage 1 starts from the original's own general student (``general_tinybert/``, as the original's stage-1 run did);
stage 2 from the candidate's stage-1 output, at the original's ``--learning_rate 3e-5``.

    python bench/learning_speed.py                          # three candidates (~4 min on an idle 2-core machine)
    python bench/learning_speed.py --candidates ours --seeds 42,1,2   # the spread of the data order
    python bench/learning_speed.py --candidates ours,bertadam_wd0.01 --stages gd,s1

Writes ``runs/learning_speed/learning_speed.md`` and ``.json``. Losses are the loop's logged ``loss`` (the sum of the
stage's terms) averaged over the steps of each window.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REF = REPO.parent / "shared" / "reference-original"
PY = sys.executable

# the original's loss windows (reference-original/README.md)
ORIGINAL = {"gd": (3.092, 2.463, 2.196, 2.132), "s1": (1.724, 1.453, 1.317, 1.217)}

OLD_DEFAULTS = ["--optimizer", "adamw", "--weight_decay", "1e-4"]  # the distillation defaults until 2026-12-02
CANDIDATES = {
    "ours": [],  # today's defaults: BertAdam (no bias correction), weight decay 0.01, eps 1e-6, global clip 1.0
    "adamw_wd1e-4": OLD_DEFAULTS,
    "adamw_wd0.01": ["--optimizer", "adamw", "--weight_decay", "0.01"],
    "adamw_noclip": [*OLD_DEFAULTS, "--max_grad_norm", "0"],
    "bertadam_wd1e-4": ["--optimizer", "bertadam", "--weight_decay", "1e-4"],
    "bertadam_wd0.01": ["--optimizer", "bertadam", "--weight_decay", "0.01"],
    "bertadam_wd0.01_noclip": ["--optimizer", "bertadam", "--weight_decay", "0.01", "--max_grad_norm", "0"],
    "adamw_lr_x4": [*OLD_DEFAULTS, "LRx4"],
    "adamw_lr_x10": [*OLD_DEFAULTS, "LRx10"],
}
BASE_LR = {"gd": 5e-5, "s1": 5e-5, "s2": 3e-5}


def flags_for(candidate: str, stage: str) -> list[str]:
    flags = list(CANDIDATES[candidate])
    lr = BASE_LR[stage]
    for tag, k in (("LRx4", 4), ("LRx10", 10)):
        if tag in flags:
            flags.remove(tag)
            lr *= k
    return flags + ["--learning_rate", f"{lr:g}"]


def command(stage: str, out: Path, flags: list[str], stage1_dir: Path | None) -> list[str]:
    common = ["--train_batch_size", "32", "--num_train_epochs", "1", "--eval_step", "16", "--logging_steps", "1",
              "--do_lower_case", "--output_dir", str(out), "--overwrite_output_dir"]
    if stage == "gd":
        return [PY, "general_distill.py", "--pregenerated_data", str(REF / "pregen_json_2048"), "--teacher_model",
                str(REF / "teacher"), "--student_model", str(REF / "student_config"), *common, *flags]
    task = ["--teacher_model", str(REF / "teacher_cls"), "--data_dir", str(REF / "SST-2"), "--task_name", "SST-2",
            "--max_seq_length", "64", "--skip_teacher_check"]
    if stage == "s1":
        return [PY, "task_distill.py", *task, "--student_model", str(REF / "general_tinybert"), *common, *flags]
    return [PY, "task_distill.py", "--pred_distill", *task, "--student_model", str(stage1_dir), *common, *flags]


def windows(metrics: Path, key: str = "loss", width: int = 16) -> list[float]:
    losses: dict[int, float] = {}
    for line in metrics.read_text().splitlines():
        rec = json.loads(line) if line.strip() else {}
        if key in rec and "step" in rec:
            losses[int(rec["step"])] = float(rec[key])
    steps = sorted(losses)
    return [sum(losses[s] for s in steps[i:i + width]) / len(steps[i:i + width])
            for i in range(0, len(steps), width)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidates", default="ours,adamw_wd1e-4,adamw_lr_x4",
                    help=f"comma-separated, of: {', '.join(CANDIDATES)} (default %(default)s)")
    ap.add_argument("--stages", default="gd,s1,s2", help="gd, s1, s2 (s2 needs s1 of the same candidate)")
    ap.add_argument("--root", default="runs/learning_speed")
    ap.add_argument("--seeds", default="42", help="comma-separated --seed values; a seed other than 42 is recorded "
                                                  "as CANDIDATE@sN (default %(default)s)")
    args = ap.parse_args(argv)
    if not REF.is_dir():
        sys.exit(f"error: the reference fixtures are not at {REF}")
    root = REPO / args.root
    root.mkdir(parents=True, exist_ok=True)
    store = root / "learning_speed.json"
    results = json.loads(store.read_text()) if store.is_file() else {}
    stages = args.stages.split(",")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    runs = [(c, int(s)) for c in args.candidates.split(",") for s in args.seeds.split(",")]
    for base, seed in runs:
        cand = base if seed == 42 else f"{base}@s{seed}"
        for stage in ("gd", "s1", "s2"):
            if stage not in stages:
                continue
            out = root / f"{cand}-{stage}"
            cmd = command(stage, out, flags_for(base, stage) + ["--seed", str(seed)], root / f"{cand}-s1")
            print("$ " + " ".join(cmd), flush=True)
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if proc.returncode != 0:
                sys.stdout.write(proc.stdout[-3000:])
                sys.exit(f"error: {cand} {stage} failed")
            results.setdefault(cand, {})[stage] = {"windows": windows(out / "metrics.jsonl"),
                                                   "wall_s": time.perf_counter() - start}
            print(f"  {cand} {stage}: " + " / ".join(f"{w:.3f}" for w in results[cand][stage]["windows"]),
                  flush=True)
            store.write_text(json.dumps(results, indent=1))
            if stage == "gd":
                shutil.rmtree(out / "checkpoint", ignore_errors=True)
    lines = ["| candidate | flags | general distillation | stage 1 | stage 2 |", "|---|---|---|---|---|",
             "| original (BertAdam, wd 0.01, per-tensor clip) | – | "
             + " / ".join(f"{w:.3f}" for w in ORIGINAL["gd"]) + " | "
             + " / ".join(f"{w:.3f}" for w in ORIGINAL["s1"]) + " | cls_loss 0.3465 (÷2 scale) |"]
    for cand, res in results.items():
        cells = [" / ".join(f"{w:.3f}" for w in res[s]["windows"]) if s in res else "–" for s in ("gd", "s1", "s2")]
        base = cand.partition("@")[0]
        flags = " ".join(flags_for(base, "gd"))
        lines.append(f"| {cand} | `{flags}` (gd/s1 lr; s2 lr {flags_for(base, 's2')[-1]}) | " + " | ".join(cells)
                     + " |")
    text = "\n".join(lines)
    (root / "learning_speed.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
