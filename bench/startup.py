"""Start-up time of the commands: wall and CPU seconds of `tinybert --help`, each `tinybert COMMAND --help` and the
original scripts' `--help`, each in a fresh process (median of --repeats runs), and which heavy modules they loaded.

    python bench/startup.py [--repeats 5]

Issue 12's target: every line under 1 s wall on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = ("import sys, runpy; sys.argv = {argv!r}; "
         "import atexit; atexit.register(lambda: sys.stderr.write('HEAVY:' + ','.join("
         "m for m in ('torch', 'transformers') if m in sys.modules) + '\\n'))\n"
         "{body}")


def commands() -> list[tuple[str, list[str]]]:
    sys.path.insert(0, ROOT)
    from tinybert.cli import COMMANDS

    out = [("tinybert --help", ["-m", "tinybert", "--help"])]
    out += [(f"tinybert {name} --help", ["-m", "tinybert", name, "--help"]) for name in COMMANDS]
    out += [(f"python {script} --help", [script, "--help"]) for script in
            ("pregenerate_training_data.py", "general_distill.py", "data_augmentation.py", "task_distill.py")]
    return out


def time_once(args: list[str]) -> tuple[float, float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, ""


def heavy_modules(args: list[str]) -> str:
    """torch/transformers loaded by the command (run once more, in-process help printed to a pipe)."""
    if args[0] == "-m":
        body = f"runpy.run_module({args[1]!r}, run_name='__main__')"
        argv = [args[1], *args[2:]]
    else:
        body = f"runpy.run_path({args[0]!r}, run_name='__main__')"
        argv = list(args)
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, body=body)], cwd=ROOT,
                          capture_output=True, text=True)
    line = [x for x in proc.stderr.splitlines() if x.startswith("HEAVY:")]
    return (line[-1][6:] if line else "?") or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'command':<44} {'wall s':>7} {'cpu s':>7}  heavy modules loaded")
    worst = 0.0
    for label, argv in commands():
        runs = [time_once(argv) for _ in range(args.repeats)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        worst = max(worst, wall)
        print(f"{label:<44} {wall:7.3f} {cpu:7.3f}  {heavy_modules(argv)}", flush=True)
    print(f"slowest: {worst:.3f} s wall (median of {args.repeats})")


if __name__ == "__main__":
    main()
