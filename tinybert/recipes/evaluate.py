"""Evaluation of a task model (``task_distill.py --do_eval / --do_predict``): its dev metrics in
``output_dir/eval_results.txt`` (printed, as the original), and GLUE-submission test predictions. Read top to bottom."""

from __future__ import annotations

import logging
import os

from tinybert.config.distill import EvalConfig
from tinybert.errors import UserError
from tinybert.evaluate import (
    EVAL_RESULTS,
    evaluate_folder,
    format_results,
    pick_device,
    submission_name,
    test_splits,
    write_eval_results,
    write_predictions,
)
from tinybert.models.classifier import load_classifier
from tinybert.models.tokenizer import load_tokenizer
from tinybert.utils.paths import check_output_location

logger = logging.getLogger(__name__)


def run_evaluation(cfg: EvalConfig) -> dict[str, float]:
    """Dev metrics of ``cfg.student_model`` (any classifier folder) with ``do_eval`` ({} without it); test
    predictions with ``do_predict``; both written to ``cfg.output_dir``."""
    # 0. Refuse early: an output among the inputs, or results already there.
    task, out = cfg.task, cfg.output_dir
    check_output_location(out, cfg.input_paths())
    spec = task.spec()
    planned = ([EVAL_RESULTS] if cfg.do_eval else []) + \
              ([submission_name(spec, s) + ".tsv" for s in test_splits(spec)] if cfg.do_predict else [])
    existing = [n for n in planned if os.path.exists(os.path.join(out, n))]
    if existing and not cfg.overwrite_output_dir:
        raise UserError(f"{out}: already holds {', '.join(existing)}; set overwrite_output_dir to replace",
                        field="overwrite_output_dir")

    # 1. The model, labels checked against the task's.
    model = load_classifier(cfg.student_model, spec, "model")
    tokenizer = load_tokenizer(cfg.student_model, task.do_lower_case)
    device = pick_device(cfg.no_cuda)
    model.to(device)

    # 2. Dev metrics, test predictions.
    result: dict[str, float] = {}
    os.makedirs(out, exist_ok=True)
    if cfg.do_eval:
        result = evaluate_folder(model, spec, task.data_dir, tokenizer, task.max_seq_length, task.eval_batch_size,
                                 device)
        path = write_eval_results(out, result)
        print("***** Eval results *****")
        print(format_results(result))
        logger.info("wrote %s", path)
    if cfg.do_predict:
        for path in write_predictions(model, spec, task.data_dir, tokenizer, task.max_seq_length, out,
                                      task.eval_batch_size, device):
            print(f"predictions: {path}")
    return result


__all__ = ["run_evaluation"]
