"""Stage 2 of task distillation in a real 2-process gloo run (torchrun's environment, CPU): the teacher-logit cache is
computed in shards and gathered, and the run equals one process with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import textwrap

import torch
from ddp_launch import run_two_ranks
from safetensors.torch import load_file
from test_task_distill import bert_config, distill, final_weights, save_classifier, tokenizer_for, write_sst2

TESTS = os.path.dirname(os.path.abspath(__file__))
NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}

# One worker: the task-distill run, recording how many examples each call of the cache's predict_logits got.
CHILD = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {tests!r})
    import test_task_distill as t
    from tinybert.distill import teacher

    seen_dir, argv = sys.argv[1], sys.argv[2:]
    sizes = []
    real = teacher.predict_logits

    def counting(model, dataset, *a, **kw):
        sizes.append(len(dataset))
        return real(model, dataset, *a, **kw)

    teacher.predict_logits = counting
    t.distill(argv)
    with open(os.path.join(seen_dir, f"seen_{{os.environ['RANK']}}.json"), "w") as f:
        json.dump({{"predicted": sizes}}, f)
""")


def two_processes(tmp_path, argv: list[str], seen_dir) -> list[dict]:
    """Run ``argv`` in two workers started the way torchrun starts them; each worker's record."""
    script = tmp_path / "task_ddp_child.py"
    script.write_text(CHILD.format(tests=TESTS))
    os.makedirs(seen_dir, exist_ok=True)
    run_two_ranks([str(script), str(seen_dir), *map(str, argv)])
    return [json.load(open(os.path.join(seen_dir, f"seen_{r}.json"))) for r in (0, 1)]


def cache_file(out: str) -> str:
    names = os.listdir(os.path.join(out, "teacher_logits"))
    assert len(names) == 1, names
    return os.path.join(out, "teacher_logits", names[0])


def test_two_process_stage2_shards_the_logit_cache_and_equals_one_process(tmp_path):
    from transformers import BertForSequenceClassification, BertModel

    from tinybert.models.student import TinyBertStudent

    # tiny teacher classifier and general student, dropout 0 in both (the loop seeds dropout per rank)
    torch.manual_seed(5)
    teacher_model = BertForSequenceClassification(bert_config(  # a wide init: logits vary by units between examples
        num_labels=2, id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1}, initializer_range=0.5, **NO_DROPOUT))
    teacher = save_classifier(tmp_path / "teacher", tmp_path, None, model=teacher_model)
    torch.manual_seed(1)
    student = str(tmp_path / "student")
    TinyBertStudent(BertModel(bert_config(2, 16, 2, **NO_DROPOUT)), 32).save_pretrained(
        student, tokenizer=tokenizer_for(tmp_path))
    data = write_sst2(tmp_path / "data", n_train=25, n_dev=8)  # 25 examples: shards of 12 and 13

    def argv(out):  # --train_batch_size is the global batch: 2 processes x 4 here, 1 process x 8 below
        return ["--task_name", "sst-2", "--teacher_model", teacher, "--student_model", student, "--pred_distill",
                "--skip_teacher_check", "--max_steps", 6, "--seed", 7, "--learning_rate", 1e-2, "--data_dir", data,
                "--output_dir", out, "--max_seq_length", 16, "--train_batch_size", 8, "--eval_batch_size", 5,
                "--no_cuda", "--logging_steps", 1]

    one, two, three = (str(tmp_path / name) for name in ("one", "two", "three"))
    distill(argv(one))
    seen = two_processes(tmp_path, argv(two), tmp_path / "seen_two")
    assert [s["predicted"] for s in seen] == [[12], [13]]  # each process computed its own contiguous shard

    # the gathered cache equals the one-process cache, same key, in dataset order
    assert os.path.basename(cache_file(one)) == os.path.basename(cache_file(two))
    c1, c2 = load_file(cache_file(one))["logits"], load_file(cache_file(two))["logits"]
    assert c1.shape == c2.shape == (25, 2)
    torch.testing.assert_close(c2, c1, rtol=0, atol=1e-5)
    assert (c1[:12] - c1[12:24]).abs().max() > 0.5  # the examples' logits differ: misplaced rows are seen

    w1, w2 = final_weights(one), final_weights(two)
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=0, atol=1e-5, msg=k)
    start = load_file(os.path.join(student, "model.safetensors"))
    moved = max((w1["model.bert." + k] - v).abs().max().item() for k, v in start.items() if k.startswith("encoder"))
    assert moved > 1e-3  # the student did train, so equal weights mean equal runs

    # with the cache already there, no process computes anything, and the run is the same
    shutil.copytree(os.path.join(one, "teacher_logits"), os.path.join(three, "teacher_logits"))
    seen = two_processes(tmp_path, argv(three), tmp_path / "seen_three")
    assert [s["predicted"] for s in seen] == [[], []]
    w3 = final_weights(three)
    for k in w1:
        torch.testing.assert_close(w3[k], w1[k], rtol=0, atol=1e-5, msg=k)
