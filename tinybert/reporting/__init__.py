"""The pieces of ``tinybert report`` (the recipe is :mod:`tinybert.recipes.report`).

- :mod:`~tinybert.reporting.runs`: reading run directories (``metrics.jsonl``, ``eval_results.txt``), choosing the
  dev metric, grouping runs into arms (several seeds of one setting) and their mean ± std.
- :mod:`~tinybert.reporting.measure`: model sizes, throughput of all models in one process on the same batch, the
  machine's description.
- :mod:`~tinybert.reporting.latency`: batch-1 latency (p50/p95) of PyTorch fp32 and of the ONNX fp32 and int8
  exports of a model (``tinybert report --latency``, ``bench/latency.py``).
- :mod:`~tinybert.reporting.render`: the Markdown tables and the plots.

The CLI imports none of these to build its parser (they import torch through the evaluation and training
modules); the recipe imports them when it runs.
"""
