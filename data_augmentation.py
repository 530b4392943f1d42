"""Same flags as the original TinyBERT script; see `tinybert augment --help`."""
import sys

from tinybert.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("augment", prog="data_augmentation.py"))
