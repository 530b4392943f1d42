"""Masked-LM candidates for data augmentation: the top predictions at a masked word, for many words per forward.

:class:`MaskedLMCandidates` builds ``[CLS] sentence-with-the-word-masked [SEP] sentence [SEP]`` inputs (windowed
around the word when too long), runs them in length-sorted padded batches under ``torch.inference_mode()`` and applies
the vocabulary projection at the masked positions only; for plain BERT encoders the last layer is computed for the
masked positions only as well (checked against the full forward before use). The augmentation rules that use these
candidates live in :mod:`tinybert.data.augment`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from tinybert.errors import UserError, require_dir

logger = logging.getLogger(__name__)


def load_masked_lm(path: str | os.PathLike):
    """A BERT-family / NEZHA masked-LM from any folder the checkpoint module reads; no MLM head is a UserError."""
    from tinybert.models.checkpoint import load_model

    return load_model(require_dir(path, "masked-LM model folder"), head="mlm", require_head=True)


class MaskedLMCandidates:
    """Masked-LM candidates for single-piece words, computed in length-sorted padded batches."""

    def __init__(self, model: Any, tokenizer: Any, M: int, max_seq_length: int = 512, batch_size: int = 64,
                 device: str = "cpu", bf16: bool = False) -> None:
        import torch

        vocab = len(tokenizer)
        if model.config.vocab_size != vocab:
            raise UserError(f"the masked-LM has a vocabulary of {model.config.vocab_size} tokens but its tokenizer "
                            f"(vocab.txt) has {vocab}; they must come from the same model")
        self.model = model.to(device).eval()
        self.tok = tokenizer
        self.M = M
        self.device = torch.device(device)
        self.batch_size = batch_size
        limit = getattr(model.config, "max_position_embeddings", None) or max_seq_length
        self.max_len = max(5, min(max_seq_length, limit))
        self.use_types = (getattr(model.config, "type_vocab_size", 2) or 0) >= 2
        self.cls_id, self.sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.mask_id, self.pad_id = tokenizer.mask_token_id, tokenizer.pad_token_id or 0
        id_to_tok = tokenizer.convert_ids_to_tokens(list(range(vocab)))
        special = set(tokenizer.all_special_ids)
        # usable[i]: the token text if id i may be a candidate, else None
        self.usable: list[str | None] = [
            None if (i in special or t.startswith("##") or (t.startswith("[") and t.endswith("]"))) else t
            for i, t in enumerate(id_to_tok)
        ]
        base = getattr(model, getattr(model, "base_model_prefix", ""), None)
        head = getattr(getattr(model, "cls", None), "predictions", None)
        self._split = (base, head) if base is not None and head is not None else None
        self._bert_fast = self._split is not None and self._check_bert_fast()
        # the encoder under bfloat16 autocast (for GPUs and CPUs with AMX / AVX-512-BF16); with a separate MLM head
        # (BERT) the head and the top-M stay float32, so only near-ties among the candidates change order
        self.bf16 = bf16

    def build_input(self, ids: Sequence[int], k: int) -> tuple[list[int], list[int], int]:
        """Input ids, token types and mask position for masking piece ``k`` of a sentence's pieces ``ids``.

        ``[CLS] ids-with-k-masked [SEP] ids [SEP]``; when that exceeds the model's length both copies are cut to the
        same window of pieces around ``k``.
        """
        n = len(ids)
        if 2 * n + 3 > self.max_len:
            w = (self.max_len - 3) // 2
            start = min(max(0, k - w // 2), n - w)
            ids = ids[start:start + w]
            k -= start
            n = w
        masked = list(ids)
        masked[k] = self.mask_id
        input_ids = [self.cls_id, *masked, self.sep_id, *ids, self.sep_id]
        types = [0] * (n + 2) + [1] * (n + 1)
        return input_ids, types, k + 1

    def top_ids(self, jobs: Sequence[tuple[Sequence[int], int]]) -> list[list[int]]:
        """Top-``M`` vocabulary ids at the mask for each ``(sentence piece ids, piece index)`` job, in job order."""
        import torch

        built = [self.build_input(ids, k) for ids, k in jobs]
        order = sorted(range(len(built)), key=lambda j: len(built[j][0]))
        out: list[list[int]] = [[] for _ in built]
        batches: list[list[int]] = [[]]
        budget = self.batch_size * 128  # tokens per forward: long inputs go in smaller batches
        for j in order:  # ascending length, so the last one added sets the width
            if batches[-1] and (len(batches[-1]) >= self.batch_size
                                or (len(batches[-1]) + 1) * len(built[j][0]) > budget):
                batches.append([])
            batches[-1].append(j)
        for idx in batches:
            if not idx:
                continue
            width = max(len(built[j][0]) for j in idx)
            input_ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            types = torch.zeros((len(idx), width), dtype=torch.long)
            attn = torch.zeros((len(idx), width), dtype=torch.long)
            pos = torch.empty(len(idx), dtype=torch.long)
            for r, j in enumerate(idx):
                ids, tt, m = built[j]
                input_ids[r, : len(ids)] = torch.tensor(ids)
                types[r, : len(tt)] = torch.tensor(tt)
                attn[r, : len(ids)] = 1
                pos[r] = m
            for r, row in enumerate(self._forward(input_ids, types, attn, pos).tolist()):
                out[idx[r]] = row
        return out

    def _forward(self, input_ids, types, attn, pos):
        import torch

        kwargs = {"input_ids": input_ids.to(self.device), "attention_mask": attn.to(self.device)}
        if self.use_types:
            kwargs["token_type_ids"] = types.to(self.device)
        rows = torch.arange(len(pos), device=self.device)
        pos = pos.to(self.device)
        with torch.inference_mode():
            logits = self._masked_logits(kwargs, rows, pos, self._bert_fast, self.bf16)
            return logits.topk(min(self.M, logits.shape[-1]), dim=-1).indices.cpu()

    def _masked_logits(self, kwargs: dict, rows, pos, fast: bool, bf16: bool = False):
        """Vocabulary logits (float32) at the masked positions only (the projection is never applied elsewhere);
        ``bf16``: the encoder under bfloat16 autocast."""
        import torch

        low = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)
        if self._split is None:
            with low:
                return self.model(**kwargs).logits[rows, pos].float()
        base, head = self._split
        with low:
            hidden = (self._bert_masked_hidden(base, kwargs, rows, pos) if fast
                      else base(**kwargs).last_hidden_state[rows, pos])
        return head(hidden.float())

    @staticmethod
    def _bert_masked_hidden(base, kwargs: dict, rows, pos):
        """BERT's last hidden state at the masked positions, the last layer computed for those positions only.

        Layers before the last run in full; the last layer needs keys and values of every position but queries,
        attention output, feed-forward and LayerNorms only at the mask: about 1/6 of that layer's work.
        """
        import torch
        import torch.nn.functional as F

        h = base.embeddings(input_ids=kwargs["input_ids"], token_type_ids=kwargs.get("token_type_ids"))
        mask = (1.0 - kwargs["attention_mask"][:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
        layers = base.encoder.layer
        for layer in layers[:-1]:
            h = layer(h, mask)
            h = h[0] if isinstance(h, tuple) else h
        last = layers[-1]
        sa = last.attention.self
        b, t, _ = h.shape
        heads, d = sa.num_attention_heads, sa.attention_head_size
        x = h[rows, pos]
        q = sa.query(x).view(b, heads, 1, d)
        k = sa.key(h).view(b, t, heads, d).transpose(1, 2)
        v = sa.value(h).view(b, t, heads, d).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=d**-0.5).reshape(b, heads * d)
        a = last.attention.output(ctx, x)
        return last.output(last.intermediate(a), a)

    def _check_bert_fast(self) -> bool:
        """Use the last-layer shortcut only for plain BERT encoders, and only if it reproduces the full forward."""
        import torch

        base, _ = self._split  # type: ignore[misc]
        cfg = self.model.config
        if type(base).__name__ != "BertModel" or getattr(cfg, "is_decoder", False):
            return False
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(0, cfg.vocab_size, (3, 9), generator=g).to(self.device)
        attn = torch.ones_like(ids)
        attn[1, 6:] = 0
        kwargs = {"input_ids": ids, "attention_mask": attn}
        if self.use_types:
            kwargs["token_type_ids"] = torch.zeros_like(ids)
        rows = torch.arange(3, device=self.device)
        pos = torch.tensor([1, 4, 8], device=self.device)
        try:
            with torch.inference_mode():
                full = self._masked_logits(kwargs, rows, pos, False)
                fast = self._masked_logits(kwargs, rows, pos, True)
        except Exception as e:  # noqa: BLE001 - an unexpected BERT variant: fall back to the full forward
            logger.debug("last-layer shortcut unavailable: %s", e)
            return False
        ok = torch.allclose(full, fast, atol=1e-4, rtol=1e-4)
        if not ok:
            logger.debug("last-layer shortcut disagrees with the full forward; not used")
        return ok

    def words_from_ids(self, top: Sequence[int], own_id: int) -> list[str]:
        """Candidate words from top ids: continuation pieces, special tokens and the word itself dropped."""
        return [t for i in top if i != own_id and (t := self.usable[i]) is not None]
