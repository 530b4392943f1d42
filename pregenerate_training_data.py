"""Same flags as the original TinyBERT script; see `tinybert pregenerate --help`."""
import sys

from tinybert.cli import run_command

if __name__ == "__main__":
    sys.exit(run_command("pregenerate", prog="pregenerate_training_data.py"))
