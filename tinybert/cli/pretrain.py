"""``tinybert pretrain``: pretrain or continue pretraining NEZHA/BERT (MLM or MLM+NSP) with UER-py's flag names.

Defaults follow the NEZHA recipe (:class:`tinybert.config.pretrain.PretrainConfig`): LAMB (weight decay 0.01, not on
biases and LayerNorm), linear warmup then polynomial decay to 0, learning rate 1e-4, epsilon 1e-4. Several processes:
``torchrun --nproc_per_node G [--nnodes N --node_rank R --master_addr A --master_port P] -m tinybert pretrain ...``.
UER-py's names (``--total_steps``, ``--batch_size``, ``--warmup``, ...) are flags only: they fill the same fields.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass

from tinybert.cli.flags import add_training_arguments
from tinybert.config.base import field_defaults, from_namespace
from tinybert.config.pretrain import MODEL_TYPES, PRESETS, TARGETS, PretrainConfig, warmup_overrides
from tinybert.errors import UserError

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--dataset_path", required=True,
        help="pregenerated shards (`tinybert pretrain-data` or `tinybert pregenerate`)")
    add("--vocab_path", default=None,
        help="vocab.txt the data was created with (default: the one in --pretrained_model_path)")
    add("--output_model_path", "--output_dir", dest="output_dir", required=True,
        help="output FOLDER: the Hugging Face model + tokenizer, metrics.jsonl, tensorboard/, checkpoint/")
    add("--model_type", choices=MODEL_TYPES, default=None,
        help="nezha (relative positions) or bert (default: the config's or checkpoint's type, else nezha)")
    add("--config_path", default=None,
        help=f"a preset ({', '.join(PRESETS)}; tinybert/presets/<model_type>_<preset>.json) or a JSON config file "
             "(vocab_size comes from --vocab_path) (default: base, or the checkpoint's config)")
    add("--pretrained_model_path", default=None,
        help="continue pretraining from this model folder (Hugging Face, original TinyBERT, NEZHA-PyTorch)")
    add("--adapt_vocab", action="store_true",
        help="map --pretrained_model_path onto --vocab_path: rows of kept tokens copied, new tokens initialised")
    add("--target", choices=TARGETS, default="mlm_nsp",
        help="mlm_nsp writes *ForPreTraining, mlm writes *ForMaskedLM (default %(default)s)")
    add("--max_seq_length", type=int, default=128, help="longest sequence of the data (default %(default)s)")
    add("--reduce_memory", action="store_true", help="memory-map the binary shards instead of reading them into RAM")
    add("--do_lower_case", action=argparse.BooleanOptionalAction, default=None,
        help="lower-casing of the saved tokenizer (default: guessed from the vocabulary)")
    add("--warmup", type=float, default=None,
        help="linear warmup: a proportion of --total_steps if < 1, else a number of steps (default 0.1)")
    group = add_training_arguments(parser, field_defaults(PretrainConfig, "training"))
    # UER-py's names for the loop's flags (the same destinations; the loop's own names work too)
    hidden = argparse.SUPPRESS
    group.add_argument("--total_steps", dest="max_steps", type=int, default=hidden, help="alias of --max_steps")
    group.add_argument("--save_checkpoint_steps", dest="save_steps", type=int, default=hidden,
                       help="alias of --save_steps")
    group.add_argument("--report_steps", dest="logging_steps", type=int, default=hidden,
                       help="alias of --logging_steps")
    group.add_argument("--batch_size", dest="train_batch_size", type=int, default=hidden,
                       help="alias of --train_batch_size: the GLOBAL batch per optimizer step (UER's is per process)")
    group.add_argument("--accumulation_steps", dest="gradient_accumulation_steps", type=int, default=hidden,
                       help="alias of --gradient_accumulation_steps")
    uer = parser.add_argument_group("UER-py launcher flags (accepted; tinybert runs under torchrun)")
    uer.add_argument("--world_size", type=int, default=None, help="use torchrun --nnodes x --nproc_per_node")
    uer.add_argument("--gpu_ranks", type=int, nargs="+", default=None,
                     help="use torchrun --nproc_per_node/--node_rank")
    uer.add_argument("--master_ip", default=None, help="tcp://ADDR:PORT; use torchrun --master_addr/--master_port")


def run(args: argparse.Namespace) -> int:
    from tinybert.recipes.pretrain import run_pretraining

    UerLauncher(args.world_size, args.gpu_ranks, args.master_ip).check()
    run_pretraining(from_namespace(PretrainConfig, {**vars(args), **warmup_overrides(args.warmup)}))
    return 0


@dataclass
class UerLauncher:
    """UER-py's ``--world_size/--gpu_ranks/--master_ip`` (launcher flags, not a config: tinybert runs under
    torchrun) and the torchrun command they correspond to."""

    world_size: int | None = None
    gpu_ranks: list[int] | None = None
    master_ip: str | None = None

    def torchrun_command(self) -> str:
        world = self.world_size or 1
        local = len(self.gpu_ranks) if self.gpu_ranks else world
        if world % local:
            raise UserError(f"--world_size {world} is not a multiple of the {local} --gpu_ranks of this node")
        nnodes = world // local
        node_rank = min(self.gpu_ranks) // local if self.gpu_ranks else 0
        addr, port = "127.0.0.1", "29500"
        if self.master_ip:
            hostport = self.master_ip.split("://", 1)[-1]
            addr, _, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", port)
        return (f"torchrun --nnodes {nnodes} --node_rank {node_rank} --master_addr {addr} --master_port {port} "
                f"--nproc_per_node {local} -m tinybert pretrain ...")

    def check(self) -> None:
        """Refuse UER-style multi-process flags outside torchrun (naming the command to run), and flags that
        disagree with torchrun's environment."""
        if self.world_size is None and self.gpu_ranks is None and self.master_ip is None:
            return
        env_world = os.environ.get("WORLD_SIZE")
        if env_world is None:
            if (self.world_size or 1) > 1 or (self.gpu_ranks and len(self.gpu_ranks) > 1):
                raise UserError("--world_size/--gpu_ranks/--master_ip are UER-py's launcher flags; tinybert runs "
                                f"under torchrun instead: {self.torchrun_command()} (the same flags minus these)")
            return
        if self.world_size is not None and self.world_size != int(env_world):
            raise UserError(f"--world_size {self.world_size} but torchrun started {env_world} processes; drop "
                            "--world_size (torchrun decides)")
        logger.info("UER-style --world_size/--gpu_ranks/--master_ip ignored: torchrun's environment decides")
