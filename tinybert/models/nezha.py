"""NEZHA (Wei et al., 2019) as a Hugging Face ``transformers`` v5 model.

transformers v5 dropped NEZHA, so it lives here, with the config fields and state-dict keys of the NEZHA that
transformers 4.x shipped (``nezha.*`` for the encoder, ``cls.*`` for the pretraining heads), so that 4.x checkpoints
load unchanged. Importing this module registers ``model_type="nezha"`` with the Auto classes.

NEZHA is BERT without absolute position embeddings: every self-attention layer adds *functional relative position
encodings* to its keys and values. With ``K = config.max_relative_position`` and head size ``d``:

* the relative distance of query ``i`` to key ``j`` is ``clip(j - i, -K, K) + K`` (a row index in ``0..2K``);
* ``table`` is a fixed ``(2K+1, d)`` sinusoid: ``table[p, 2m] = sin(p / 10000^(2m/d))``, ``table[p, 2m+1] = cos(...)``;
* ``R[i, j] = table[clip(j - i, -K, K) + K]`` (an ``(L, L, d)`` tensor, gathered once per sequence length, device and
  dtype, cached, and shared by all layers);
* ``scores = (Q·Kᵀ + Q·R_ijᵀ) / sqrt(d) + mask`` and ``context = P·V + P·R`` with ``P = dropout(softmax(scores))``.

Additive mask convention: ``attention_mask`` is a 2D ``(batch, key)`` (or 3D ``(batch, query, key)``) 0/1 tensor,
1 for real tokens; it becomes ``0`` for real tokens and ``torch.finfo(dtype).min`` for padding, the same convention as
transformers' own BERT (so the distillation view sees one convention for both families).

Capturing pre-softmax scores (for TinyBERT's attention loss): every :class:`NezhaSelfAttention` has an attribute
``score_sink: list | None`` (``None`` by default). When it is a list, each forward appends the pre-softmax scores of
shape ``(batch, heads, query, key)``, mask included, to it. :meth:`NezhaSelfAttention.attention_scores` computes them
on its own for anyone who needs them without running the rest of the layer. Under gradient checkpointing the
recomputation during backward appends again, so clear the sink after ``backward`` if you use both.
``output_attentions=True`` returns post-softmax probabilities (before dropout) as BERT does, and
``output_hidden_states=True`` returns ``num_hidden_layers + 1`` tensors, the embedding output first.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForMultipleChoice,
    AutoModelForPreTraining,
    AutoModelForQuestionAnswering,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import capture_outputs

from tinybert.errors import UserError

__all__ = [
    "NezhaConfig",
    "NezhaForMaskedLM",
    "NezhaForMultipleChoice",
    "NezhaForPreTraining",
    "NezhaForPreTrainingOutput",
    "NezhaForQuestionAnswering",
    "NezhaForSequenceClassification",
    "NezhaForTokenClassification",
    "NezhaModel",
    "NezhaPreTrainedModel",
    "NezhaSelfAttention",
    "extended_attention_mask",
    "relative_position_index",
    "relative_position_table",
]


def _check_heads(hidden_size: int, num_attention_heads: int) -> None:
    if num_attention_heads <= 0 or hidden_size % num_attention_heads != 0:
        raise UserError(
            f"NEZHA config: hidden_size ({hidden_size}) must be a positive multiple of num_attention_heads "
            f"({num_attention_heads})"
        )


class NezhaConfig(PreTrainedConfig):
    """Configuration of a NEZHA model; the fields and defaults of transformers 4.x ``NezhaConfig`` (Chinese base).

    ``use_relative_position`` is kept because NEZHA-PyTorch ``bert_config.json`` files carry it; only ``True`` is
    supported (``False`` means absolute position embeddings, i.e. a plain BERT model).
    """

    model_type = "nezha"

    vocab_size: int = 21128
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    max_relative_position: int = 64
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    classifier_dropout: float | None = 0.1
    pad_token_id: int | None = 0
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    use_cache: bool = True
    use_relative_position: bool = True
    tie_word_embeddings: bool = True

    def __post_init__(self, **kwargs) -> None:
        _check_heads(self.hidden_size, self.num_attention_heads)
        super().__post_init__(**kwargs)


# ---------------------------------------------------------------------------------------------------------------------
# Relative positions and masks


def relative_position_table(max_relative_position: int, depth: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The fixed ``(2K+1, depth)`` sinusoid table: row ``p`` (a shifted distance), even columns ``sin``, odd ``cos``.

    Column ``c`` uses frequency ``1 / 10000^(2*(c//2)/depth)``. Computed in float64 so every dtype gets the same
    correctly rounded values.
    """
    positions = torch.arange(2 * max_relative_position + 1, dtype=torch.float64)[:, None]
    columns = torch.arange(depth)
    inv_freq = torch.pow(10000.0, -(2 * (columns // 2)).to(torch.float64) / depth)
    angles = positions * inv_freq
    table = torch.where(columns % 2 == 0, torch.sin(angles), torch.cos(angles))
    return table.to(dtype)


def relative_position_index(
    seq_len: int, max_relative_position: int, device: torch.device | None = None
) -> torch.Tensor:
    """``(L, L)`` long tensor with ``[i, j] = clip(j - i, -K, K) + K``."""
    pos = torch.arange(seq_len, device=device)
    return (pos[None, :] - pos[:, None]).clamp(-max_relative_position, max_relative_position) + max_relative_position


def extended_attention_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Turn a 0/1 (or bool) mask into the additive mask: 0 where attended, ``torch.finfo(dtype).min`` elsewhere.

    2D ``(batch, key)`` masks become ``(batch, 1, 1, key)``; 3D ``(batch, query, key)`` masks ``(batch, 1, query,
    key)``. A 4D mask is taken as already additive.
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() == 4:
        return attention_mask.to(dtype)
    if attention_mask.dim() == 2:
        attention_mask = attention_mask[:, None, None, :]
    elif attention_mask.dim() == 3:
        attention_mask = attention_mask[:, None, :, :]
    else:
        raise ValueError(f"attention_mask must have 2, 3 or 4 dimensions, got shape {tuple(attention_mask.shape)}")
    zero = torch.zeros((), dtype=dtype, device=attention_mask.device)
    neg = torch.full((), torch.finfo(dtype).min, dtype=dtype, device=attention_mask.device)
    return torch.where(attention_mask.bool(), zero, neg)


class NezhaRelativePositionsEncoding(nn.Module):
    """Holds the sinusoid table (a non-persistent buffer) and serves the gathered ``(L, L, d)`` tensor ``R``.

    One instance per encoder, shared by all layers: ``R`` for L=512, d=64 is 64 MiB in fp32, so it is built once per
    ``(seq_len, device, dtype)`` and cached (a few entries at most) rather than once per layer.
    """

    _max_cache_entries = 4

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.max_relative_position = config.max_relative_position
        self.depth = config.hidden_size // config.num_attention_heads
        self.register_buffer(
            "positions_encoding", relative_position_table(self.max_relative_position, self.depth), persistent=False
        )
        self._cache: dict[tuple, torch.Tensor] = {}

    def clear_cache(self) -> None:
        self._cache.clear()

    def _apply(self, fn, recurse: bool = True):
        self.clear_cache()  # .to()/.cuda()/.half() replace the buffer
        return super()._apply(fn, recurse)

    def forward(self, seq_len: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``R`` of shape ``(seq_len, seq_len, d)`` in ``dtype`` (default: the buffer's), on the buffer's device."""
        table = self.positions_encoding
        dtype = dtype or table.dtype
        inference = torch.is_inference_mode_enabled()
        # A tensor made under inference_mode cannot be used by autograd later, so the mode is part of the key.
        key = (seq_len, table.device, dtype, inference)
        rel = self._cache.get(key)
        if rel is None:
            with torch.no_grad():
                index = relative_position_index(seq_len, self.max_relative_position, table.device)
                rel = table.to(dtype)[index]
            if len(self._cache) >= self._max_cache_entries:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = rel
        return rel


# ---------------------------------------------------------------------------------------------------------------------
# Encoder


class NezhaEmbeddings(nn.Module):
    """Word + token-type embeddings, LayerNorm, dropout; no absolute positions (they are relative, in attention)."""

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros(inputs_embeds.shape[:-1], dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


class NezhaSelfAttention(nn.Module):
    """Multi-head self-attention with NEZHA's relative positions on keys and values.

    Set ``score_sink`` to a list to collect the pre-softmax scores ``(batch, heads, q, k)`` (mask included) of every
    forward; leave it ``None`` (the default) to collect nothing.
    """

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        _check_heads(config.hidden_size, config.num_attention_heads)
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.scaling = self.attention_head_size**-0.5

        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.score_sink: list[torch.Tensor] | None = None

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def attention_scores(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None,
        relative_positions: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pre-softmax scores ``(Q·Kᵀ + Q·Rᵀ)/sqrt(d) + mask``, the value heads, and ``R`` in the compute dtype.

        ``attention_mask`` is additive (see :func:`extended_attention_mask`) or ``None``; ``relative_positions`` is
        the ``(L, L, d)`` tensor ``R`` from the encoder's :class:`NezhaRelativePositionsEncoding`.
        """
        query = self._heads(self.query(hidden_states))
        key = self._heads(self.key(hidden_states))
        value = self._heads(self.value(hidden_states))
        rel = relative_positions if relative_positions.dtype == query.dtype else relative_positions.to(query.dtype)

        scores = torch.matmul(query, key.transpose(-1, -2))
        scores = scores + torch.einsum("bhid,ijd->bhij", query, rel)
        scores = scores * self.scaling
        if attention_mask is not None:
            scores = scores + attention_mask
        return scores, value, rel

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        relative_positions: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(context (batch, L, hidden), probabilities (batch, heads, L, L))``."""
        if relative_positions is None:
            raise ValueError("NezhaSelfAttention needs relative_positions (the encoder passes them)")
        scores, value, rel = self.attention_scores(hidden_states, attention_mask, relative_positions)
        if self.score_sink is not None:
            self.score_sink.append(scores)
        # Softmax in fp32: bf16/fp16 scores lose too much in the exponent sum.
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
        dropped = self.dropout(probs)
        context = torch.matmul(dropped, value) + torch.einsum("bhij,ijd->bhid", dropped, rel)
        batch, _, seq_len, _ = context.shape
        context = context.transpose(1, 2).reshape(batch, seq_len, self.all_head_size)
        return context, probs


class NezhaSelfOutput(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class NezhaAttention(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.self = NezhaSelfAttention(config)
        self.output = NezhaSelfOutput(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        relative_positions: torch.Tensor | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context, probs = self.self(hidden_states, attention_mask, relative_positions=relative_positions, **kwargs)
        return self.output(context, hidden_states), probs


class NezhaIntermediate(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        act = config.hidden_act
        self.intermediate_act_fn = ACT2FN[act] if isinstance(act, str) else act

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class NezhaOutput(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class NezhaLayer(GradientCheckpointingLayer):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.attention = NezhaAttention(config)
        self.intermediate = NezhaIntermediate(config)
        self.output = NezhaOutput(config)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        relative_positions: torch.Tensor | None = None,
        **kwargs,
    ) -> torch.Tensor:
        attention_output, _ = self.attention(hidden_states, attention_mask, relative_positions=relative_positions)
        return self.output(self.intermediate(attention_output), attention_output)


class NezhaEncoder(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.config = config
        self.relative_positions_encoding = NezhaRelativePositionsEncoding(config)
        self.layer = nn.ModuleList([NezhaLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(
        self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs
    ) -> BaseModelOutput:
        device_type = hidden_states.device.type
        if torch.is_autocast_enabled(device_type):
            compute_dtype = torch.get_autocast_dtype(device_type)
        else:
            compute_dtype = hidden_states.dtype
        rel = self.relative_positions_encoding(hidden_states.shape[1], dtype=compute_dtype)
        for layer in self.layer:
            # hidden_states positional: gradient checkpointing and the hidden-state capture hook both rely on it.
            hidden_states = layer(hidden_states, attention_mask, relative_positions=rel, **kwargs)
        return BaseModelOutput(last_hidden_state=hidden_states)


class NezhaPooler(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


# ---------------------------------------------------------------------------------------------------------------------
# Heads


class NezhaPredictionHeadTransform(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        act = config.hidden_act
        self.transform_act_fn = ACT2FN[act] if isinstance(act, str) else act
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class NezhaLMPredictionHead(nn.Module):
    """Transform + decoder; the decoder weight is tied to the word embeddings, its bias to ``bias``."""

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.transform = NezhaPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class NezhaOnlyMLMHead(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.predictions = NezhaLMPredictionHead(config)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.predictions(sequence_output)


class NezhaPreTrainingHeads(nn.Module):
    def __init__(self, config: NezhaConfig) -> None:
        super().__init__()
        self.predictions = NezhaLMPredictionHead(config)
        self.seq_relationship = nn.Linear(config.hidden_size, 2)

    def forward(self, sequence_output: torch.Tensor, pooled_output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.predictions(sequence_output), self.seq_relationship(pooled_output)


class NezhaPreTrainedModel(PreTrainedModel):
    """Shared init, weight loading rules and output capture for all NEZHA models."""

    config_class = NezhaConfig
    config: NezhaConfig
    base_model_prefix = "nezha"
    supports_gradient_checkpointing = True
    _no_split_modules = ["NezhaEmbeddings", "NezhaLayer"]
    # transformers 4.x stored the sinusoid table as a persistent buffer in every layer; it is derived from the config.
    _keys_to_ignore_on_load_unexpected = [r"positions_encoding"]
    _can_record_outputs = {"hidden_states": NezhaLayer, "attentions": NezhaSelfAttention}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, NezhaLMPredictionHead):
            init.zeros_(module.bias)
        elif isinstance(module, NezhaRelativePositionsEncoding):
            # Non-persistent buffer: models built on the meta device (from_pretrained) get their table here.
            table = relative_position_table(module.max_relative_position, module.depth)
            init.copy_(module.positions_encoding, table.to(module.positions_encoding.dtype))
            module.clear_cache()

    def _encode(self, input_ids, attention_mask, token_type_ids, inputs_embeds, **kwargs):
        """The heads' call of their encoder (``self.nezha``), with a dict-like output."""
        return self.nezha(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                          inputs_embeds=inputs_embeds, return_dict=True, **kwargs)


@dataclass
class NezhaForPreTrainingOutput(ModelOutput):
    """Output of :class:`NezhaForPreTraining`: MLM + NSP loss (when labels are given) and both heads' logits."""

    loss: torch.Tensor | None = None
    prediction_logits: torch.Tensor | None = None
    seq_relationship_logits: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


class NezhaModel(NezhaPreTrainedModel):
    """The bare NEZHA encoder: embeddings, relative-position transformer layers and (optionally) the pooler."""

    def __init__(self, config: NezhaConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        if not getattr(config, "use_relative_position", True):
            raise UserError(
                "NEZHA config: use_relative_position=false means absolute position embeddings; load it as BERT"
            )
        self.embeddings = NezhaEmbeddings(config)
        self.encoder = NezhaEncoder(config)
        self.pooler = NezhaPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        """Encode; ``attention_mask`` is 1 for real tokens and 0 for padding (see the module docstring)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        embedding_output = self.embeddings(input_ids, token_type_ids=token_type_ids, inputs_embeds=inputs_embeds)
        mask = extended_attention_mask(attention_mask, embedding_output.dtype)
        sequence_output = self.encoder(embedding_output, mask, **kwargs).last_hidden_state
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=sequence_output, pooler_output=pooled_output)


_MLM_TIES = {
    "cls.predictions.decoder.weight": "nezha.embeddings.word_embeddings.weight",
    "cls.predictions.decoder.bias": "cls.predictions.bias",
}


class NezhaForPreTraining(NezhaPreTrainedModel):
    """NEZHA with the masked-LM and next-sentence-prediction heads used in pretraining."""

    _tied_weights_keys = dict(_MLM_TIES)

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.nezha = NezhaModel(config)
        self.cls = NezhaPreTrainingHeads(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
        **kwargs,
    ) -> NezhaForPreTrainingOutput:
        """``labels``: token ids at masked positions, -100 elsewhere; ``next_sentence_label``: 0 = is next, 1 = random.

        The loss is the sum of the losses whose labels are given.
        """
        outputs = self._encode(input_ids, attention_mask, token_type_ids, inputs_embeds, **kwargs)
        prediction_scores, seq_relationship_score = self.cls(outputs.last_hidden_state, outputs.pooler_output)
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(prediction_scores.view(-1, self.config.vocab_size), labels.view(-1))
        if next_sentence_label is not None:
            nsp = CrossEntropyLoss()(seq_relationship_score.view(-1, 2), next_sentence_label.view(-1))
            loss = nsp if loss is None else loss + nsp
        return NezhaForPreTrainingOutput(
            loss=loss,
            prediction_logits=prediction_scores,
            seq_relationship_logits=seq_relationship_score,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class NezhaForMaskedLM(NezhaPreTrainedModel):
    """NEZHA with the masked-LM head (no pooler)."""

    _tied_weights_keys = dict(_MLM_TIES)
    # (post_init adds the base model's `positions_encoding` rule to these)
    _keys_to_ignore_on_load_unexpected = [r"pooler", r"cls\.seq_relationship"]

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.nezha = NezhaModel(config, add_pooling_layer=False)
        self.cls = NezhaOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        """``labels``: token ids at masked positions, -100 elsewhere."""
        outputs = self._encode(input_ids, attention_mask, token_type_ids, inputs_embeds, **kwargs)
        prediction_scores = self.cls(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(prediction_scores.view(-1, self.config.vocab_size), labels.view(-1))
        return MaskedLMOutput(
            loss=loss, logits=prediction_scores, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


def _classifier_dropout(config: NezhaConfig) -> nn.Dropout:
    p = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
    return nn.Dropout(p)


class NezhaForSequenceClassification(NezhaPreTrainedModel):
    """Pooled output -> dropout -> linear; regression when ``num_labels == 1`` (``problem_type`` as in BERT)."""

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.nezha = NezhaModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        """``labels``: class ids (long), targets (float, regression) or multi-hot floats (multi-label)."""
        outputs = self._encode(input_ids, attention_mask, token_type_ids, inputs_embeds, **kwargs)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            if self.config.problem_type is None:
                if self.num_labels == 1:
                    self.config.problem_type = "regression"
                elif labels.dtype in (torch.long, torch.int):
                    self.config.problem_type = "single_label_classification"
                else:
                    self.config.problem_type = "multi_label_classification"
            if self.config.problem_type == "regression":
                if self.num_labels == 1:
                    loss = MSELoss()(logits.squeeze(-1), labels.view(-1).to(logits.dtype))
                else:
                    loss = MSELoss()(logits, labels.to(logits.dtype))
            elif self.config.problem_type == "single_label_classification":
                loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                loss = BCEWithLogitsLoss()(logits, labels.to(logits.dtype))
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class NezhaForTokenClassification(NezhaPreTrainedModel):
    """Per-token linear classifier (sequence labelling / NER); labels -100 are ignored."""

    _keys_to_ignore_on_load_unexpected = [r"pooler"]

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.nezha = NezhaModel(config, add_pooling_layer=False)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> TokenClassifierOutput:
        outputs = self._encode(input_ids, attention_mask, token_type_ids, inputs_embeds, **kwargs)
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
        return TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class NezhaForQuestionAnswering(NezhaPreTrainedModel):
    """Extractive QA (SQuAD / CMRC2018 style): start and end logits per token."""

    _keys_to_ignore_on_load_unexpected = [r"pooler"]

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.nezha = NezhaModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        **kwargs,
    ) -> QuestionAnsweringModelOutput:
        """Positions outside the sequence are clamped to ``L`` and ignored in the loss (as in BERT)."""
        outputs = self._encode(input_ids, attention_mask, token_type_ids, inputs_embeds, **kwargs)
        logits = self.qa_outputs(outputs.last_hidden_state)
        start_logits, end_logits = logits.split(1, dim=-1)
        start_logits = start_logits.squeeze(-1).contiguous()
        end_logits = end_logits.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            ignored = start_logits.size(1)
            start_positions = start_positions.view(-1).clamp(0, ignored)
            end_positions = end_positions.view(-1).clamp(0, ignored)
            loss_fct = CrossEntropyLoss(ignore_index=ignored)
            loss = (loss_fct(start_logits, start_positions) + loss_fct(end_logits, end_positions)) / 2
        return QuestionAnsweringModelOutput(
            loss=loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class NezhaForMultipleChoice(NezhaPreTrainedModel):
    """Inputs of shape ``(batch, num_choices, L)``; one score per choice from the pooled output."""

    def __init__(self, config: NezhaConfig) -> None:
        super().__init__(config)
        self.nezha = NezhaModel(config)
        self.dropout = _classifier_dropout(config)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> MultipleChoiceModelOutput:
        """``labels``: index of the right choice, shape ``(batch,)``."""
        num_choices = input_ids.shape[1] if input_ids is not None else inputs_embeds.shape[1]

        def flat(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x.reshape(-1, *x.shape[2:])

        outputs = self._encode(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(inputs_embeds),
                               **kwargs)
        logits = self.classifier(self.dropout(outputs.pooler_output)).view(-1, num_choices)
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits, labels)
        return MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


# ---------------------------------------------------------------------------------------------------------------------
# Auto-class registration (idempotent: importing twice, or a reload, replaces the entries instead of failing)


def _register_auto_classes() -> None:
    AutoConfig.register("nezha", NezhaConfig, exist_ok=True)
    for auto_cls, model_cls in (
        (AutoModel, NezhaModel),
        (AutoModelForPreTraining, NezhaForPreTraining),
        (AutoModelForMaskedLM, NezhaForMaskedLM),
        (AutoModelForSequenceClassification, NezhaForSequenceClassification),
        (AutoModelForTokenClassification, NezhaForTokenClassification),
        (AutoModelForQuestionAnswering, NezhaForQuestionAnswering),
        (AutoModelForMultipleChoice, NezhaForMultipleChoice),
    ):
        auto_cls.register(NezhaConfig, model_cls, exist_ok=True)


_register_auto_classes()
