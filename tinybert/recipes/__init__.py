"""One module per job, each a function that reads top to bottom (load, build, train, publish), takes a typed
config (:mod:`tinybert.config`) and returns a result. The CLI and Python users call the same functions.

:data:`PUBLIC` maps the public names (``from tinybert import ...``) to the module defining them; nothing here
imports torch until a recipe runs.
"""

from __future__ import annotations

PUBLIC: dict[str, str] = {
    "GeneralDistillConfig": "tinybert.config.distill",
    "TaskDistillConfig": "tinybert.config.distill",
    "EvalConfig": "tinybert.config.distill",
    "run_general_distill": "tinybert.recipes.general_distill",
    "run_task_distill": "tinybert.recipes.task_distill",
    "run_evaluation": "tinybert.recipes.evaluate",
    "DistillSpec": "tinybert.distill.spec",
    "LossTerm": "tinybert.distill.spec",
    "LayerMap": "tinybert.distill.layer_map",
    "LayerMatch": "tinybert.distill.layer_map",
    "register_loss": "tinybert.distill.terms",
    "InstanceConfig": "tinybert.config.pregenerate",
    "PregenerateConfig": "tinybert.config.pregenerate",
    "run_pregenerate": "tinybert.recipes.pregenerate",
    "PretrainDataConfig": "tinybert.config.pregenerate",
    "run_pretrain_data": "tinybert.recipes.pretrain_data",
    "AugmentConfig": "tinybert.config.augment",
    "run_augment": "tinybert.recipes.augment",
    "FinetuneConfig": "tinybert.config.finetune",
    "run_finetune": "tinybert.recipes.finetune",
    "PretrainConfig": "tinybert.config.pretrain",
    "run_pretraining": "tinybert.recipes.pretrain",
    "BuildVocabConfig": "tinybert.config.vocab",
    "run_build_vocab": "tinybert.recipes.build_vocab",
    "ConvertConfig": "tinybert.config.vocab",
    "run_convert": "tinybert.recipes.convert",
    "ReportConfig": "tinybert.config.report",
    "run_report": "tinybert.recipes.report",
    "ExportConfig": "tinybert.config.export",
    "run_export": "tinybert.recipes.export",
    "PredictConfig": "tinybert.config.export",
    "run_predict": "tinybert.recipes.predict",
    "NerConfig": "tinybert.config.span",
    "run_ner": "tinybert.recipes.ner",
    "MrcConfig": "tinybert.config.span",
    "run_mrc": "tinybert.recipes.mrc",
    "NerDistillConfig": "tinybert.config.span",
    "run_ner_distill": "tinybert.recipes.span_distill",
    "MrcDistillConfig": "tinybert.config.span",
    "run_mrc_distill": "tinybert.recipes.span_distill",
}
