"""Flags ``tinybert ner``, ``tinybert mrc`` and their ``-distill`` commands share: the model(s), the files, what
to do, the windows, distillation, training.

Names follow the NEZHA / BERT scripts (``--do_train --do_eval --do_predict --max_seq_length --doc_stride``,
``--train_file --predict_file``) and, for distillation, ``task_distill.py`` (``--teacher_model --student_model
--pred_distill --temperature``...); defaults are read from the configs."""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.cli.flags import add_training_arguments
from tinybert.config.base import field_defaults


def add_span_arguments(parser: argparse.ArgumentParser, config_class: type, what: str,
                       distill: bool = False) -> None:
    d = {f.name: f.default for f in dataclasses.fields(config_class)}
    a = parser.add_argument
    if distill:
        a("--teacher_model", help="the fine-tuned teacher (a `tinybert ner` / `tinybert mrc` output folder)")
        a("--student_model", dest="model", required=True,
          help="stage 1: a general student (general_distill output); stage 2: the stage-1 output; with --do_eval "
               "alone: the model to evaluate")
    else:
        a("--model", "--bert_model", dest="model", required=True,
          help="model folder: Hugging Face BERT-family/NEZHA, original TinyBERT, or NEZHA-PyTorch (with "
               "--do_train a pretrained model; without, a fine-tuned one)")
    a("--output_dir", required=True, help="where the model, eval_results.txt, predictions and metrics.jsonl go")
    a("--data_dir", help=f"folder holding train/dev/test {what} files (each overridable by the flags below)")
    a("--train_file", help="training file (default: DATA_DIR/train.*)")
    a("--dev_file", help="dev file, evaluated during training and by --do_eval (default: DATA_DIR/dev.*)")
    a("--predict_file", help="file to predict with --do_predict (default: DATA_DIR/test.*)")
    if distill:
        a("--do_eval", action="store_true",
          help="only evaluate --student_model on the dev file (no distillation); writes eval_results.txt")
        a("--do_predict", action="store_true", help="after distilling, predict the --predict_file with the student")
        a("--pred_distill", action="store_true", help="stage 2: learn the teacher's per-token / start-end logits")
        a("--temperature", type=float, default=d["temperature"],
          help="stage 2: soft cross-entropy temperature (default %(default)s)")
        a("--hard_label_weight", type=float, default=d["hard_label_weight"],
          help="stage 2: loss = (1 - w) * soft + w * gold-label loss (default %(default)s)")
        a("--layer_map", default=d["layer_map"], help="stage 1: uniform | last | FILE.json (default %(default)s)")
        a("--projection", choices=("shared", "per_layer"), default=None,
          help="stage 1: width projections (default: the student's stored kind, else shared)")
        a("--attention_loss", choices=("tinybert", "masked"), default=d["attention_loss"],
          help="stage 1 (default %(default)s)")
        a("--no_logits_cache", action="store_true",
          help="stage 2: run the teacher at every step instead of caching its per-window logits once")
    else:
        a("--do_train", action="store_true", help="fine-tune --model; the best dev model is kept in --output_dir")
        a("--do_eval", action="store_true", help="evaluate on the dev file; writes eval_results.txt")
        a("--do_predict", action="store_true", help="predict the --predict_file")
        a("--from_scratch", action="store_true",
          help="--model is a config (e.g. student_configs/small_2l_128d): random initial weights (a label-only "
               "baseline); the tokenizer comes from --vocab")
        a("--vocab", help="with --from_scratch: a model folder or vocab.txt giving the tokenizer")
    a("--max_seq_length", type=int, default=d["max_seq_length"],
      help="pieces per window; longer inputs are split into windows, never truncated (default %(default)s)")
    a("--doc_stride", type=int, default=d["doc_stride"],
      help="step between the starts of a long input's windows (default: %(default)s; None = half a window)")
    a("--do_lower_case", action="store_true",
      help="lower-case the input (default: the model folder's tokenizer setting, or guessed from its vocabulary)")
    a("--eval_batch_size", type=int, default=d["eval_batch_size"], help="evaluation batch size (default %(default)s)")
    add_training_arguments(parser, field_defaults(config_class, "training"))


def add_ner_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sequence labelling")
    g.add_argument("--ner_format", choices=("auto", "char", "conll", "cluener", "jsonl"), default="auto",
                   help="file format (default: detected from the file)")
    g.add_argument("--labels", help="label file, one per line (default: the training set's labels)")
    strict = g.add_mutually_exclusive_group()
    strict.add_argument("--strict", dest="strict", action="store_true", default=None,
                        help="seqeval strict mode: only well-formed entities count (default for BIOES/BMES labels)")
    strict.add_argument("--no_strict", dest="strict", action="store_false",
                        help="seqeval default (conlleval) mode even for BIOES labels")


def add_mrc_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    d = {f.name: f.default for f in dataclasses.fields(config_class)}
    g = parser.add_argument_group("reading comprehension")
    a = g.add_argument
    a("--max_query_length", type=int, default=d["max_query_length"],
      help="question pieces kept (default %(default)s)")
    a("--n_best_size", type=int, default=d["n_best_size"],
      help="best starts and ends searched per window, answers listed in nbest_predictions.json (default %(default)s)")
    a("--max_answer_length", type=int, default=d["max_answer_length"],
      help="longest answer in pieces (default %(default)s)")
    a("--version_2_with_negative", action="store_true",
      help="SQuAD v2: the empty answer wins when [CLS] scores above the best span by --null_score_diff_threshold")
    a("--null_score_diff_threshold", type=float, default=d["null_score_diff_threshold"], help="(default %(default)s)")
    a("--language", choices=("auto", "zh", "en"), default=d["language"],
      help="metric: zh CMRC2018, en SQuAD v1.1, auto from the contexts (default %(default)s)")
