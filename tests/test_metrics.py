"""Every metric against numbers worked out by hand (the arithmetic is in the comments)."""

import math

import numpy as np
import pytest

from tinybert.data.tasks import generic_task
from tinybert.errors import UserError
from tinybert.metrics import (
    accuracy,
    compute_task_metrics,
    f1,
    main_metric,
    matthews_corrcoef,
    pearson,
    spearman,
)


def test_accuracy_and_f1():
    assert accuracy(np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0])) == 0.5  # 2 of 4 right
    p, y = np.array([1, 0, 1, 1, 0]), np.array([1, 1, 1, 0, 0])
    # TP = 2 (0, 2), FP = 1 (3), FN = 1 (1): precision = recall = 2/3, F1 = 2/3
    assert f1(p, y) == pytest.approx(2 / 3)
    assert f1(np.zeros(3, int), np.zeros(3, int)) == 0.0  # no positives at all: 0, not a crash
    # positive class 0 instead: TP = 1 (4), FP = 1 (1), FN = 1 (3) -> F1 = 1/2
    assert f1(p, y, pos_label=0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        accuracy(np.array([1, 0]), np.array([1]))


def test_mcc_positive_negative_and_degenerate():
    # TP = 2, FP = 1, TN = 2, FN = 1: (2*2 - 1*1) / sqrt(3*3*3*3) = 3/9
    assert matthews_corrcoef(np.array([1, 1, 0, 0, 1, 0]), np.array([1, 0, 0, 0, 1, 1])) == pytest.approx(1 / 3)
    # TP = 1 (3), TN = 1 (2), FP = 2 (1, 4), FN = 1 (0): (1*1 - 2*1) / sqrt(3*2*3*2) = -1/6
    assert matthews_corrcoef(np.array([0, 1, 0, 1, 1]), np.array([1, 0, 0, 1, 0])) == pytest.approx(-1 / 6)
    # a constant prediction: TN + FN = 0, the denominator vanishes, MCC is 0 by convention
    assert matthews_corrcoef(np.ones(4, int), np.array([1, 0, 1, 0])) == 0.0
    assert matthews_corrcoef(np.array([1, 0]), np.array([1, 0])) == pytest.approx(1.0)


def test_pearson_and_spearman():
    x, y = np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 5, 9])
    # deviations (-1.5, -.5, .5, 1.5) and (-3, -1, 0, 4): sum of products 11, squares 5 and 26
    assert pearson(x, y) == pytest.approx(11 / math.sqrt(5 * 26))
    assert pearson(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1.0)
    # ranks (1, 2.5, 2.5, 4) and (1, 3, 2, 4): deviations (-1.5, 0, 0, 1.5), (-1.5, .5, -.5, 1.5)
    # products 4.5; squares 4.5 and 5 -> 4.5 / sqrt(22.5) = sqrt(0.9)
    assert spearman(np.array([0.1, 0.4, 0.4, 0.9]), np.array([1.0, 3, 2, 4])) == pytest.approx(math.sqrt(0.9))
    assert spearman(np.array([0.1, 5.0, 7.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    # constant predictions: correlation undefined, 0 by convention (never NaN)
    assert pearson(np.full(3, 2.0), np.array([1.0, 2, 3])) == 0.0
    assert spearman(np.full(3, 2.0), np.array([1.0, 2, 3])) == 0.0


def test_compute_task_metrics_keys_and_values():
    assert compute_task_metrics("CoLA", np.array([0, 1, 0, 1, 1]), np.array([1, 0, 0, 1, 0])) == pytest.approx(
        {"mcc": -1 / 6})
    # logits are arg-maxed: rows -> 0, 1, 1, 0
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [-1.0, 1.0], [5.0, -5.0]])
    assert compute_task_metrics("sst-2", logits, np.array([0, 1, 0, 0])) == {"acc": 0.75}
    m = compute_task_metrics("MRPC", np.array([1, 0, 1, 1, 0]), np.array([1, 1, 1, 0, 0]))
    # acc 3/5, F1 2/3, mean (0.6 + 2/3) / 2
    assert m == pytest.approx({"acc": 0.6, "f1": 2 / 3, "acc_and_f1": (0.6 + 2 / 3) / 2})
    assert set(compute_task_metrics("qqp", np.array([1, 0]), np.array([1, 0]))) == {"acc", "f1", "acc_and_f1"}
    s = compute_task_metrics("sts-b", np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([2.0, 4, 5, 9]))
    r = 11 / math.sqrt(130)  # pearson as above; same order -> spearman 1
    assert s == pytest.approx({"pearson": r, "spearmanr": 1.0, "corr": (r + 1.0) / 2})
    three = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.2, 0.5, 0.3]])  # -> 2, 0, 1
    for task in ("mnli", "mnli-mm", "xnli", "qnli", "rte", "wnli", "lcqmc", "chnsenticorp"):
        assert compute_task_metrics(task, three, np.array([2, 1, 1])) == pytest.approx({"acc": 2 / 3}), task
    reg = generic_task(["text"], "score", output_mode="regression")
    assert set(compute_task_metrics(reg, np.array([1.0, 2.0]), np.array([1.0, 3.0]))) == {"pearson", "spearmanr",
                                                                                          "corr"}


def test_main_metric():
    assert main_metric("cola") == "mcc"
    assert main_metric("STS-B") == "corr"
    for task in ("sst-2", "mrpc", "qqp", "mnli", "mnli-mm", "qnli", "rte", "wnli", "lcqmc", "generic"):
        assert main_metric(task) == "acc", task
    assert main_metric(generic_task(["a"], "b", output_mode="regression")) == "corr"
    with pytest.raises(UserError, match="unknown task 'glue'"):
        main_metric("glue")
