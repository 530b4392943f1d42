"""NEZHA: relative-position math against loop implementations, score capture, heads, save/load, dtypes."""

import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

import tinybert.models  # noqa: F401 - registers NEZHA with the Auto classes
from tinybert.errors import UserError
from tinybert.models import nezha as nz
from tinybert.models.nezha import (
    NezhaConfig,
    NezhaForMaskedLM,
    NezhaForMultipleChoice,
    NezhaForPreTraining,
    NezhaForQuestionAnswering,
    NezhaForSequenceClassification,
    NezhaForTokenClassification,
    NezhaModel,
)

VOCAB, HIDDEN, HEADS, K, L = 50, 32, 4, 4, 10  # L > K + 1 so distances get clipped on both sides
HEAD_DIM = HIDDEN // HEADS


def tiny_config(**overrides) -> NezhaConfig:
    fields = dict(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=HEADS,
        intermediate_size=64,
        max_relative_position=K,
        max_position_embeddings=64,
    )
    fields.update(overrides)
    return NezhaConfig(**fields)


def batch(batch_size: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, VOCAB, (batch_size, L), generator=g)
    attention_mask = torch.ones(batch_size, L, dtype=torch.long)
    attention_mask[-1, 6:] = 0  # the last example is padded
    input_ids[-1, 6:] = 0
    token_type_ids = torch.zeros(batch_size, L, dtype=torch.long)
    token_type_ids[:, 5:] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def loop_table(k: int, depth: int) -> list[list[float]]:
    """The sinusoid table, written as the NEZHA paper describes it."""
    table = [[0.0] * depth for _ in range(2 * k + 1)]
    for pos in range(2 * k + 1):
        for i in range(depth // 2):
            table[pos][2 * i] = math.sin(pos / 10000 ** (2 * i / depth))
            table[pos][2 * i + 1] = math.cos(pos / 10000 ** (2 * i / depth))
    return table


def loop_relative(seq_len: int, k: int, depth: int) -> torch.Tensor:
    table = loop_table(k, depth)
    rel = torch.zeros(seq_len, seq_len, depth, dtype=torch.float64)
    for i in range(seq_len):
        for j in range(seq_len):
            rel[i, j] = torch.tensor(table[min(max(j - i, -k), k) + k], dtype=torch.float64)
    return rel


def roughen(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Re-draw every parameter with a large spread so attention is far from uniform and biases matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model


# ---------------------------------------------------------------------------------------------------------------------
# Relative-position math


def test_relative_position_table_and_gather_match_loops() -> None:
    model = NezhaModel(tiny_config())
    expected = torch.tensor(loop_table(K, HEAD_DIM), dtype=torch.float64)
    buffer = model.encoder.relative_positions_encoding.positions_encoding
    assert buffer.shape == (2 * K + 1, HEAD_DIM)
    torch.testing.assert_close(buffer.double(), expected, rtol=0, atol=1e-6)

    rel = model.encoder.relative_positions_encoding(L)
    assert rel.shape == (L, L, HEAD_DIM)
    torch.testing.assert_close(rel.double(), loop_relative(L, K, HEAD_DIM), rtol=0, atol=1e-6)
    # [i, j] = clip(j - i, -K, K) + K: spot checks by hand
    index = nz.relative_position_index(L, K)
    assert index[0, 0] == K and index[0, 1] == K + 1 and index[3, 0] == K - 3 and index[0, 9] == 2 * K
    assert index[9, 0] == 0


def loop_self_attention(attn: nz.NezhaSelfAttention, x: torch.Tensor, mask01: torch.Tensor):
    """Reference NEZHA self-attention: explicit loops over batch, heads, queries and keys (float64)."""
    x = x.double()
    wq, bq = attn.query.weight.double(), attn.query.bias.double()
    wk, bk = attn.key.weight.double(), attn.key.bias.double()
    wv, bv = attn.value.weight.double(), attn.value.bias.double()
    q, k, v = x @ wq.T + bq, x @ wk.T + bk, x @ wv.T + bv
    rel = loop_relative(x.shape[1], K, HEAD_DIM)
    neg = torch.finfo(torch.float64).min
    b_size, seq_len, _ = x.shape
    scores = torch.zeros(b_size, HEADS, seq_len, seq_len, dtype=torch.float64)
    context = torch.zeros(b_size, seq_len, HIDDEN, dtype=torch.float64)
    for b in range(b_size):
        for h in range(HEADS):
            cols = slice(h * HEAD_DIM, (h + 1) * HEAD_DIM)
            for i in range(seq_len):
                for j in range(seq_len):
                    s = torch.dot(q[b, i, cols], k[b, j, cols] + rel[i, j]) / math.sqrt(HEAD_DIM)
                    scores[b, h, i, j] = s + (0.0 if mask01[b, j] else neg)
                probs = torch.softmax(scores[b, h, i], dim=-1)
                for j in range(seq_len):
                    context[b, i, cols] += probs[j] * (v[b, j, cols] + rel[i, j])
    return scores, context


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_self_attention_matches_loop_implementation(dtype: torch.dtype) -> None:
    model = roughen(NezhaModel(tiny_config())).eval().to(dtype)
    attn = model.encoder.layer[0].attention.self
    inputs = batch()
    x = torch.randn(2, L, HIDDEN, generator=torch.Generator().manual_seed(1), dtype=dtype)
    mask = nz.extended_attention_mask(inputs["attention_mask"], dtype)
    rel = model.encoder.relative_positions_encoding(L, dtype=dtype)

    attn.score_sink = []
    context, probs = attn(x, mask, relative_positions=rel)
    want_scores, want_context = loop_self_attention(attn, x, inputs["attention_mask"])

    torch.testing.assert_close(context.double(), want_context, rtol=1e-5, atol=1e-5)
    real = inputs["attention_mask"].bool()[:, None, None, :].expand_as(want_scores)
    torch.testing.assert_close(attn.score_sink[0].double()[real], want_scores[real], rtol=1e-5, atol=1e-5)
    assert (attn.score_sink[0][~real] <= torch.finfo(dtype).min / 2).all()
    assert (probs[~real] == 0).all()
    # Dropping the value term must break agreement: the reference really checks P·R.
    v = (x.double() @ attn.value.weight.double().T + attn.value.bias.double()).view(2, L, HEADS, HEAD_DIM)
    no_value_term = (probs.double() @ v.transpose(1, 2)).transpose(1, 2).reshape(2, L, HIDDEN)
    assert (no_value_term - want_context).abs().max() > 1e-2


def test_score_sink_collects_masked_pre_softmax_scores() -> None:
    model = roughen(NezhaModel(tiny_config())).eval()
    inputs = batch()
    sinks = []
    for layer in model.encoder.layer:
        layer.attention.self.score_sink = sink = []
        sinks.append(sink)
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True, output_attentions=True)

    assert len(out.hidden_states) == 3 and len(out.attentions) == 2
    torch.testing.assert_close(out.hidden_states[-1], out.last_hidden_state)
    rel = loop_relative(L, K, HEAD_DIM).float()
    padded = inputs["attention_mask"] == 0
    for n, layer in enumerate(model.encoder.layer):
        (scores,) = sinks[n]
        assert scores.shape == (2, HEADS, L, L)
        attn = layer.attention.self
        x = out.hidden_states[n]  # the input of layer n
        q = (x @ attn.query.weight.T + attn.query.bias).view(2, L, HEADS, HEAD_DIM).transpose(1, 2)
        k = (x @ attn.key.weight.T + attn.key.bias).view(2, L, HEADS, HEAD_DIM).transpose(1, 2)
        q_rel = (q.unsqueeze(3) * rel).sum(-1)  # [b, h, i, j] = q_i · R_ij
        mask = torch.zeros(2, 1, 1, L).masked_fill(padded[:, None, None, :], torch.finfo(torch.float32).min)
        expected = (q @ k.transpose(-1, -2) + q_rel) / math.sqrt(HEAD_DIM) + mask
        torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)
        # output_attentions returns the post-softmax probabilities of the same scores
        torch.testing.assert_close(out.attentions[n], torch.softmax(scores, dim=-1), rtol=1e-5, atol=1e-6)

    # hidden_states[0] is the embedding output: LayerNorm(word + token type), no absolute positions
    emb = model.embeddings
    raw = emb.word_embeddings.weight[inputs["input_ids"]] + emb.token_type_embeddings.weight[inputs["token_type_ids"]]
    expected_emb = F.layer_norm(raw, (HIDDEN,), emb.LayerNorm.weight, emb.LayerNorm.bias, eps=1e-12)
    torch.testing.assert_close(out.hidden_states[0], expected_emb, rtol=1e-5, atol=1e-5)

    for layer in model.encoder.layer:  # with the sink off nothing is kept
        layer.attention.self.score_sink = None
    with torch.no_grad():
        model(**inputs)
    assert all(len(s) == 1 for s in sinks)


def test_no_absolute_positions_shift_equivariance() -> None:
    """Only relative positions: prefixing masked tokens shifts the real ones but leaves their outputs unchanged."""
    model = roughen(NezhaModel(tiny_config())).eval()
    ids = torch.randint(1, VOCAB, (1, 6), generator=torch.Generator().manual_seed(3))
    shifted = torch.cat([torch.randint(1, VOCAB, (1, 3)), ids], dim=1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        a = model(ids).last_hidden_state
        b = model(shifted, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(a, b[:, 3:], rtol=1e-5, atol=1e-5)
    assert not any("position_embeddings" in key for key in model.state_dict())


# ---------------------------------------------------------------------------------------------------------------------
# Heads, losses


def test_every_head_gives_a_finite_loss() -> None:
    inputs = batch()
    g = torch.Generator().manual_seed(5)
    mlm_labels = torch.full((2, L), -100)
    mlm_labels[:, 2] = 7
    qa_labels = {"start_positions": torch.tensor([1, 3]), "end_positions": torch.tensor([2, 9])}
    cases = [
        (NezhaForPreTraining, {}, {"labels": mlm_labels, "next_sentence_label": torch.tensor([0, 1])}),
        (NezhaForMaskedLM, {}, {"labels": mlm_labels}),
        (NezhaForSequenceClassification, {"num_labels": 3}, {"labels": torch.tensor([0, 2])}),
        (NezhaForSequenceClassification, {"num_labels": 1}, {"labels": torch.tensor([0.5, -1.0])}),
        (NezhaForSequenceClassification, {"num_labels": 3}, {"labels": torch.tensor([[1.0, 0, 1], [0, 1, 0]])}),
        (NezhaForTokenClassification, {"num_labels": 5}, {"labels": torch.randint(0, 5, (2, L), generator=g)}),
        (NezhaForQuestionAnswering, {}, qa_labels),
    ]
    for cls, config_kwargs, labels in cases:
        model = cls(tiny_config(**config_kwargs))
        out = model(**inputs, **labels)
        assert torch.isfinite(out.loss), cls.__name__
        out.loss.backward()

    mc = NezhaForMultipleChoice(tiny_config())
    choices = {k: v.unsqueeze(1).expand(-1, 3, -1).contiguous() for k, v in inputs.items()}
    out = mc(**choices, labels=torch.tensor([1, 2]))
    assert out.logits.shape == (2, 3) and torch.isfinite(out.loss)


def test_head_losses_match_hand_computation() -> None:
    inputs = batch()
    clf = NezhaForSequenceClassification(tiny_config(num_labels=3)).eval()
    labels = torch.tensor([2, 0])
    out = clf(**inputs, labels=labels)
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, labels))
    assert clf.config.problem_type == "single_label_classification"

    reg = NezhaForSequenceClassification(tiny_config(num_labels=1)).eval()
    target = torch.tensor([0.5, -1.0])
    out = reg(**inputs, labels=target)
    assert reg.config.problem_type == "regression"
    torch.testing.assert_close(out.loss, ((out.logits.squeeze(-1) - target) ** 2).mean())

    pre = NezhaForPreTraining(tiny_config()).eval()
    mlm_labels = torch.full((2, L), -100)
    mlm_labels[0, 1], mlm_labels[1, 4] = 9, 11
    nsp = torch.tensor([1, 0])
    out = pre(**inputs, labels=mlm_labels, next_sentence_label=nsp)
    logits = out.prediction_logits
    want = F.cross_entropy(torch.stack([logits[0, 1], logits[1, 4]]), torch.tensor([9, 11]))
    want = want + F.cross_entropy(out.seq_relationship_logits, nsp)
    torch.testing.assert_close(out.loss, want)

    qa = NezhaForQuestionAnswering(tiny_config()).eval()
    out = qa(**inputs, start_positions=torch.tensor([1, 99]), end_positions=torch.tensor([2, 3]))
    start = F.cross_entropy(out.start_logits[:1], torch.tensor([1]))  # position 99 is out of range: ignored
    end = F.cross_entropy(out.end_logits, torch.tensor([2, 3]))
    torch.testing.assert_close(out.loss, (start + end) / 2)


def test_mlm_decoder_is_tied_to_word_embeddings(tmp_path) -> None:
    for cls in (NezhaForMaskedLM, NezhaForPreTraining):
        model = cls(tiny_config())
        assert model.cls.predictions.decoder.weight is model.nezha.embeddings.word_embeddings.weight
        assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
        model.save_pretrained(tmp_path / cls.__name__)
        loaded = cls.from_pretrained(tmp_path / cls.__name__)
        assert loaded.cls.predictions.decoder.weight is loaded.nezha.embeddings.word_embeddings.weight
        torch.testing.assert_close(loaded.nezha.embeddings.word_embeddings.weight, model.get_input_embeddings().weight)


# ---------------------------------------------------------------------------------------------------------------------
# Config, save / load


def test_config_fields_round_trip_and_user_error(tmp_path) -> None:
    default = NezhaConfig()
    assert (default.vocab_size, default.hidden_size, default.max_relative_position) == (21128, 768, 64)
    assert (default.pad_token_id, default.bos_token_id, default.eos_token_id) == (0, 2, 3)
    assert default.classifier_dropout == 0.1 and default.use_relative_position is True

    config = tiny_config(use_relative_position=True, num_labels=3)
    config.save_pretrained(tmp_path)
    again = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(again, NezhaConfig) and again.max_relative_position == K and again.num_labels == 3
    assert again.use_relative_position is True

    with pytest.raises(UserError, match="hidden_size \\(30\\).*num_attention_heads \\(4\\)") as err:
        NezhaConfig(hidden_size=30, num_attention_heads=4)
    assert "\n" not in str(err.value)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "nezha", "hidden_size": 30, "num_attention_heads": 4}')
    with pytest.raises(UserError):
        AutoConfig.from_pretrained(bad)
    with pytest.raises(UserError, match="use_relative_position"):
        NezhaModel(tiny_config(use_relative_position=False))


def test_auto_classes_round_trip(tmp_path, caplog) -> None:
    inputs = batch()
    model = roughen(NezhaForSequenceClassification(tiny_config(num_labels=3))).eval()
    model.save_pretrained(tmp_path)

    with caplog.at_level("WARNING"):
        loaded, info = AutoModelForSequenceClassification.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(loaded, NezhaForSequenceClassification)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")], caplog.text
    base, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(base, NezhaModel) and not info["missing_keys"]
    assert info["unexpected_keys"] == {"classifier.weight", "classifier.bias"}  # the head, as with BERT
    # The non-persistent table is rebuilt from the config after meta-device loading.
    torch.testing.assert_close(
        base.encoder.relative_positions_encoding.positions_encoding.double(),
        torch.tensor(loop_table(K, HEAD_DIM), dtype=torch.float64),
        rtol=0,
        atol=1e-6,
    )
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)
        torch.testing.assert_close(
            base.eval()(**inputs).last_hidden_state, model.nezha(**inputs).last_hidden_state, rtol=0, atol=0
        )

    for auto_cls, cls in (
        (AutoModelForPreTraining, NezhaForPreTraining),
        (AutoModelForMaskedLM, NezhaForMaskedLM),
        (AutoModelForTokenClassification, NezhaForTokenClassification),
        (AutoModelForQuestionAnswering, NezhaForQuestionAnswering),
        (AutoModelForMultipleChoice, NezhaForMultipleChoice),
    ):
        assert isinstance(auto_cls.from_config(tiny_config()), cls)
    nz._register_auto_classes()  # registering twice is harmless


@pytest.mark.parametrize("cls", [NezhaForMaskedLM, NezhaForSequenceClassification, NezhaModel])
def test_stored_positions_encoding_keys_are_ignored(tmp_path, cls) -> None:
    """transformers-4.x NEZHA checkpoints carry a per-layer table buffer; loading skips it, garbage or not."""
    inputs = batch()
    model = roughen(cls(tiny_config())).eval()
    prefix = "" if cls is NezhaModel else "nezha."
    state = {k: v.clone().contiguous() for k, v in model.state_dict().items()}  # 4.x style: decoder keys included
    for n in range(2):
        key = f"{prefix}encoder.layer.{n}.attention.self.relative_positions_encoding.positions_encoding"
        state[key] = torch.full((L, L, HEAD_DIM), 123.0)
    model.config.save_pretrained(tmp_path)
    save_file(state, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})

    loaded, info = cls.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    with torch.no_grad():
        got, want = loaded.eval()(**inputs), model(**inputs)
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=0)
    if cls is NezhaForMaskedLM:
        assert loaded.cls.predictions.decoder.weight is loaded.nezha.embeddings.word_embeddings.weight


# ---------------------------------------------------------------------------------------------------------------------
# Dtypes, modes


def test_bf16_and_autocast_forward() -> None:
    inputs = batch()
    model = roughen(NezhaForSequenceClassification(tiny_config(num_labels=2))).eval()
    with torch.no_grad():
        ref = model(**inputs).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = model(**inputs).logits
        model.to(torch.bfloat16)
        attn = model.nezha.encoder.layer[0].attention.self
        attn.score_sink = []
        out = model(**inputs, output_hidden_states=True)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.logits).all()
    assert attn.score_sink[0].dtype == torch.bfloat16
    assert all(h.dtype == torch.bfloat16 for h in out.hidden_states)
    torch.testing.assert_close(out.logits.float(), ref, rtol=0, atol=0.15)
    torch.testing.assert_close(auto.float(), ref, rtol=0, atol=0.15)


def test_inference_mode_cache_does_not_poison_training_and_tuple_output() -> None:
    inputs = batch()
    model = NezhaForSequenceClassification(tiny_config(num_labels=2))
    with torch.inference_mode():
        model.eval()(**inputs)
    model.train()
    out = model(**inputs, labels=torch.tensor([0, 1]))
    out.loss.backward()
    assert model.nezha.embeddings.word_embeddings.weight.grad is not None

    model.gradient_checkpointing_enable()
    model.zero_grad()
    model(**inputs, labels=torch.tensor([0, 1])).loss.backward()
    assert torch.isfinite(model.classifier.weight.grad).all()

    logits = model.eval()(**inputs, return_dict=False)
    assert isinstance(logits, tuple) and logits[0].shape == (2, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_cuda_forward_matches_cpu(dtype: torch.dtype) -> None:
    inputs = batch()
    model = NezhaForPreTraining(tiny_config()).eval()
    with torch.no_grad():
        ref = model(**inputs).prediction_logits
        model.to("cuda", dtype)
        out = model(**{k: v.cuda() for k, v in inputs.items()}).prediction_logits
    assert out.dtype == dtype and out.device.type == "cuda"
    torch.testing.assert_close(out.float().cpu(), ref, rtol=0, atol=1e-4 if dtype == torch.float32 else 0.1)
