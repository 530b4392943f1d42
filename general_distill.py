"""Same flags as the original TinyBERT script; see `tinybert general-distill --help`."""
import sys

from tinybert.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("general-distill", prog="general_distill.py"))
