"""The ``tinybert`` command: one module per subcommand, imported only when that subcommand runs.

Each module in :data:`COMMANDS` defines ``add_arguments(parser: argparse.ArgumentParser) -> None`` and
``run(args: argparse.Namespace) -> int | None``; ``run`` only maps the flags onto a recipe's config
(:func:`tinybert.config.from_namespace`) and calls the recipe. Building a parser imports neither torch nor
transformers. User errors (:class:`tinybert.errors.UserError`) become one line on stderr and exit status 2, without
a traceback; a config field named by the error is shown as its flag.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys

from tinybert.errors import UserError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("tinybert.cli.info", "print the detected format, architecture, sizes and parameter count of a checkpoint"),
    "convert": ("tinybert.cli.convert", "convert any supported checkpoint folder into a Hugging Face folder"),
    "pregenerate": ("tinybert.cli.pregenerate", "pregenerate masked-LM/NSP training shards from a corpus"),
    "general-distill": ("tinybert.cli.general_distill", "general distillation of a student from a pretrained teacher"),
    "augment": ("tinybert.cli.augment", "augment a task's training set with BERT masked-LM and GloVe replacements"),
    "finetune": ("tinybert.cli.finetune", "fine-tune a BERT/NEZHA model (teacher) on a classification task"),
    "task-distill": ("tinybert.cli.task_distill", "task distillation (stage 1, --pred_distill stage 2) and --do_eval"),
    "pretrain-data": ("tinybert.cli.create_pretraining_data", "create pretraining shards for NEZHA/BERT pretraining"),
    "build-vocab": ("tinybert.cli.build_vocab", "build a WordPiece vocabulary from a corpus"),
    "pretrain": ("tinybert.cli.pretrain", "pretrain or continue pretraining NEZHA/BERT (MLM, MLM+NSP)"),
    "report": ("tinybert.cli.report", "table and plots comparing teacher and students from their run directories"),
    "export": ("tinybert.cli.export", "export a classifier to ONNX (with --quantize int8: dynamic int8 too)"),
    "predict": ("tinybert.cli.predict", "labels and probabilities for a file or stdin (PyTorch or ONNX folder)"),
    "ner": ("tinybert.cli.ner", "fine-tune, evaluate or predict a token-classification (NER) model"),
    "mrc": ("tinybert.cli.mrc", "fine-tune, evaluate or predict an extractive reading-comprehension model"),
    "ner-distill": ("tinybert.cli.ner_distill", "task distillation of an NER student (stage 1, 2)"),
    "mrc-distill": ("tinybert.cli.mrc_distill", "task distillation of a reading-comprehension student (stage 1, 2)"),
    "mrc-eval": ("tinybert.cli.mrc_eval", "official CMRC2018 / SQuAD v1.1 metrics of a predictions.json"),
}


def _setup_logging() -> None:
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("transformers", "jieba", "gensim", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def build_parser(name: str, prog: str | None = None) -> argparse.ArgumentParser:
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=prog or f"tinybert {name}", description=help_text)
    module.add_arguments(parser)
    parser.set_defaults(_run=module.run)
    return parser


def flag_message(error: UserError, parser: argparse.ArgumentParser | None) -> str:
    """The error's text with the config fields it names shown as the command's flags (``learning_rate`` ->
    ``--learning_rate``), each where the command has a flag for it, once, as a word of the message (not inside a
    path or a longer name that holds it)."""
    text = str(error)
    if parser is None:
        return text
    for field in (error.field, *error.also):
        if not field:
            continue
        for action in parser._actions:
            if action.dest == field and action.option_strings:
                flag = next((o for o in action.option_strings if o.lstrip("-") == field), action.option_strings[-1])
                pattern = rf"(?<![\w./-]){re.escape(field)}(?![\w/-])"
                text = re.sub(pattern, flag.replace("\\", "\\\\"), text, count=1)
                break
    return text


def run_command(name: str, argv: list[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` for subcommand ``name`` and run it; return the exit status."""
    _setup_logging()
    parser = None
    try:
        parser = build_parser(name, prog)
        args = parser.parse_args(argv)
        status = args._run(args)
        return int(status or 0)
    except UserError as e:
        print(f"error: {flag_message(e, parser)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: tinybert COMMAND [options]\n\ncommands:")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:<16} {help_text}")
        print("\n`tinybert COMMAND --help` describes a command's options.")
        return 0 if argv else 2
    name = argv[0]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return run_command(name, argv[1:])
