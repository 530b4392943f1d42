#!/usr/bin/env bash
# The Chinese path end to end, through the commands a user types (issue 14.5):
#
#   a vocabulary built on the shipped Chinese corpus -> a small NEZHA teacher pretrained on it (MLM, whole-word masking
#   with jieba) -> fine-tuned on People's Daily NER (and on ChnSentiCorp) -> a TinyBERT-zh student general-distilled
#   from the pretrained teacher -> NER task distillation (stage 1 + 2) -> the report (entity F1, size, CPU speed of
#   teacher, distilled student and a label-only student of the same size, beside a trivial tagger).
#
# Data: examples/data/corpus_zh.txt, peoples_daily_ner/, chnsenticorp/ (see examples/data/SOURCES.md). No download.
# Every step writes its own folder under $RUN and is skipped when that folder is finished.
#
# Environment (all optional): DEMO_SCALE=full|tiny (tiny: a smoke run of every step), RUN=demo_zh_runs,
#   PY=.venv/bin/python; at full scale each budget can be set: VOCAB PT_STEPS NER_STEPS CLS_STEPS GD_STEPS TD1_STEPS
#   TD2_STEPS BATCH EVAL SEQ PRESET (the NEZHA teacher's preset: tiny mini small ...)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUN=${RUN:-demo_zh_runs}
SCALE=${DEMO_SCALE:-full}
NER=examples/data/peoples_daily_ner
CORPUS=examples/data/corpus_zh.txt
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ "$SCALE" = tiny ]; then
  VOCAB=3000 PT_STEPS=4 NER_STEPS=6 CLS_STEPS=4 GD_STEPS=4 TD1_STEPS=4 TD2_STEPS=4 BATCH=8 EVAL=3 SEQ=32 PRESET=tiny
else
  # sized for 25 minutes on 2 free cores; one run on the shared machine took 39 min (docs/NER_MRC.md)
  VOCAB=${VOCAB:-8000} PT_STEPS=${PT_STEPS:-150} NER_STEPS=${NER_STEPS:-300} CLS_STEPS=${CLS_STEPS:-50}
  GD_STEPS=${GD_STEPS:-200} TD1_STEPS=${TD1_STEPS:-200} TD2_STEPS=${TD2_STEPS:-300} BATCH=${BATCH:-16}
  EVAL=${EVAL:-100} SEQ=${SEQ:-64} PRESET=${PRESET:-mini}
fi
mkdir -p "$RUN/data"
T0=$(date +%s)
TIMES="$RUN/stage_times.tsv"
: >"$TIMES"

# shellcheck source=examples/demo_steps.sh
. examples/demo_steps.sh  # the working directory is the repository root (cd above)

# the NER sentences as plain text, so the vocabulary covers their characters
awk 'NF { printf "%s", $1; next } { print "" }' "$NER/train.txt" >"$RUN/data/ner_text.txt"
if [ "$SCALE" = tiny ]; then
  head -n 400 "$CORPUS" >"$RUN/data/corpus.txt"; CORPUS=$RUN/data/corpus.txt
  mkdir -p "$RUN/data/ner"
  for s in train dev test; do awk -v RS= -v ORS='\n\n' 'NR <= 40' "$NER/$s.txt" >"$RUN/data/ner/$s.txt"; done
  NER=$RUN/data/ner
fi

# a. vocabulary and a small NEZHA teacher pretrained on the corpus (MLM, jieba whole-word masking)
step "a1. vocabulary" "$RUN/vocab" \
  $PY -m tinybert build-vocab --input_file "$CORPUS" "$RUN/data/ner_text.txt" --output_dir "$RUN/vocab" \
    --vocab_size $VOCAB
step "a2. pretraining data" "$RUN/pt_data" \
  $PY -m tinybert pretrain-data --input_file "$CORPUS" --vocab_file "$RUN/vocab/vocab.txt" \
    --output_dir "$RUN/pt_data" --max_seq_length $SEQ --do_whole_word_mask --chinese_wwm --dupe_factor 2 \
    --num_workers 2 --no_progress
step "a3. NEZHA pretraining" "$RUN/nezha" \
  $PY -m tinybert pretrain --model_type nezha --config_path $PRESET --target mlm --dataset_path "$RUN/pt_data" \
    --vocab_path "$RUN/vocab/vocab.txt" --output_model_path "$RUN/nezha" --max_seq_length $SEQ \
    --batch_size $BATCH --total_steps $PT_STEPS --learning_rate 5e-4 --warmup 0.1 --optimizer adamw --report_steps 20

# b. the teachers: People's Daily NER (and ChnSentiCorp sentiment)
step "b1. NER teacher" "$RUN/teacher_ner" \
  $PY -m tinybert ner --model "$RUN/nezha" --data_dir "$NER" --output_dir "$RUN/teacher_ner" --do_train --do_eval \
    --max_seq_length $SEQ --train_batch_size $BATCH --learning_rate 3e-4 --max_steps $NER_STEPS --eval_step $EVAL \
    --logging_steps 20
step "b2. ChnSentiCorp teacher" "$RUN/teacher_cls" \
  $PY -m tinybert finetune --model "$RUN/nezha" --task_name chnsenticorp --data_dir examples/data/chnsenticorp \
    --output_dir "$RUN/teacher_cls" --max_seq_length $SEQ --train_batch_size $BATCH --learning_rate 3e-4 \
    --max_steps $CLS_STEPS --eval_step $CLS_STEPS --logging_steps 20

# c. a TinyBERT-zh student (2 layers, 128 wide, the teacher's vocabulary) general-distilled from the pretrained teacher
mkdir -p "$RUN/student_config"
$PY - "$RUN/vocab/vocab.txt" "$RUN/student_config/config.json" <<'EOF'
import json, sys
config = json.load(open("student_configs/small_2l_128d/config.json"))
config["vocab_size"] = sum(1 for line in open(sys.argv[1], encoding="utf-8") if line.strip())
json.dump(config, open(sys.argv[2], "w"), indent=2)
EOF
step "c1. pregenerate" "$RUN/pregen" \
  $PY pregenerate_training_data.py --train_corpus "$CORPUS" --bert_model "$RUN/nezha" --output_dir "$RUN/pregen" \
    --max_seq_len $SEQ --epochs_to_generate 1 --do_whole_word_mask --chinese_wwm --num_workers 2 --no_progress
step "c2. general distillation" "$RUN/general_student" \
  $PY general_distill.py --pregenerated_data "$RUN/pregen" --teacher_model "$RUN/nezha" \
    --student_model "$RUN/student_config" --output_dir "$RUN/general_student" --max_seq_length $SEQ \
    --train_batch_size $BATCH $ADAMW --learning_rate 1e-3 --max_steps $GD_STEPS --eval_step 0 --logging_steps 20

# d. NER task distillation: stage 1 (intermediate layers), stage 2 (per-token soft cross-entropy)
step "d1. NER distillation stage 1" "$RUN/td_stage1" \
  $PY -m tinybert ner-distill --teacher_model "$RUN/teacher_ner" --student_model "$RUN/general_student" \
    --data_dir "$NER" --output_dir "$RUN/td_stage1" --max_seq_length $SEQ --train_batch_size $BATCH \
    $ADAMW --learning_rate 1e-3 --max_steps $TD1_STEPS --eval_step 0 --logging_steps 20
step "d2. NER distillation stage 2" "$RUN/td_stage2" \
  $PY -m tinybert ner-distill --pred_distill --teacher_model "$RUN/teacher_ner" --student_model "$RUN/td_stage1" \
    --data_dir "$NER" --output_dir "$RUN/td_stage2" --max_seq_length $SEQ --train_batch_size $BATCH \
    $ADAMW --learning_rate 1e-3 --max_steps $TD2_STEPS --eval_step $EVAL --logging_steps 20

# e. baseline: the student's architecture trained on the same labels, no distillation, as many steps as stages 1+2
step "e. label-only student" "$RUN/label_only" \
  $PY -m tinybert ner --model "$RUN/student_config" --from_scratch --vocab "$RUN/vocab" --data_dir "$NER" \
    --output_dir "$RUN/label_only" --do_train --max_seq_length $SEQ --train_batch_size $BATCH \
    --learning_rate 1e-3 --max_steps $((TD1_STEPS + TD2_STEPS)) --eval_step $EVAL --logging_steps 20

echo; echo "== report"
$PY examples/demo_zh_report.py --data_dir "$NER" --output "$RUN/report.md" \
  "teacher (NEZHA $PRESET, pretrained here)=$RUN/teacher_ner" "TinyBERT-zh student (stage 1 + 2)=$RUN/td_stage2" \
  "label-only student (same size)=$RUN/label_only"
echo "ChnSentiCorp teacher: $(grep -E '^acc' "$RUN/teacher_cls/eval_results.txt" || true)"
echo
echo "stage wall times (s):"; cat "$TIMES"
echo "total: $(( $(date +%s) - T0 )) s"
