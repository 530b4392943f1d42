"""Chunked inference passes: the same outputs as one pass, and the chunk-size rule."""

import torch
from transformers import BertConfig, BertForSequenceClassification

from tinybert.models.nezha import NezhaConfig, NezhaForSequenceClassification
from tinybert.models.view import CPU_CHUNK_BYTES, cpu_chunk_size, distill_forward


def _batch(b=5, t=9):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 60, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[1, 6:] = 0
    mask[4, 3:] = 0
    types = torch.zeros(b, t, dtype=torch.long)
    types[:, 4:] = 1
    return ids, mask, types


def _models():
    torch.manual_seed(0)
    kw = dict(vocab_size=60, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
              num_labels=3)
    yield BertForSequenceClassification(BertConfig(max_position_embeddings=32, **kw)).eval()
    yield NezhaForSequenceClassification(NezhaConfig(max_relative_position=8, **kw)).eval()


def test_chunked_pass_equals_one_pass_for_bert_and_nezha():
    ids, mask, types = _batch()
    for model in _models():
        with torch.inference_mode():
            whole = distill_forward(model, ids, mask, types, scores=[0, 2], hidden=True, logits=True)
            for chunk in (1, 2, 3):  # 3 leaves a short last chunk
                parts = distill_forward(model, ids, mask, types, scores=[0, 2], hidden=True, logits=True,
                                        chunk=chunk)
                assert parts.attention_scores[1] is None and whole.attention_scores[1] is None
                for a, b in zip(whole.hidden_states, parts.hidden_states, strict=True):
                    assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
                for i in (0, 2):
                    assert torch.allclose(whole.attention_scores[i], parts.attention_scores[i], atol=1e-5)
                assert torch.allclose(whole.logits, parts.logits, atol=1e-5)


def test_cpu_chunk_size_keeps_the_ffn_activation_near_the_budget():
    cfg = BertConfig(hidden_size=256, intermediate_size=1024)
    # one sequence of 128 tokens: 128 * 1024 floats = 512 KiB; 4 MiB holds 8 of them
    assert CPU_CHUNK_BYTES == 4 * 2**20
    assert cpu_chunk_size(cfg, 32, 128, "cpu") == 8
    assert cpu_chunk_size(cfg, 4, 128, "cpu") == 4  # never more than the batch
    assert cpu_chunk_size(BertConfig(hidden_size=768, intermediate_size=3072), 32, 512, "cpu") == 1  # at least 1
    assert cpu_chunk_size(cfg, 32, 128, "cuda") == 32  # GPUs take the whole batch
