"""Our commands on the reference fixtures of the original TinyBERT code, each figure beside the original's.

The fixtures and the original's figures are in ``../shared/reference-original/`` (``README.md``: measured with the
original scripts on a 2-core machine). This script runs OUR scripts with the same flags (the commands listed in
that README) and prints, for each job, the original's figure (parsed from the README) next to ours:

- pregeneration: wall time, peak memory, work inside; instances, mean tokens, share at full length, masked tokens
  per instance, share of random-next pairs;
- augmentation: sentences/s end to end and inside, CPU use, peak memory.

Peak memory is sampled from /proc every 20 ms over the whole process tree: ``RSS`` is the largest sum of resident
sets (pages shared by forked workers counted once per process, as the original's single-process RSS would be),
``PSS`` the proportional set size (shared pages split between the processes: what the tree really occupies).
Wall times are medians of ``--runs`` runs. The machine is shared: quote the load average printed with the figures.

Hooks for other figures (general distillation / stage-1 loss windows): a module on the path named in ``--extra``
(default ``learning_speed``, i.e. ``bench/learning_speed.py``) that defines
``reference_rows(reference_dir: str, readme: str) -> list[tuple[str, str, str]]`` (figure, original, ours) adds its
rows; a module without that function is skipped.

    .venv/bin/python bench/reference.py [--reference ../shared/reference-original] [--runs 3] [--only pregenerate]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_REF = os.path.join(os.path.dirname(ROOT), "shared", "reference-original")


# ----------------------------------------------------------------------------------------------------- measuring
def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def _memory(pids: list[int]) -> tuple[int, int]:
    rss = pss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss * 1024, pss * 1024


def run_measured(cmd: list[str], cwd: str = ROOT) -> dict:
    """Run ``cmd``; wall seconds, CPU seconds of the tree, peak RSS/PSS of the tree, and its stderr."""
    env = dict(os.environ, PYTHONPATH=ROOT, HF_HUB_OFFLINE="1")
    r0 = os.times()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss = _memory(_tree(proc.pid))
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            done.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    thread.join()
    r1 = os.times()
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-3000:]}")
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    return {"wall": wall, "cpu": cpu, "rss": peak[0], "pss": peak[1], "log": out + err}


def _inside(log: str) -> float | None:
    m = re.search(r" in ([0-9.]+)s", log)
    return float(m.group(1)) if m else None


# ----------------------------------------------------------------------------------------------------- the original
def original_figures(readme: str) -> dict[str, str]:
    """The original's figures from the reference README's table (the cell of its "original" column)."""
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and line.startswith("|"):
            rows[cells[0]] = cells[1]
    pick = {}
    for key, prefix in (("pregenerate", "pregenerate, wall"), ("pregenerate output", "pregenerate output"),
                        ("augmentation", "augmentation")):
        pick[key] = next((v for k, v in rows.items() if k.startswith(prefix)), "?")
    return pick


def _num(text: str, pattern: str) -> float | None:
    m = re.search(pattern, text)
    return float(m.group(1).replace(",", "")) if m else None


# ----------------------------------------------------------------------------------------------------- jobs
def pregenerate(ref: str, runs: int, tmp: str) -> tuple[list[dict], dict]:
    results = []
    for i in range(runs):
        out = os.path.join(tmp, f"pregen{i}")
        results.append(run_measured([sys.executable, os.path.join(ROOT, "pregenerate_training_data.py"),
                                     "--train_corpus", os.path.join(ref, "corpus.txt"), "--bert_model",
                                     os.path.join(ref, "teacher"), "--do_lower_case", "--epochs_to_generate", "1",
                                     "--max_seq_len", "128", "--output_dir", out, "--no_progress"]))
    sys.path.insert(0, ROOT)
    from tinybert.data.shards import PregeneratedDataset, check_pregenerated

    out = os.path.join(tmp, "pregen0")
    metrics = check_pregenerated(out)[0]
    vocab = os.path.join(ref, "teacher")
    ds = PregeneratedDataset(out, 0, vocab, 128)
    lengths, masked, rnd = [], [], []
    for i in range(len(ds)):
        item = ds.arrays(i)
        lengths.append(int(item["attention_mask"].sum()))
        masked.append(int((item["lm_label_ids"] != -100).sum()))
        rnd.append(int(item["is_next"]))
    shape = {"instances": metrics["num_training_examples"], "mean": statistics.fmean(lengths),
             "full": sum(n == 128 for n in lengths) / len(lengths), "masked": statistics.fmean(masked),
             "random_next": statistics.fmean(rnd)}
    return results, shape


def augment(ref: str, runs: int, tmp: str, flags: list[str] = (), keep: str | None = None) -> list[dict]:
    """``runs`` measured runs of our data_augmentation.py with the original's flags (plus ``flags``); ``keep``: copy
    the first run's train_aug.tsv there."""
    results = []
    for i in range(runs):
        glue = os.path.join(tmp, f"glue{i}")
        shutil.copytree(os.path.join(ref, "aug_glue"), glue)
        results.append(run_measured([sys.executable, os.path.join(ROOT, "data_augmentation.py"),
                                     "--pretrained_bert_model", os.path.join(ref, "teacher"), "--glove_embs",
                                     os.path.join(ref, "glove.50d.txt"), "--glue_dir", glue, "--task_name", "SST-2",
                                     *flags]))
        if keep and i == 0:
            shutil.copy2(os.path.join(glue, "SST-2", "train_aug.tsv"), keep)
    return results


def _median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", default=DEFAULT_REF)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", nargs="+", choices=("pregenerate", "augment", "extra"),
                    default=["pregenerate", "augment", "extra"])
    ap.add_argument("--extra", nargs="*", default=["learning_speed"],
                    help="modules (on bench/) whose reference_rows(reference_dir, readme) add rows")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--augment_flags", default="", help="extra flags of data_augmentation.py, e.g. '--bf16'")
    ap.add_argument("--keep_augmented", help="copy the first augmentation run's train_aug.tsv to this path")
    args = ap.parse_args()
    ref = os.path.abspath(args.reference)
    with open(os.path.join(ref, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    orig = original_figures(readme)
    rows: list[tuple[str, str, str]] = []
    print(f"reference: {ref}; cpus {os.cpu_count()}; load average {os.getloadavg()[0]:.2f} "
          f"(a shared machine: wall times move with the load)")
    with tempfile.TemporaryDirectory() as tmp:
        if "pregenerate" in args.only:
            res, shape = pregenerate(ref, args.runs, tmp)
            o_wall = _num(orig["pregenerate"], r"([0-9.]+) s /")
            o_mem = _num(orig["pregenerate"], r"/ ([0-9.]+) MiB")
            wall, inside = _median(res, "wall"), statistics.median(_inside(r["log"]) or 0 for r in res)
            rows += [
                ("pregenerate wall (median)", f"{o_wall} s", f"{wall:.2f} s ({o_wall / wall:.2f}x faster)"
                 if o_wall else f"{wall:.2f} s"),
                ("pregenerate work inside", orig["pregenerate"].split(";")[-1].strip(), f"{inside:.2f} s"),
                ("pregenerate peak memory", f"{o_mem} MiB (RSS)",
                 f"RSS {_median(res, 'rss') / 2**20:.0f} MiB, PSS {_median(res, 'pss') / 2**20:.0f} MiB "
                 f"(process tree)"),
                ("pregenerate CPU time (bounds the wall on idle cores)", f"{o_wall} s wall",
                 f"{_median(res, 'cpu'):.2f} s ({o_wall / _median(res, 'cpu'):.2f}x)" if o_wall
                 else f"{_median(res, 'cpu'):.2f} s"),
                ("instances", _grab(orig["pregenerate output"], r"([0-9,–-]+ instances)"), f"{shape['instances']:,}"),
                ("mean tokens", _grab(orig["pregenerate output"], r"mean ([0-9.]+)"), f"{shape['mean']:.1f}"),
                ("share at full length 128", _grab(orig["pregenerate output"], r"([0-9–-]+%) at full"),
                 f"{shape['full']:.1%}"),
                ("masked tokens per instance", _grab(orig["pregenerate output"], r"([0-9.]+) masked"),
                 f"{shape['masked']:.2f}"),
                ("random-next share", "", f"{shape['random_next']:.1%}"),
            ]
        if "augment" in args.only:
            res = augment(ref, args.runs, tmp, args.augment_flags.split(), args.keep_augmented)
            n = 200
            wall = _median(res, "wall")
            inside = statistics.median(_inside(r["log"]) or float("nan") for r in res)
            o_rate = _num(orig["augmentation"], r"([0-9.]+) sentences/s")
            o_mem = _num(orig["augmentation"], r"([0-9.]+) MiB")
            rows += [
                ("augment sentences/s end to end", f"{o_rate}", f"{n / wall:.1f} ({n / wall / o_rate:.2f}x)"
                 if o_rate else f"{n / wall:.1f}"),
                ("augment sentences/s inside", "", f"{n / inside:.1f} ({n / inside / o_rate:.2f}x)"
                 if o_rate else f"{n / inside:.1f}"),
                ("augment CPU use", _grab(orig["augmentation"], r"([0-9]+% CPU)"),
                 f"{100 * _median(res, 'cpu') / wall:.0f}% CPU, {_median(res, 'cpu'):.1f} s CPU time"),
                ("augment peak memory", f"{o_mem} MiB", f"RSS {_median(res, 'rss') / 2**20:.0f} MiB, "
                                                       f"PSS {_median(res, 'pss') / 2**20:.0f} MiB (process tree)"),
            ]
        if "extra" in args.only:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            for name in args.extra:
                try:
                    module = importlib.import_module(name)
                except Exception as e:  # noqa: BLE001 - another bench's module: report it, keep our rows
                    print(f"(--extra {name}: not loaded: {type(e).__name__}: {e})")
                    continue
                if hasattr(module, "reference_rows"):
                    rows += list(module.reference_rows(ref, readme))
    width = max(len(r[0]) for r in rows) if rows else 10
    owidth = max(len(r[1]) for r in rows) if rows else 10
    print(f"{'figure':<{width}}  {'original':<{owidth}}  ours")
    for name, original, ours in rows:
        print(f"{name:<{width}}  {original:<{owidth}}  {ours}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([{"figure": a, "original": b, "ours": c} for a, b, c in rows], f, indent=1)


def _grab(text: str, pattern: str) -> str:
    m = re.search(pattern, text)
    return m.group(1) if m else "?"


if __name__ == "__main__":
    main()
