"""NEZHA / BERT pretraining (masked LM, optionally with next-sentence prediction) on pregenerated shards.

The recipe: resolve a config (a preset from ``tinybert/configs/`` or a JSON file) or load a checkpoint for continued
pretraining (adapting it to a new vocabulary on request), read the pregenerated data epoch by epoch, and hand
:class:`PretrainingObjective` to the one training loop. The output folder holds a ``NezhaForPreTraining`` /
``BertForPreTraining`` model (``...ForMaskedLM`` with ``target="mlm"``) and the tokenizer files.

The masked-LM logits are computed only at the masked positions (about 15% of the tokens), so the vocabulary-sized
decoder costs what it must and no more.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tinybert.config.base import from_namespace
from tinybert.errors import UserError
from tinybert.utils.io import read_json

logger = logging.getLogger(__name__)

MODEL_TYPES = ("nezha", "bert")
TARGETS = ("mlm", "mlm_nsp")
PRESETS = ("tiny", "mini", "small", "medium", "base", "large")
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
ARCHITECTURE_FIELDS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")


# ----------------------------------------------------------------------------------------------- configs
def preset_path(name: str, model_type: str) -> str:
    """``configs/{model_type}_{name}.json`` for a preset name (``base``) or a full one (``nezha_base``)."""
    stem = name if name.startswith(tuple(f"{t}_" for t in MODEL_TYPES)) else f"{model_type}_{name}"
    return os.path.join(CONFIGS_DIR, f"{stem}.json")


def is_preset(name: str) -> bool:
    return name in PRESETS or any(name == f"{t}_{p}" for t in MODEL_TYPES for p in PRESETS)


def read_config(config_path: str, model_type: str | None) -> tuple[dict[str, Any], str]:
    """The config dict and the file it came from: a preset name, a JSON file, or a folder holding ``config.json``
    (or ``bert_config.json``)."""
    if is_preset(config_path):
        path = preset_path(config_path, model_type or "nezha")
        if not os.path.isfile(path):
            raise UserError.at(path, f"preset {config_path!r} not found; the tinybert/configs/ folder ships "
                                     "the presets (or pass a JSON file)")
    elif os.path.isdir(config_path):
        names = [os.path.join(config_path, n) for n in ("config.json", "bert_config.json")]
        path = next((p for p in names if os.path.isfile(p)), names[0])
        if not os.path.isfile(path):
            raise UserError.at(config_path, "holds no config.json or bert_config.json; expected a model config")
    elif os.path.isfile(config_path):
        path = config_path
    else:
        raise UserError.at(config_path, f"config not found; expected a JSON file or a preset ({', '.join(PRESETS)})")
    return read_json(path, what="a JSON object (a model config)"), path


def config_model_type(data: Mapping[str, Any]) -> str | None:
    """The model type a config dict declares: its ``model_type``, else ``nezha`` when it carries NEZHA's
    relative-position fields, else None (an original BERT config fits either)."""
    if data.get("model_type"):
        return str(data["model_type"])
    if data.get("use_relative_position") or "max_relative_position" in data:
        return "nezha"
    return None


def build_config(data: Mapping[str, Any], model_type: str, vocab_size: int, where: str,
                 against: str = "--model_type"):
    """A ``NezhaConfig`` / ``BertConfig`` from ``data`` with ``vocab_size`` from the vocabulary; ``against`` names
    what decided ``model_type`` (for the error when the config declares another type)."""
    declared = config_model_type(data)
    if declared is not None and declared != model_type:
        fix = (f"pass --model_type {declared} or a {model_type} config" if against == "--model_type"
               else f"pass a {model_type} config or none")
        raise UserError.at(where, f"is a {declared} config but {against} is {model_type}; {fix}")
    if model_type == "nezha":
        from tinybert.models.nezha import NezhaConfig as cls
    else:
        from transformers import BertConfig as cls
    known = set(cls().to_dict())
    values = {k: v for k, v in data.items() if k in known and k != "model_type"}
    if data.get("vocab_size") not in (None, vocab_size):
        logger.info("%s: vocab_size %s replaced by the vocabulary's %d", where, data["vocab_size"], vocab_size)
    values["vocab_size"] = vocab_size
    for field in ARCHITECTURE_FIELDS:
        v = values.get(field)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
            raise UserError.at(where, f"{field} must be a positive integer, found {v!r}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as e:
        raise UserError.at(where, f"invalid config ({e})") from None


# ----------------------------------------------------------------------------------------------- models
def head_for(target: str) -> str:
    return "pretraining" if target == "mlm_nsp" else "mlm"


def new_model(config, target: str, seed: int) -> nn.Module:
    """A freshly initialised pretraining (``mlm_nsp``) or masked-LM (``mlm``) model."""
    from tinybert.models.checkpoint import model_class
    from tinybert.train import set_seed

    set_seed(seed)  # every process builds the same initial weights
    return model_class(config, head_for(target))(config)


def load_pretrained(path: str, target: str, model_type: str | None, tokens: list[str], adapt_vocab: bool,
                    seed: int) -> nn.Module:
    """Load ``path`` (any checkpoint format) for continued pretraining, on the vocabulary ``tokens``.

    The checkpoint's vocabulary must be ``tokens`` (same size, and same tokens when it ships a vocab.txt) unless
    ``adapt_vocab``: then rows of kept tokens are copied and new ones initialised (:mod:`tinybert.data.vocab_adapter`).
    """
    from tinybert.models.checkpoint import load_model, model_class
    from tinybert.models.tokenizer import VOCAB_NAME, read_vocab

    model = load_model(path, head=head_for(target))
    config = model.config
    if model_type is not None and config.model_type != model_type:
        raise UserError.at(path, f"is a {config.model_type} checkpoint but --model_type is {model_type}; pass "
                                 f"--model_type {config.model_type}")
    vp = os.path.join(path, VOCAB_NAME)
    old_tokens = read_vocab(vp) if os.path.isfile(vp) else None
    if not adapt_vocab:
        if config.vocab_size != len(tokens):
            raise UserError.at(path, f"has a {config.vocab_size}-token vocabulary but --vocab_path has {len(tokens)}; "
                                     "map the model onto the new vocabulary with --adapt_vocab (the vocabulary "
                                     "adapter; build a domain vocab with `tinybert build-vocab`)")
        if old_tokens is not None and old_tokens != tokens:
            line = next(i for i, (a, b) in enumerate(zip(old_tokens, tokens, strict=True), 1) if a != b)
            raise UserError.at(vp, f"differs from --vocab_path at line {line} ({old_tokens[line - 1]!r} vs "
                                   f"{tokens[line - 1]!r}); pass --adapt_vocab to map the model onto it")
        return model
    if old_tokens is None:
        raise UserError.at(path, "--adapt_vocab needs the checkpoint's own vocab.txt in the folder")
    from tinybert.data.vocab_adapter import adapt_vocab as adapt

    adapted = adapt(model.state_dict(), old_tokens, tokens, initializer_range=config.initializer_range, seed=seed)
    config.vocab_size = len(tokens)
    new = model_class(config, head_for(target))(config)
    result = new.load_state_dict(adapted.state_dict, strict=False)
    buffers = {n for n, _ in new.named_buffers()}
    missing = [k for k in result.missing_keys if k not in buffers]
    if missing or result.unexpected_keys:
        raise RuntimeError(f"vocabulary adaptation lost tensors: missing {missing}, unexpected "
                           f"{result.unexpected_keys}")
    logger.info("adapted %s to the new vocabulary: %d token rows kept, %d initialised", path, adapted.kept,
                adapted.added)
    return new.eval()


# ----------------------------------------------------------------------------------------------- objective
class PretrainingObjective(nn.Module):
    """The trained module: a ``*ForPreTraining`` / ``*ForMaskedLM`` model whose forward returns the losses.

    ``forward(batch)`` with ``input_ids, attention_mask, token_type_ids, lm_label_ids`` (-100 = not predicted) and,
    for ``mlm_nsp``, ``is_next`` (1 = random next sentence, the NSP label) returns ``(loss, scalars)``: ``loss`` is
    the mean cross-entropy over the batch's masked tokens, plus the NSP cross-entropy with ``mlm_nsp``.
    """

    def __init__(self, model: nn.Module, target: str) -> None:
        super().__init__()
        if target not in TARGETS:
            raise UserError(f"unknown --target {target!r}; one of: {', '.join(TARGETS)}")
        self.model, self.target = model, target

    def forward(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        m = self.model
        base = getattr(m, m.base_model_prefix)
        out = base(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   token_type_ids=batch["token_type_ids"])
        labels = batch["lm_label_ids"]
        where = labels != -100
        logits = m.cls.predictions(out.last_hidden_state[where]).float()
        targets = labels[where]
        n = targets.numel()
        mlm_loss = F.cross_entropy(logits, targets, reduction="sum") / max(n, 1)
        with torch.no_grad():
            acc = (logits.argmax(-1) == targets).float().sum() / max(n, 1)
        scalars = {"mlm_loss": mlm_loss.detach(), "mlm_acc": acc}
        if self.target == "mlm":
            return mlm_loss, scalars
        nsp_logits = m.cls.seq_relationship(out.pooler_output).float()
        nsp_loss = F.cross_entropy(nsp_logits, batch["is_next"])
        scalars["nsp_loss"] = nsp_loss.detach()
        return mlm_loss + nsp_loss, scalars


def pretraining_step(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
    """The loss function the training loop calls (``model`` is the possibly DDP-wrapped objective)."""
    return model(batch)


# ----------------------------------------------------------------------------------------------- distributed
@dataclass
class UerDistributed:
    """UER-py's ``--world_size/--gpu_ranks/--master_ip`` and the torchrun command they correspond to."""

    world_size: int | None
    gpu_ranks: list[int] | None
    master_ip: str | None

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


# ----------------------------------------------------------------------------------------------- the recipe
def warmup_overrides(warmup: float | None) -> dict[str, Any]:
    """``--warmup``: a proportion of the steps when < 1, a number of steps when >= 1."""
    if warmup is None:
        return {}
    if warmup < 0:
        raise UserError(f"--warmup must be >= 0 (a proportion < 1 or a step count), got {warmup}")
    if warmup < 1:
        return {"warmup_proportion": float(warmup), "warmup_steps": 0}
    if warmup != int(warmup):
        raise UserError(f"--warmup {warmup}: a step count (>= 1) must be a whole number")
    return {"warmup_steps": int(warmup), "warmup_proportion": 0.0}


def run_pretraining(args: argparse.Namespace):
    """Pretrain (or continue pretraining) into ``args.output_dir`` (flags of ``tinybert pretrain``);
    return the loop's :class:`~tinybert.train.TrainResult`."""
    from tinybert.data.pregenerated import EpochPregeneratedData, collate_pretraining
    from tinybert.errors import require_dir
    from tinybert.models.checkpoint import position_limit, save_model
    from tinybert.models.tokenizer import load_tokenizer, read_vocab, vocab_path
    from tinybert.train import Trainer, TrainingArguments, check_output_dir

    UerDistributed(args.world_size, args.gpu_ranks, args.master_ip).check()
    if args.target not in TARGETS:
        raise UserError(f"unknown --target {args.target!r}; one of: {', '.join(TARGETS)}")
    targs = from_namespace(TrainingArguments, args, output_dir=args.output_dir, **warmup_overrides(args.warmup))
    check_output_dir(args.output_dir, args.overwrite_output_dir, args.resume)  # before any work
    require_dir(args.dataset_path, "pregenerated data directory (--dataset_path)")
    if args.pretrained_model_path:
        require_dir(args.pretrained_model_path, "model folder (--pretrained_model_path)")
    vocab_file = args.vocab_path or (vocab_path(args.pretrained_model_path) if args.pretrained_model_path else None)
    if vocab_file is None:
        raise UserError("--vocab_path is required (the vocab.txt the data was created with)")
    tokens = read_vocab(vocab_path(vocab_file))
    tokenizer = load_tokenizer(vocab_file, do_lower_case=args.do_lower_case)

    if args.pretrained_model_path:
        model = load_pretrained(args.pretrained_model_path, args.target, args.model_type, tokens, args.adapt_vocab,
                                args.seed)
        if args.config_path:  # UER passes both; the checkpoint's config decides, the given one must agree
            data, where = read_config(args.config_path, model.config.model_type)
            build_config(data, model.config.model_type, len(tokens), where,
                         against=f"the checkpoint {args.pretrained_model_path}")
            differ = [f"{f} {data[f]} vs {getattr(model.config, f)}" for f in ARCHITECTURE_FIELDS
                      if f in data and data[f] != getattr(model.config, f)]
            if differ:
                raise UserError.at(where, f"disagrees with {args.pretrained_model_path} ({'; '.join(differ)}); drop "
                                          "--config_path to continue from the checkpoint's own config")
        source = f"continuing from {args.pretrained_model_path}"
    else:
        if args.adapt_vocab:
            raise UserError("--adapt_vocab needs --pretrained_model_path (a model to adapt)")
        data, where = read_config(args.config_path or "base", args.model_type)
        model_type = args.model_type or config_model_type(data) or "nezha"
        config = build_config(data, model_type, len(tokens), where)
        model = new_model(config, args.target, args.seed)
        source = f"from scratch ({where})"
    config = model.config
    limit = position_limit(config)
    if limit is not None and args.max_seq_length > limit:
        raise UserError(f"--max_seq_length {args.max_seq_length} exceeds the model's max_position_embeddings "
                        f"{limit}")
    data = EpochPregeneratedData(args.dataset_path, tokens, args.max_seq_length, args.reduce_memory)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("pretraining %s %s, %dL/%dH/%d heads, %.1fM parameters, vocab %d, target %s, %d examples per epoch",
                config.model_type, source, config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                n_params / 1e6, config.vocab_size, args.target, len(data))

    def save(objective: PretrainingObjective, directory: str) -> None:
        save_model(objective.model, directory, tokenizer=tokenizer)

    trainer = Trainer(targs, PretrainingObjective(model, args.target), data, collate_pretraining, pretraining_step,
                      save_fn=save)
    result = trainer.train()
    logger.info("done: %d steps, %.1f samples/s, final loss %s; model in %s", result.global_step,
                result.samples_per_second, f"{result.loss:.4g}" if result.loss is not None else "-", args.output_dir)
    return result
