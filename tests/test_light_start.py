"""`import tinybert` and building every command's parser stay light: no torch, no transformers (issue 12.6)."""

import subprocess
import sys

PROBE = """
import sys
import tinybert
from tinybert.cli import COMMANDS, build_parser
for name in COMMANDS:
    build_parser(name)
import tinybert.config, tinybert.recipes  # the configs and the recipe registry are light too
for script in ("pregenerate_training_data", "general_distill", "data_augmentation", "task_distill"):
    __import__(script)
heavy = [m for m in ("torch", "transformers") if m in sys.modules]
print("HEAVY=" + ",".join(heavy))
"""


def test_import_and_every_parser_leave_torch_and_transformers_unloaded():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY=", proc.stdout + proc.stderr


def test_the_probe_sees_a_heavy_import():
    """Control: the same probe reports torch when something does import it (so the test above can fail)."""
    proc = subprocess.run([sys.executable, "-c", "import torch\n" + PROBE], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip().splitlines()[-1].startswith("HEAVY=torch")


def test_public_names_load_lazily():
    proc = subprocess.run([sys.executable, "-c", "import sys, tinybert\n"
                           "cfg = tinybert.TrainingArguments(output_dir='x')\n"
                           "print(type(cfg).__name__, 'torch' in sys.modules)"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["TrainingArguments", "False"]
