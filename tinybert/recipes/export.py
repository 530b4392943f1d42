"""``run_export``: a model folder -> an ONNX folder (fp32, and dynamic int8 with ``quantize="int8"``); sequence
classifiers, token classifiers (NER) and reading-comprehension (span) models.

Reads top to bottom: check the output location, load the model and tokenizer, export, check ONNX Runtime's logits
against PyTorch's on real inputs (two batch sizes and lengths, so the dynamic axes are exercised), quantize,
measure the dev metric of every variant when a task is given, write the tokenizer, config and ``export.json``.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from tinybert.config.export import ExportConfig
from tinybert.errors import UserError
from tinybert.utils.io import atomic_write_json
from tinybert.utils.paths import check_output_location

logger = logging.getLogger(__name__)

EXPORT_JSON = "export.json"


@dataclass
class ExportResult:
    """Where the export went and how close it is: ``max_abs_diff`` of the ONNX fp32 outputs vs PyTorch's,
    ``int8_max_abs_diff`` (ONNX int8) and ``torch_int8_max_abs_diff`` (``torch.ao`` int8) likewise, ``dev``:
    variant -> dev metrics (with a task), ``ok``: the fp32 check passed."""

    output: str
    onnx_path: str
    max_abs_diff: float
    ok: bool
    int8_path: str | None = None
    int8_max_abs_diff: float | None = None
    torch_int8_max_abs_diff: float | None = None
    dev: dict[str, dict[str, float]] = field(default_factory=dict)
    metric: str | None = None


def check_batches(cfg: ExportConfig, tokenizer: Any, spec: Any) -> list[dict[str, Any]]:
    """Real inputs to compare PyTorch and ONNX on: the task's first dev examples (else the built-in sentences) as
    one batch of up to 32, and the last of them alone (another batch size and length)."""
    from tinybert.reporting.measure import SAMPLE_SENTENCES, encode_batch

    if spec is not None:
        from tinybert.data.tasks import read_examples

        items: list[Any] = read_examples(spec, cfg.data_dir, "dev")[:32]
    else:
        items = list(SAMPLE_SENTENCES)
    return [encode_batch(items, spec, tokenizer, cfg.max_seq_length),
            encode_batch(items[-1:], spec, tokenizer, cfg.max_seq_length)]


def run_export(cfg: ExportConfig) -> ExportResult:
    from tinybert.config.task import TaskConfig
    from tinybert.evaluate import DevEvaluator, best_metric_key, dev_sets
    from tinybert.export import require_export_extra
    from tinybert.export.onnx_model import (
        HEAD_OUTPUTS,
        INT8_NAME,
        ONNX_NAME,
        OnnxClassifier,
        export_onnx,
        max_abs_diff,
    )
    from tinybert.export.quantize import quantize_onnx_int8, quantize_torch_int8
    from tinybert.models.checkpoint import load_model, model_summary
    from tinybert.models.classifier import HEAD, load_classifier
    from tinybert.models.tokenizer import VOCAB_NAME, load_tokenizer, vocab_path

    check_output_location(cfg.output, {"model_dir": cfg.model_dir, "data_dir": cfg.data_dir}, output_field="output")
    onnx_path = os.path.join(cfg.output, ONNX_NAME)
    if os.path.exists(onnx_path) and not cfg.overwrite_output_dir:
        raise UserError.of_field("output", f"{cfg.output} holds an export already ({ONNX_NAME}); pass "
                                           "overwrite_output_dir to replace it")
    require_export_extra()
    head = model_summary(cfg.model_dir)["head"]
    if head not in HEAD_OUTPUTS:
        raise UserError.at(cfg.model_dir, f"holds a model with a {head} head; export takes a sequence classifier, a "
                                          "token classifier (NER) or a reading-comprehension (span) model")
    if cfg.task_name is not None and head != HEAD:
        raise UserError.of_field("task_name", f"dev metrics are measured for sequence classifiers; this is a {head} "
                                              "model (evaluate it with tinybert ner / tinybert mrc)")
    model = (load_classifier(cfg.model_dir, who="model_dir") if head == HEAD
             else load_model(cfg.model_dir, head=head, require_head=True))
    outputs = tuple(HEAD_OUTPUTS[head])
    tokenizer = load_tokenizer(cfg.model_dir)
    spec = None
    if cfg.task_name is not None:
        spec = TaskConfig(cfg.task_name, cfg.data_dir, cfg.max_seq_length, eval_batch_size=cfg.eval_batch_size,
                          text_columns=cfg.text_columns, label_column=cfg.label_column, labels=cfg.labels).spec()
    batches = check_batches(cfg, tokenizer, spec)

    os.makedirs(cfg.output, exist_ok=True)
    export_onnx(model, onnx_path, batches[0], cfg.opset, head)
    variants: dict[str, Any] = {"pytorch_fp32": model, "onnx_fp32": OnnxClassifier(onnx_path, cfg.threads or None)}
    result = ExportResult(cfg.output, onnx_path, max(max_abs_diff(model, variants["onnx_fp32"], b, outputs)
                                                      for b in batches), ok=False)
    result.ok = result.max_abs_diff <= cfg.tolerance
    logger.info("ONNX fp32 vs PyTorch: max abs difference of the logits %.3g (tolerance %g)", result.max_abs_diff,
                cfg.tolerance)
    if cfg.quantize == "int8":
        result.int8_path = quantize_onnx_int8(onnx_path, os.path.join(cfg.output, INT8_NAME))
        variants["onnx_int8"] = OnnxClassifier(result.int8_path, cfg.threads or None)
        variants["pytorch_int8"] = quantize_torch_int8(model)
        result.int8_max_abs_diff = max(max_abs_diff(model, variants["onnx_int8"], b, outputs) for b in batches)
        result.torch_int8_max_abs_diff = max(max_abs_diff(model, variants["pytorch_int8"], b, outputs)
                                             for b in batches)

    if spec is not None:
        sets = dev_sets(spec, cfg.data_dir, tokenizer, cfg.max_seq_length)
        evaluator = DevEvaluator(spec, sets, cfg.eval_batch_size)
        result.metric = best_metric_key(spec)
        result.dev = {name: evaluator.evaluate(variant) for name, variant in variants.items()}

    tokenizer.save_pretrained(cfg.output)  # tokenizer.json and tokenizer_config.json for any transformers user
    shutil.copyfile(vocab_path(cfg.model_dir), os.path.join(cfg.output, VOCAB_NAME))  # what load_tokenizer reads
    model.config.save_pretrained(cfg.output)
    atomic_write_json(os.path.join(cfg.output, EXPORT_JSON), {
        "model_dir": cfg.model_dir, "head": head, "outputs": list(outputs), "opset": cfg.opset,
        "tolerance": cfg.tolerance, "ok": result.ok,
        "max_abs_diff": result.max_abs_diff, "int8_max_abs_diff": result.int8_max_abs_diff,
        "torch_int8_max_abs_diff": result.torch_int8_max_abs_diff,
        "files": {name: os.path.getsize(os.path.join(cfg.output, name)) for name in (ONNX_NAME, INT8_NAME)
                  if os.path.isfile(os.path.join(cfg.output, name))},
        "check_inputs": [list(b["input_ids"].shape) for b in batches], "metric": result.metric, "dev": result.dev,
    })
    return result
