"""Same flags as the original TinyBERT script; see `tinybert task-distill --help`."""
import sys

from tinybert.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("task-distill", prog="task_distill.py"))
