"""``run_predict``: labels and probabilities of a classifier (PyTorch folder or exported ONNX folder) for every row
of an input file or of standard input, written in input order.

Rows run in batches of similar length (:func:`tinybert.evaluate.predict_logits` sorts by length, pads each batch to
its longest row, and puts the logits back in input order), a chunk of rows at a time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from tinybert.config.export import PredictConfig
from tinybert.errors import UserError
from tinybert.utils.io import atomic_open, read_json
from tinybert.utils.paths import check_output_location

CHUNK_ROWS = 16384  # rows encoded at once (memory: CHUNK_ROWS x max_seq_length int64 per input tensor)


@dataclass
class PredictResult:
    """How many rows were predicted, where the output went, and which model answered (``backend``)."""

    rows: int
    output: str
    backend: str


def load_predictor(cfg: PredictConfig) -> tuple[Any, dict[int, str] | None, str]:
    """``(model, id2label or None for regression, backend name)`` for a PyTorch or an ONNX folder."""
    from tinybert.export.onnx_model import INT8_NAME, ONNX_NAME, OnnxClassifier
    from tinybert.models.checkpoint import find_config
    from tinybert.models.classifier import HEAD
    from tinybert.recipes.export import EXPORT_JSON

    onnx_file = os.path.join(cfg.model_dir, INT8_NAME if cfg.quantize == "int8" else ONNX_NAME)
    if os.path.isfile(os.path.join(cfg.model_dir, ONNX_NAME)):
        if not os.path.isfile(onnx_file):
            raise UserError.at(onnx_file, "not found: export with quantize int8 to get the int8 model")
        info = os.path.join(cfg.model_dir, EXPORT_JSON)
        _check_head(read_json(info).get("head", HEAD) if os.path.isfile(info) else HEAD, cfg.model_dir)
        config_path = find_config(cfg.model_dir)
        config = read_json(config_path) if config_path else {}
        model = OnnxClassifier(onnx_file, cfg.threads or None)
        backend = f"onnx {cfg.quantize or 'fp32'}"
    else:
        from tinybert.models.checkpoint import model_summary
        from tinybert.models.classifier import load_classifier

        _check_head(model_summary(cfg.model_dir)["head"], cfg.model_dir)
        model = load_classifier(cfg.model_dir, who="model_dir")
        config = model.config.to_dict()
        if cfg.quantize == "int8":
            from tinybert.export.quantize import quantize_torch_int8

            model = quantize_torch_int8(model)
        backend = f"pytorch {cfg.quantize or 'fp32'}"
    labels = {int(k): str(v) for k, v in (config.get("id2label") or {}).items()}
    regression = config.get("problem_type") == "regression" or len(labels) == 1
    id2label = None if regression else labels
    return model, id2label, backend


def _check_head(head: str, model_dir: str) -> None:
    from tinybert.models.classifier import HEAD

    if head != HEAD:
        raise UserError.at(model_dir, f"holds a {head} model; predict takes sequence classifiers (token and span "
                                      "models predict with tinybert ner / tinybert mrc)")


def format_records(ids: list[Any], logits: Any, id2label: dict[int, str] | None, fmt: str) -> list[str]:
    """One output line per row: JSON ``{"id", "label", "probabilities": {label: p}}`` (regression: ``"score"``),
    or TSV ``id, label, p(label) for every label``."""
    import torch

    if id2label is None:
        scores = logits[:, 0].tolist()
        if fmt == "tsv":
            return [f"{i}\t{s:.6g}\n" for i, s in zip(ids, scores, strict=True)]  # ids as text
        return [json.dumps({"id": i, "score": s}, ensure_ascii=False) + "\n" for i, s in zip(ids, scores, strict=True)]
    probs = torch.softmax(logits.float(), dim=-1)
    names = [id2label.get(k, str(k)) for k in range(probs.shape[1])]
    lines = []
    for row_id, p in zip(ids, probs.tolist(), strict=True):
        label = names[max(range(len(p)), key=p.__getitem__)]
        if fmt == "tsv":
            lines.append("\t".join([str(row_id), label, *(f"{x:.6f}" for x in p)]) + "\n")
        else:
            lines.append(json.dumps({"id": row_id, "label": label,
                                     "probabilities": {n: round(x, 6) for n, x in zip(names, p, strict=True)}},
                                    ensure_ascii=False) + "\n")
    return lines


def run_predict(cfg: PredictConfig) -> PredictResult:
    from tinybert.data.inputs import read_inputs
    from tinybert.data.task_features import TaskDataset
    from tinybert.data.tasks import InputExample, generic_task
    from tinybert.evaluate import predict_logits
    from tinybert.models.tokenizer import load_tokenizer

    if cfg.output != "-":
        check_output_location(cfg.output, {"model_dir": cfg.model_dir, "input": None if cfg.input == "-" else
                                           cfg.input}, output_field="output", is_dir=False)
        if os.path.isdir(cfg.output):
            raise UserError.of_field("output", f"{cfg.output} is a folder; expected a file (or - for stdout)")
    fmt = cfg.output_format or ("tsv" if cfg.output.endswith((".tsv", ".txt")) else "jsonl")
    rows = read_inputs(cfg.input, cfg.input_format, cfg.text_columns, cfg.id_column, cfg.header)
    model, id2label, backend = load_predictor(cfg)
    tokenizer = load_tokenizer(cfg.model_dir)
    pair = rows[0].text_b is not None
    spec = generic_task(text_columns=[0, 1] if pair else [0], label_column=0, labels=None)
    header = None
    if fmt == "tsv":
        header = "id\tlabel\t" + "\t".join(f"p_{id2label[k]}" for k in sorted(id2label)) + "\n" if id2label \
            else "id\tscore\n"
    with contextlib.nullcontext(sys.stdout) if cfg.output == "-" else atomic_open(cfg.output, "w") as out:
        if header:
            out.write(header)
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = rows[start:start + CHUNK_ROWS]
            examples = [InputExample(str(r.id), r.text_a, r.text_b) for r in chunk]
            dataset = TaskDataset.from_examples(examples, tokenizer, cfg.max_seq_length, spec)
            logits = predict_logits(model, dataset, cfg.batch_size, device="cpu", desc="predict",
                                    progress=cfg.progress_bar and cfg.input != "-")
            out.writelines(format_records([r.id for r in chunk], logits, id2label, fmt))
        out.flush()
    return PredictResult(len(rows), cfg.output, backend)
