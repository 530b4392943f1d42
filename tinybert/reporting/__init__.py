"""The pieces of ``tinybert report`` (the recipe is :mod:`tinybert.recipes.report`).

- :mod:`~tinybert.reporting.runs`: reading run directories (``metrics.jsonl``, ``eval_results.txt``), choosing the
  dev metric, grouping runs into arms (several seeds of one setting) and their mean ± std.
- :mod:`~tinybert.reporting.measure`: model sizes, throughput of all models in one process on the same batch, the
  machine's description.
- :mod:`~tinybert.reporting.render`: the Markdown tables and the plots.

Nothing here imports torch at module level.
"""
