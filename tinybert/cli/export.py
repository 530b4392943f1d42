"""``tinybert export MODEL_DIR --output DIR [--quantize int8] [--task_name T --data_dir D]``: a classifier as ONNX.

Prints the largest difference between the ONNX and PyTorch logits (fp32 must be within ``--tolerance``), and with
a task the dev metric of every variant (PyTorch fp32, ONNX fp32, and with ``--quantize int8`` ONNX int8 and
PyTorch ``torch.ao`` int8). Needs the ``export`` extra (``pip install -e '.[export]'``).
"""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.config.export import QUANTIZE, ExportConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = {f.name: f.default for f in dataclasses.fields(ExportConfig)}
    a = parser.add_argument
    a("model_dir", help="a classifier folder (fine-tuned teacher or distilled student)")
    a("--output", required=True, help="folder for model.onnx (and model.int8.onnx), tokenizer files, config.json, "
                                      "export.json")
    a("--quantize", choices=QUANTIZE, default=None, help="also write a dynamic int8 model (model.int8.onnx)")
    a("--task_name", default=None, help="measure every variant's dev metric on this task (needs --data_dir)")
    a("--data_dir", default=None, help="the task's data folder (its dev set)")
    a("--text_columns", default=None, help="generic task: one or two text columns (0-based indices or names)")
    a("--label_column", default=None, help="generic task: the label column")
    a("--labels", default=None, help="generic task: comma-separated label list")
    a("--max_seq_length", type=int, default=d["max_seq_length"], help="(default %(default)s)")
    a("--eval_batch_size", type=int, default=d["eval_batch_size"], help="(default %(default)s)")
    a("--opset", type=int, default=d["opset"], help="ONNX opset (default %(default)s)")
    a("--tolerance", type=float, default=d["tolerance"],
      help="largest allowed |ONNX - PyTorch| of the fp32 logits (default %(default)s)")
    a("--threads", type=int, default=d["threads"], help="ONNX Runtime threads; 0: torch's (default %(default)s)")
    a("--overwrite_output_dir", action="store_true", help="replace an earlier export in --output")


def run(args: argparse.Namespace) -> int:
    from tinybert.config.base import from_namespace
    from tinybert.recipes.export import run_export

    cfg = from_namespace(ExportConfig, args)
    result = run_export(cfg)
    print(f"ONNX fp32: {result.onnx_path}; max |ONNX - PyTorch| of the logits {result.max_abs_diff:.3g} "
          f"({'within' if result.ok else 'OVER'} {cfg.tolerance:g})")
    if result.int8_path:
        print(f"ONNX int8: {result.int8_path}; max |int8 - PyTorch fp32| {result.int8_max_abs_diff:.3g}; "
              f"torch.ao int8: {result.torch_int8_max_abs_diff:.3g}")
    if result.dev:
        base = result.dev["pytorch_fp32"][result.metric]
        for name, metrics in result.dev.items():
            print(f"dev {result.metric} {name}: {metrics[result.metric]:.4f} ({metrics[result.metric] - base:+.4f})")
    return 0 if result.ok else 1
