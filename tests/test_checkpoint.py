"""Checkpoint formats: folders built here from the documented key names load with each tensor in its place."""

import json
import logging
import os
import warnings

import pytest
import torch

from tinybert.cli import run_command
from tinybert.errors import UserError
from tinybert.models.checkpoint import (
    CheckpointFormat,
    detect_format,
    load_extra_tensors,
    load_model,
    model_summary,
    save_model,
)

L, H, NH, I, P, V, T = 2, 32, 4, 64, 64, 30, 48  # layers, hidden, heads, intermediate, positions, vocab, teacher width
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [chr(c) for c in range(ord("a"), ord("a") + V - 5)]
BERT_CFG = {
    "vocab_size": V, "hidden_size": H, "num_hidden_layers": L, "num_attention_heads": NH, "intermediate_size": I,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": P, "type_vocab_size": 2, "initializer_range": 0.02,
}  # fmt: skip


def _ln(prefix, old_names):
    w, b = ("gamma", "beta") if old_names else ("weight", "bias")
    return {f"{prefix}.{w}": (H,), f"{prefix}.{b}": (H,)}


def _lin(prefix, out_dim, in_dim):
    return {f"{prefix}.weight": (out_dim, in_dim), f"{prefix}.bias": (out_dim,)}


def original_shapes(root="bert", old_names=False, positions=True, mlm=True, nsp=True, labels=None):
    """Key -> shape of an original (pytorch-pretrained-bert style) BERT/NEZHA checkpoint, spelled out."""
    s = {f"{root}.embeddings.word_embeddings.weight": (V, H), f"{root}.embeddings.token_type_embeddings.weight": (2, H)}
    if positions:
        s[f"{root}.embeddings.position_embeddings.weight"] = (P, H)
    s.update(_ln(f"{root}.embeddings.LayerNorm", old_names))
    for i in range(L):
        p = f"{root}.encoder.layer.{i}"
        for name in ("query", "key", "value"):
            s.update(_lin(f"{p}.attention.self.{name}", H, H))
        s.update(_lin(f"{p}.attention.output.dense", H, H))
        s.update(_ln(f"{p}.attention.output.LayerNorm", old_names))
        s.update(_lin(f"{p}.intermediate.dense", I, H))
        s.update(_lin(f"{p}.output.dense", H, I))
        s.update(_ln(f"{p}.output.LayerNorm", old_names))
    s.update(_lin(f"{root}.pooler.dense", H, H))
    if mlm:
        s["cls.predictions.bias"] = (V,)
        s.update(_lin("cls.predictions.transform.dense", H, H))
        s.update(_ln("cls.predictions.transform.LayerNorm", old_names))
        s["cls.predictions.decoder.weight"] = (V, H)
    if nsp:
        s.update(_lin("cls.seq_relationship", 2, H))
    if labels:
        s.update(_lin("classifier", labels, H))
    return s


def random_state(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {k: torch.randn(*shape, generator=g) for k, shape in shapes.items()}
    for k in [k for k in sd if k.endswith("word_embeddings.weight")]:
        if "cls.predictions.decoder.weight" in sd:
            sd["cls.predictions.decoder.weight"] = sd[k].clone()  # tied in the real files too
    return sd


def write_folder(path, sd, config, config_name="bert_config.json", vocab=VOCAB, weights="pytorch_model.bin"):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, config_name), "w") as f:
        json.dump(config, f)
    if vocab is not None:
        with open(os.path.join(path, "vocab.txt"), "w") as f:
            f.write("".join(t + "\n" for t in vocab))
    if weights.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(sd, os.path.join(path, weights))
    else:
        torch.save(dict(sd), os.path.join(path, weights))
    return str(path)


def fit_denses(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    if n is None:
        return {"fit_dense.weight": torch.randn(T, H, generator=g), "fit_dense.bias": torch.randn(T, generator=g)}
    out = {}
    for i in range(n):
        out[f"fit_denses.{i}.weight"] = torch.randn(T, H, generator=g)
        out[f"fit_denses.{i}.bias"] = torch.randn(T, generator=g)
    return out


def inputs():
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, V, (2, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def assert_placed(model_sd, stored, rename):
    """Every stored tensor appears, unchanged, under the model key ``rename`` gives."""
    for key, tensor in stored.items():
        target = rename(key)
        if target is None:
            continue
        assert target in model_sd, (key, target)
        torch.testing.assert_close(model_sd[target], tensor, rtol=0, atol=0, msg=f"{key} -> {target}")


def _old_to_new(key):
    if key.endswith(".gamma"):
        return key[: -len("gamma")] + "weight"
    if key.endswith(".beta"):
        return key[: -len("beta")] + "bias"
    return key


# ------------------------------------------------------------------------------------------- original TinyBERT


def test_original_tinybert_v1_gamma_beta_fit_dense(tmp_path):
    stored = random_state(original_shapes(old_names=True))
    extra = fit_denses(None)
    path = write_folder(tmp_path / "tb", {**stored, **extra}, {**BERT_CFG, "pre_trained": "", "training": ""},
                        config_name="config.json")
    assert detect_format(path) == CheckpointFormat.TINYBERT_ORIGINAL == "tinybert_original"
    model = load_model(path, head="pretraining")
    assert type(model).__name__ == "BertForPreTraining"
    # specific tensors in specific places
    torch.testing.assert_close(model.bert.encoder.layer[1].attention.self.query.weight,
                               stored["bert.encoder.layer.1.attention.self.query.weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.bert.encoder.layer[0].output.LayerNorm.weight,
                               stored["bert.encoder.layer.0.output.LayerNorm.gamma"], rtol=0, atol=0)
    torch.testing.assert_close(model.bert.embeddings.LayerNorm.bias, stored["bert.embeddings.LayerNorm.beta"],
                               rtol=0, atol=0)
    torch.testing.assert_close(model.cls.predictions.transform.LayerNorm.weight,
                               stored["cls.predictions.transform.LayerNorm.gamma"], rtol=0, atol=0)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    # and every stored tensor somewhere sensible
    assert_placed(model.state_dict(), stored, _old_to_new)
    assert not model.training
    got = load_extra_tensors(path)
    assert set(got) == set(extra)
    for k in extra:
        torch.testing.assert_close(got[k], extra[k], rtol=0, atol=0)
    # the MLM logits are the documented computation from the stored tensors
    x = inputs()
    with torch.no_grad():
        out = model(**x)
        seq = model.bert(**x).last_hidden_state
        h = seq @ stored["cls.predictions.transform.dense.weight"].T + stored["cls.predictions.transform.dense.bias"]
        h = torch.nn.functional.gelu(h)
        h = torch.nn.functional.layer_norm(h, (H,), stored["cls.predictions.transform.LayerNorm.gamma"],
                                           stored["cls.predictions.transform.LayerNorm.beta"], eps=1e-12)
        want = h @ stored["bert.embeddings.word_embeddings.weight"].T + stored["cls.predictions.bias"]
    torch.testing.assert_close(out.prediction_logits, want, rtol=1e-5, atol=1e-5)


def test_original_tinybert_v2_fit_denses_base_head(tmp_path):
    stored = random_state(original_shapes())
    extra = fit_denses(L + 1)
    path = write_folder(tmp_path / "tb2", {**stored, **extra}, BERT_CFG)
    assert detect_format(path) == "tinybert_original"
    model = load_model(path)  # head="base": a BertModel, heads ignored
    assert type(model).__name__ == "BertModel"
    assert_placed(model.state_dict(), stored, lambda k: k[len("bert."):] if k.startswith("bert.") else None)
    got = load_extra_tensors(path)
    assert sorted(got) == sorted(extra) and len(got) == 2 * (L + 1)
    torch.testing.assert_close(got["fit_denses.2.weight"], extra["fit_denses.2.weight"], rtol=0, atol=0)
    assert load_extra_tensors(path, prefixes=("fit_denses.1.",)).keys() == {"fit_denses.1.weight", "fit_denses.1.bias"}


def test_original_task_student_classifier_and_auto_head(tmp_path):
    stored = random_state(original_shapes(mlm=False, nsp=False, labels=3))
    path = write_folder(tmp_path / "task", {**stored, **fit_denses(None)}, BERT_CFG)
    model = load_model(path, head="auto")
    assert type(model).__name__ == "BertForSequenceClassification" and model.config.num_labels == 3
    torch.testing.assert_close(model.classifier.weight, stored["classifier.weight"], rtol=0, atol=0)
    assert_placed(model.state_dict(), stored, lambda k: k)
    labelled = load_model(path, head="sequence_classification", id2label={0: "neg", 1: "neu", 2: "pos"})
    assert labelled.config.label2id == {"neg": 0, "neu": 1, "pos": 2}
    torch.testing.assert_close(labelled.classifier.bias, stored["classifier.bias"], rtol=0, atol=0)


def test_base_model_as_classifier_initialises_head_with_warning(tmp_path, caplog):
    stored = random_state(original_shapes(mlm=False, nsp=False))
    path = write_folder(tmp_path / "base", stored, BERT_CFG)
    with caplog.at_level(logging.WARNING, logger="tinybert.models.checkpoint"):
        model = load_model(path, head="sequence_classification", num_labels=4)
    assert model.classifier.weight.shape == (4, H)
    assert any("classifier" in r.getMessage() and "initialised" in r.getMessage() for r in caplog.records)
    torch.testing.assert_close(model.bert.pooler.dense.weight, stored["bert.pooler.dense.weight"], rtol=0, atol=0)
    with pytest.raises(UserError, match=r"has no masked-LM head \(cls\.predictions\.\*\)"):
        load_model(path, head="mlm", require_head=True)
    with pytest.raises(UserError, match="has no masked-LM head"):
        load_model(path, head="pretraining", require_head=True)
    load_model(path, head="mlm")  # without require_head: a fresh head, like from_pretrained


def test_hf_folder_without_prefix_and_safetensors(tmp_path):
    stored = random_state(original_shapes(mlm=False, nsp=False))
    unprefixed = {k[len("bert."):]: v for k, v in stored.items()}
    path = write_folder(tmp_path / "hf", unprefixed, {**BERT_CFG, "model_type": "bert"}, config_name="config.json",
                        weights="model.safetensors")
    assert detect_format(path) == "hf"
    model = load_model(path, head="sequence_classification", num_labels=2)
    assert_placed(model.state_dict(), stored, lambda k: k)


def test_sharded_safetensors(tmp_path):
    from safetensors.torch import save_file

    stored = random_state(original_shapes(mlm=False, nsp=False))
    path = tmp_path / "sharded"
    os.makedirs(path)
    keys = sorted(stored)
    halves = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for name, ks in halves.items():
        save_file({k: stored[k] for k in ks}, str(path / name))
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": {k: n for n, ks in halves.items() for k in ks}}))
    (path / "config.json").write_text(json.dumps({**BERT_CFG, "model_type": "bert"}))
    model = load_model(path)
    assert_placed(model.state_dict(), stored, lambda k: k[len("bert."):])


# ------------------------------------------------------------------------------------------------------ NEZHA


def test_nezha_pytorch_folder(tmp_path):
    from tinybert.models.nezha import NezhaConfig, NezhaForPreTraining

    stored = random_state(original_shapes(positions=False))
    stale_key = "bert.encoder.layer.0.attention.self.relative_positions_embeddings.positions_encoding"
    stale = {stale_key: torch.ones(P, P, 8)}
    cfg = {**BERT_CFG, "max_relative_position": 8, "use_relative_position": True}
    path = write_folder(tmp_path / "nz", {**stored, **stale}, cfg)
    assert detect_format(path) == "nezha_pytorch"
    model = load_model(path, head="pretraining")
    assert type(model).__name__ == "NezhaForPreTraining" and model.config.max_relative_position == 8
    torch.testing.assert_close(model.nezha.encoder.layer[1].attention.self.query.weight,
                               stored["bert.encoder.layer.1.attention.self.query.weight"], rtol=0, atol=0)
    assert_placed(model.state_dict(), stored, lambda k: "nezha." + k[len("bert."):] if k.startswith("bert.") else k)
    # same outputs as a NEZHA model given the same tensors by hand
    ref = NezhaForPreTraining(NezhaConfig(**{k: v for k, v in cfg.items()})).eval()
    ref.load_state_dict({("nezha." + k[5:] if k.startswith("bert.") else k): v for k, v in stored.items()},
                        strict=False)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs()).prediction_logits, ref(**inputs()).prediction_logits,
                                   rtol=1e-5, atol=1e-5)
    # the NEZHA folder must not load as a BERT with position embeddings
    summary = model_summary(path)
    assert summary["format"] == "nezha_pytorch" and summary["max_relative_position"] == 8
    assert summary["max_position_embeddings"] is None


def test_hf4_nezha_folder_with_stale_buffers(tmp_path):
    pytest.importorskip("tinybert.models.nezha")
    stored = random_state(original_shapes(root="nezha", positions=False, nsp=False, labels=None))
    stale = {f"nezha.encoder.layer.{i}.attention.self.relative_positions_encoding.positions_encoding":
             torch.zeros(P, P, H // NH) for i in range(L)}
    cfg = {**BERT_CFG, "model_type": "nezha", "max_relative_position": 16, "architectures": ["NezhaForMaskedLM"]}
    path = write_folder(tmp_path / "hfnz", {**stored, **stale}, cfg, config_name="config.json")
    assert detect_format(path) == CheckpointFormat.HF_NEZHA
    model = load_model(path, head="mlm", require_head=True)
    assert type(model).__name__ == "NezhaForMaskedLM"
    torch.testing.assert_close(model.nezha.encoder.layer[0].attention.output.LayerNorm.weight,
                               stored["nezha.encoder.layer.0.attention.output.LayerNorm.weight"], rtol=0, atol=0)
    assert_placed(model.state_dict(), stored, lambda k: None if ".pooler." in k else k)  # MLM models have no pooler
    # NEZHA saved by us loads in AutoModel (registered on importing `tinybert.models`) with the same outputs
    from transformers import AutoModelForMaskedLM

    out = tmp_path / "hfnz_out"
    save_model(model, out)
    again = AutoModelForMaskedLM.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(**inputs()).logits, model(**inputs()).logits, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------ safety


class _Payload:
    """Unpickling this calls open(marker, "w"): the file appears only if the pickle runs code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("zipfile", [True, False])
def test_bin_whose_pickle_runs_code_is_refused(tmp_path, zipfile, capfd):
    marker = tmp_path / "pwned"
    stored = random_state(original_shapes(mlm=False, nsp=False))
    path = tmp_path / "evil"
    os.makedirs(path)
    (path / "bert_config.json").write_text(json.dumps(BERT_CFG))
    torch.save({**stored, "extra": _Payload(str(marker))}, path / "pytorch_model.bin",
               _use_new_zipfile_serialization=zipfile)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torch warning may reach the user's terminal
        with pytest.raises(UserError, match="refused") as caught:
            load_model(path)
    message = str(caught.value)
    # what it is, the offending global, that nothing ran, and how to convert a trusted file
    assert "pickled Python objects beyond tensors" in message and "open" in message.split("it names", 1)[1]
    assert "nothing in it was executed" in message and "weights_only=False" in message and "\n" not in message
    with pytest.raises(UserError, match="refused"):
        load_extra_tensors(path)
    capfd.readouterr()
    assert run_command("info", [str(path)]) == 2
    err = capfd.readouterr().err
    assert err.count("error:") == 1 and "Warning" not in err and "Traceback" not in err, err
    assert run_command("convert", [str(path), str(tmp_path / "out")]) == 2
    assert not marker.exists()
    assert not (tmp_path / "out").exists()
    # control: the payload is live, so the refusal above is what kept it from running
    torch.load(path / "pytorch_model.bin", weights_only=False)
    assert marker.exists()


# ------------------------------------------------------------------------------------------------ saving


def test_save_model_loads_in_plain_transformers(tmp_path):
    from transformers import AutoModel, AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    from tinybert.models.tokenizer import load_tokenizer

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(**BERT_CFG, num_labels=3)).eval()
    vocab_dir = write_folder(tmp_path / "v", {"x": torch.zeros(1)}, BERT_CFG)
    extra = fit_denses(None)
    out = tmp_path / "saved"
    save_model(model, out, tokenizer=load_tokenizer(vocab_dir), extra_tensors=extra)
    assert detect_format(out) == "hf"
    assert (out / "vocab.txt").read_text().split("\n")[:-1] == VOCAB
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".saved")]  # no temporary folder left
    x = inputs()
    with torch.no_grad():
        want_logits = model(**x).logits
        want_hidden = model.bert(**x).last_hidden_state
        got = AutoModelForSequenceClassification.from_pretrained(out).eval()
        torch.testing.assert_close(got(**x).logits, want_logits, rtol=1e-5, atol=1e-5)
        base = AutoModel.from_pretrained(out).eval()
        torch.testing.assert_close(base(**x).last_hidden_state, want_hidden, rtol=1e-5, atol=1e-5)
        ours = load_model(out, head="sequence_classification")
        torch.testing.assert_close(ours(**x).logits, want_logits, rtol=1e-5, atol=1e-5)
    back = load_extra_tensors(out)
    assert set(back) == set(extra)
    for k in extra:
        torch.testing.assert_close(back[k], extra[k], rtol=0, atol=0)
    with pytest.raises(UserError, match="not empty"):
        save_model(model, out, overwrite=False)


def test_projections_live_beside_the_model_so_plain_transformers_loads_silently(tmp_path, capfd, caplog):
    """A student's fit_dense* go to projections.safetensors: AutoModel sees only its own weights (no load report of
    UNEXPECTED keys) and gives the same outputs; tinybert reads the projections back, and still reads old folders
    that carry them inside model.safetensors."""
    import logging

    from safetensors import safe_open
    from safetensors.torch import save_file
    from transformers import AutoModel, BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(**BERT_CFG)).eval()
    extra = fit_denses(L + 1)
    out = tmp_path / "student"
    save_model(model, out, extra_tensors=extra)
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        assert not [k for k in f.keys() if k.startswith("fit_dense")]
    capfd.readouterr()
    with caplog.at_level(logging.INFO):
        plain = AutoModel.from_pretrained(out).eval()
    printed = capfd.readouterr()
    assert "fit_dense" not in printed.out + printed.err + caplog.text
    assert "UNEXPECTED" not in printed.out + printed.err + caplog.text
    with torch.no_grad():
        torch.testing.assert_close(plain(**inputs()).last_hidden_state, model(**inputs()).last_hidden_state,
                                   rtol=0, atol=0)
    back = load_extra_tensors(out)
    assert set(back) == set(extra) and all(torch.equal(back[k], extra[k]) for k in extra)
    # an older folder: the projections inside model.safetensors
    old = tmp_path / "old_student"
    os.makedirs(old)
    (old / "config.json").write_text(json.dumps({**BertConfig(**BERT_CFG).to_dict(), "model_type": "bert"}))
    save_file({**{k: v.contiguous() for k, v in model.state_dict().items()}, **extra}, str(old / "model.safetensors"))
    back = load_extra_tensors(old)
    assert set(back) == set(extra) and all(torch.equal(back[k], extra[k]) for k in extra)
    capfd.readouterr()
    with caplog.at_level(logging.INFO):
        AutoModel.from_pretrained(old)
    printed = capfd.readouterr()
    assert "fit_dense" in printed.out + printed.err + caplog.text  # control: the capture sees a load report
    with torch.no_grad():
        torch.testing.assert_close(load_model(old)(**inputs()).last_hidden_state,
                                   model(**inputs()).last_hidden_state, rtol=0, atol=0)


def test_save_pretraining_model_tied_weights_round_trip(tmp_path):
    from transformers import BertConfig, BertForPreTraining

    torch.manual_seed(1)
    model = BertForPreTraining(BertConfig(**BERT_CFG)).eval()
    save_model(model, tmp_path / "pt")
    again = load_model(tmp_path / "pt", head="pretraining", require_head=True)
    assert again.cls.predictions.decoder.weight is again.bert.embeddings.word_embeddings.weight
    with torch.no_grad():
        torch.testing.assert_close(again(**inputs()).prediction_logits, model(**inputs()).prediction_logits,
                                   rtol=1e-5, atol=1e-5)
    half = load_model(tmp_path / "pt", head="mlm", dtype="bfloat16")
    assert half.bert.encoder.layer[0].attention.self.query.weight.dtype == torch.bfloat16


# ------------------------------------------------------------------------------------------------ CLI


def test_convert_and_info_cli(tmp_path, capsys):
    from transformers import AutoModelForPreTraining, BertConfig, BertForPreTraining

    stored = random_state(original_shapes(old_names=True))
    extra = fit_denses(L + 1)
    src = write_folder(tmp_path / "src", {**stored, **extra}, BERT_CFG)
    dst = tmp_path / "dst"
    assert run_command("convert", [src, str(dst)]) == 0
    capsys.readouterr()
    assert sorted(os.listdir(dst)) == ["config.json", "model.safetensors", "projections.safetensors",
                                       "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    assert json.loads((dst / "config.json").read_text())["model_type"] == "bert"
    converted = AutoModelForPreTraining.from_pretrained(dst)
    assert_placed(converted.state_dict(), stored, _old_to_new)
    assert set(load_extra_tensors(dst)) == set(extra)

    assert run_command("info", [str(dst), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    n_params = sum(p.numel() for p in BertForPreTraining(BertConfig(**BERT_CFG)).parameters())
    assert info["format"] == "hf" and info["architecture"] == "BertForPreTraining"
    assert (info["num_hidden_layers"], info["hidden_size"], info["num_attention_heads"]) == (L, H, NH)
    assert info["intermediate_size"] == I and info["vocab_size"] == V and info["max_position_embeddings"] == P
    assert info["parameters"] == n_params
    assert info["projections"]["fit_denses.0.weight"] == [T, H] and len(info["projections"]) == 2 * (L + 1)
    assert info["projection_parameters"] == (L + 1) * (T * H + T)
    on_disk = os.path.getsize(dst / "model.safetensors") + os.path.getsize(dst / "projections.safetensors")
    assert info["dtype"] == "float32" and info["file_size_bytes"] == on_disk

    assert run_command("info", [src]) == 0
    text = capsys.readouterr().out
    assert "tinybert_original" in text and "BertForPreTraining" in text
    assert model_summary(src)["parameters"] == n_params  # the tied decoder copy is not counted twice

    # an existing non-empty DST is refused without --overwrite_output_dir, kept intact, replaced with it
    before = (dst / "model.safetensors").read_bytes()
    assert run_command("convert", [src, str(dst), "--head", "base"]) == 2
    err = capsys.readouterr().err
    assert str(dst) in err and "--overwrite_output_dir" in err
    assert (dst / "model.safetensors").read_bytes() == before
    assert run_command("convert", [src, str(dst), "--head", "base", "--overwrite_output_dir"]) == 0
    assert json.loads((dst / "config.json").read_text())["architectures"] == ["BertModel"]


def _bad_folders(tmp_path):
    """(name, folder, file the message must name, a fragment of the message) for every error case."""
    cases = []
    good = original_shapes(mlm=False, nsp=False)
    cases.append(("missing", tmp_path / "nope", tmp_path / "nope", "not found"))
    noconf = tmp_path / "noconf"
    os.makedirs(noconf)
    torch.save(random_state(good), noconf / "pytorch_model.bin")
    cases.append(("no config", noconf, noconf, "no config.json"))
    noweights = tmp_path / "noweights"
    os.makedirs(noweights)
    (noweights / "config.json").write_text(json.dumps({**BERT_CFG, "model_type": "bert"}))
    cases.append(("no weights", noweights, noweights, "no model weights"))
    heads = write_folder(tmp_path / "heads", random_state(good), {**BERT_CFG, "num_attention_heads": 5})
    cases.append(("heads", heads, os.path.join(heads, "bert_config.json"), "not divisible"))
    vocab = write_folder(tmp_path / "vocab", random_state(good), BERT_CFG, vocab=VOCAB + ["extra"])
    cases.append(("vocab", vocab, os.path.join(vocab, "vocab.txt"), f"has {V + 1} tokens .* {V} rows"))
    unknown = write_folder(tmp_path / "unknown", random_state(good), {"foo": 1}, config_name="config.json")
    cases.append(("unknown", unknown, os.path.join(unknown, "config.json"), "unknown checkpoint format"))
    partial = random_state(good)
    del partial["bert.encoder.layer.1.output.dense.weight"]
    partial_dir = write_folder(tmp_path / "partial", partial, BERT_CFG)
    cases.append(("encoder", partial_dir, partial_dir, "missing 1 encoder weights"))
    trunc = write_folder(tmp_path / "trunc", random_state(good), {**BERT_CFG, "model_type": "bert"},
                         config_name="config.json", weights="model.safetensors")
    data = (tmp_path / "trunc" / "model.safetensors").read_bytes()
    (tmp_path / "trunc" / "model.safetensors").write_bytes(data[: len(data) // 2])
    cases.append(("truncated", trunc, os.path.join(trunc, "model.safetensors"), "corrupted"))
    garbage = write_folder(tmp_path / "garbage", random_state(good), BERT_CFG)
    (tmp_path / "garbage" / "pytorch_model.bin").write_bytes(b"not a torch file at all")
    cases.append(("garbage bin", garbage, os.path.join(garbage, "pytorch_model.bin"), "corrupted"))
    return cases


def test_every_error_exits_2_with_one_line_naming_the_path(tmp_path, capsys):
    import re

    for name, folder, where, fragment in _bad_folders(tmp_path):
        for command, argv in (("info", [str(folder)]), ("convert", [str(folder), str(tmp_path / f"out-{name}")])):
            assert run_command(command, argv) == 2, (name, command)
            err = capsys.readouterr().err.strip()
            assert err.count("\n") == 0 and err.startswith("error: "), (name, err)
            assert str(where) in err, (name, err)
            assert re.search(fragment, err), (name, err)
            assert "Traceback" not in err
            assert not (tmp_path / f"out-{name}").exists()


def test_unknown_head_and_dtype_are_user_errors(tmp_path):
    path = write_folder(tmp_path / "m", random_state(original_shapes(mlm=False, nsp=False)), BERT_CFG)
    with pytest.raises(UserError, match="unknown head"):
        load_model(path, head="summarisation")
    with pytest.raises(UserError, match="unknown dtype"):
        load_model(path, dtype="int8")


def test_position_limit_is_none_for_nezha():
    from transformers import BertConfig

    from tinybert.models.checkpoint import position_limit
    from tinybert.models.nezha import NezhaConfig

    assert position_limit(BertConfig(max_position_embeddings=77)) == 77
    assert position_limit(NezhaConfig(max_position_embeddings=77)) is None
