"""``tinybert pretrain``: pretrain or continue pretraining NEZHA/BERT (MLM or MLM+NSP) with UER-py's flag names.

Defaults follow the NEZHA recipe: LAMB (weight decay 0.01, not on biases and LayerNorm), linear warmup then
polynomial decay to 0, learning rate 1e-4, epsilon 1e-4. Several processes: ``torchrun --nproc_per_node G
[--nnodes N --node_rank R --master_addr A --master_port P] -m tinybert pretrain ...``.
"""

from __future__ import annotations

import argparse

TRAINING_DEFAULTS = {"optimizer": "lamb", "schedule": "poly", "learning_rate": 1e-4, "adam_epsilon": 1e-4,
                     "weight_decay": 0.01, "max_grad_norm": 1.0, "warmup_proportion": 0.1, "max_steps": 100000,
                     "train_batch_size": 32, "save_steps": 10000, "logging_steps": 100}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tinybert.cli.flags import add_training_arguments
    from tinybert.pretrain import MODEL_TYPES, PRESETS, TARGETS

    a = parser.add_argument
    a("--dataset_path", required=True,
      help="pregenerated shards (`tinybert pretrain-data` or `tinybert pregenerate`)")
    a("--vocab_path", default=None,
      help="vocab.txt the data was created with (default: the one in --pretrained_model_path)")
    a("--output_model_path", "--output_dir", dest="output_dir", required=True,
      help="output FOLDER: the Hugging Face model + tokenizer, metrics.jsonl, tensorboard/, checkpoint/")
    a("--model_type", choices=MODEL_TYPES, default=None,
      help="nezha (relative positions) or bert (default: the config's or checkpoint's type, else nezha)")
    a("--config_path", default=None,
      help=f"a preset ({', '.join(PRESETS)}; tinybert/configs/<model_type>_<preset>.json) or a JSON config file "
           "(vocab_size comes from --vocab_path) (default: base, or the checkpoint's config)")
    a("--pretrained_model_path", default=None,
      help="continue pretraining from this model folder (Hugging Face, original TinyBERT, NEZHA-PyTorch)")
    a("--adapt_vocab", action="store_true",
      help="map --pretrained_model_path onto --vocab_path: rows of kept tokens copied, new tokens initialised")
    a("--target", choices=TARGETS, default="mlm_nsp",
      help="mlm_nsp writes *ForPreTraining, mlm writes *ForMaskedLM (default %(default)s)")
    a("--max_seq_length", type=int, default=128, help="longest sequence of the data (default %(default)s)")
    a("--reduce_memory", action="store_true", help="memory-map the binary shards instead of reading them into RAM")
    a("--do_lower_case", action=argparse.BooleanOptionalAction, default=None,
      help="lower-casing of the saved tokenizer (default: guessed from the vocabulary)")
    a("--warmup", type=float, default=None,
      help="linear warmup: a proportion of --total_steps if < 1, else a number of steps (default 0.1)")
    g = add_training_arguments(parser, TRAINING_DEFAULTS)
    # UER-py's names for the loop's flags (the same destinations; the loop's own names work too)
    s = argparse.SUPPRESS
    g.add_argument("--total_steps", dest="max_steps", type=int, default=s, help="alias of --max_steps")
    g.add_argument("--save_checkpoint_steps", dest="save_steps", type=int, default=s, help="alias of --save_steps")
    g.add_argument("--report_steps", dest="logging_steps", type=int, default=s, help="alias of --logging_steps")
    g.add_argument("--batch_size", dest="train_batch_size", type=int, default=s,
                   help="alias of --train_batch_size: the GLOBAL batch per optimizer step (UER's is per process)")
    g.add_argument("--accumulation_steps", dest="gradient_accumulation_steps", type=int, default=s,
                   help="alias of --gradient_accumulation_steps")
    u = parser.add_argument_group("UER-py launcher flags (accepted; tinybert runs under torchrun)")
    u.add_argument("--world_size", type=int, default=None, help="use torchrun --nnodes x --nproc_per_node")
    u.add_argument("--gpu_ranks", type=int, nargs="+", default=None, help="use torchrun --nproc_per_node/--node_rank")
    u.add_argument("--master_ip", default=None, help="tcp://ADDR:PORT; use torchrun --master_addr/--master_port")


def run(args: argparse.Namespace) -> int:
    from tinybert.pretrain import run_pretraining

    run_pretraining(args)
    return 0
