"""Flags ``tinybert ner`` and ``tinybert mrc`` share: the model, the files, what to do, the windows, training.

Names follow the NEZHA / BERT scripts (``--do_train --do_eval --do_predict --max_seq_length --doc_stride``,
``--train_file --predict_file``); defaults are read from the configs."""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.cli.flags import add_training_arguments
from tinybert.config.base import field_defaults


def add_span_arguments(parser: argparse.ArgumentParser, config_class: type, what: str) -> None:
    d = {f.name: f.default for f in dataclasses.fields(config_class)}
    a = parser.add_argument
    a("--model", "--bert_model", dest="model", required=True,
      help="model folder: Hugging Face BERT-family/NEZHA, original TinyBERT, or NEZHA-PyTorch (with --do_train "
           "a pretrained model; without, a fine-tuned one)")
    a("--output_dir", required=True, help="where the best model, eval_results.txt, predictions and metrics.jsonl go")
    a("--data_dir", help=f"folder holding train/dev/test {what} files (each overridable by the flags below)")
    a("--train_file", help="training file (default: DATA_DIR/train.*)")
    a("--dev_file", help="dev file, evaluated during training and by --do_eval (default: DATA_DIR/dev.*)")
    a("--predict_file", help="file to predict with --do_predict (default: DATA_DIR/test.*)")
    a("--do_train", action="store_true", help="fine-tune --model; the best dev model is kept in --output_dir")
    a("--do_eval", action="store_true", help="evaluate on the dev file; writes eval_results.txt")
    a("--do_predict", action="store_true", help="predict the --predict_file")
    a("--max_seq_length", type=int, default=d["max_seq_length"],
      help="pieces per window; longer inputs are split into windows, never truncated (default %(default)s)")
    a("--doc_stride", type=int, default=d["doc_stride"],
      help="step between the starts of a long input's windows (default: %(default)s; None = half a window)")
    a("--do_lower_case", action="store_true",
      help="lower-case the input (default: the model folder's tokenizer setting, or guessed from its vocabulary)")
    a("--eval_batch_size", type=int, default=d["eval_batch_size"], help="evaluation batch size (default %(default)s)")
    a("--from_scratch", action="store_true",
      help="--model is a config (e.g. student_configs/small_2l_128d): random initial weights (a label-only "
           "baseline); the tokenizer comes from --vocab")
    a("--vocab", help="with --from_scratch: a model folder or vocab.txt giving the tokenizer")
    add_training_arguments(parser, field_defaults(config_class, "training"))
